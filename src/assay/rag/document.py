"""What a reader produces: one document's text with its pages, headings and metadata."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Heading:
    """A section heading that starts at character ``start`` of the document text."""

    start: int
    title: str


@dataclass
class ParsedDocument:
    """Text of one document. Paragraphs are separated by a blank line.

    ``pages`` holds, for paged formats (PDF), the ``[start, end)`` character range of each page in
    ``text``, page 1 first; it is empty for formats without pages. Offsets everywhere are indices into
    ``text``, which is stored with the document so an anchor can always be resolved.
    """

    text: str
    kind: str
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    doi: str | None = None
    pages: list[tuple[int, int]] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n_pages(self) -> int:
        return len(self.pages)

    def page_texts(self) -> list[str]:
        return [self.text[a:b] for a, b in self.pages]

    def pages_for(self, start: int, end: int) -> tuple[int | None, int | None]:
        """First and last (1-based) page that the character range ``[start, end)`` touches."""
        if not self.pages:
            return None, None
        starts = [a for a, _ in self.pages]
        first = max(0, bisect.bisect_right(starts, start) - 1)
        last = max(first, bisect.bisect_right(starts, max(start, end - 1)) - 1)
        return first + 1, last + 1

    def heading_at(self, offset: int) -> str | None:
        """The title of the last heading starting at or before ``offset``."""
        starts = [h.start for h in self.headings]
        i = bisect.bisect_right(starts, offset) - 1
        return self.headings[i].title if i >= 0 else None


__all__ = ["Heading", "ParsedDocument"]
