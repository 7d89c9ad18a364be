"""Which lines of a paper are section headings, decided over the whole document.

A line is a heading when it reads like one and looks like the document's other headings:

* a named section ("Introduction", "References") set in bold or in a heading style;
* a numbered one ("3.2 Results", "A.1 Data", "Appendix B Proofs") in bold or a larger font, or in
  the style of the document's other numbered headings, or (when no line is bold or larger) in a
  style shared by a run of numbered lines whose numbers go up;
* an unnumbered line wholly in a heading style found above ("Human Evaluation" set like
  "3.1 Corpus") that starts at a column's margin, which catches unnumbered subsections;
* after the references, an appendix label ("A Proofs", "Appendix C"), so the appendices are not
  filed under "References".

A heading that wraps onto a second line of its own style is joined into one line.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

from assay.rag.readers.layout import Line

NAMED_HEADINGS = frozenset(
    {
        "abstract",
        "introduction",
        "related work",
        "background",
        "method",
        "methods",
        "methodology",
        "materials and methods",
        "approach",
        "model",
        "data",
        "dataset",
        "experiments",
        "experimental setup",
        "evaluation",
        "results",
        "analysis",
        "discussion",
        "results and discussion",
        "conclusion",
        "conclusions",
        "future work",
        "limitations",
        "ethics statement",
        "ethical considerations",
        "broader impact",
        "acknowledgments",
        "acknowledgements",
        "acknowledgment",
        "acknowledgement",
        "references",
        "bibliography",
        "appendix",
        "appendices",
        "summary",
        "statement of need",
        "supplementary material",
    }
)
_REFERENCES = frozenset({"references", "bibliography"})
_NUMBER = (
    r"(?:\d{1,2}(?:\.\d{1,2}){0,3}\.?|[A-Z](?:\.\d{1,2}){1,3}\.?|[A-H]\.?|Appendix\s+[A-Z]\.?:?)"
)
_NUMBERED = re.compile(rf"^({_NUMBER})\s+([A-Z][^!?]{{0,80}})$")
_APPENDIX = re.compile(r"^(?:Appendix\s+[A-Z]\b|[A-Z](?:\.\d{1,2}){0,3}\.?\s+[A-Z])")
_NUMBER_PREFIX = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2}){0,3}|[A-H](?:\.\d{1,2}){0,3})\.?\s+")
_CAPTION = re.compile(r"^(?:Fig(?:ure)?|Table|Algorithm|Listing|Example)\.?\s*\d", re.I)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_SIZE_TOLERANCE = 0.04  # two lines set in one style differ by less than this in font size


@dataclass(frozen=True)
class _Style:
    bold: bool
    size: float

    def matches(self, line: Line) -> bool:
        return line.bold == self.bold and abs(line.size - self.size) <= _SIZE_TOLERANCE * self.size


def _plain(line: Line) -> str:
    return line.text.strip()


def _named(text: str) -> bool:
    bare = _NUMBER_PREFIX.sub("", text)
    return (
        bare[:1].isupper()
        and not text.endswith(".")
        and bare.lower().rstrip(": ") in NAMED_HEADINGS
    )


def _numbered(text: str) -> re.Match[str] | None:
    m = _NUMBERED.match(text)
    if m is None or text.endswith((".", ",", ";", ":", "-", "\x02")) or len(text.split()) > 12:
        return None
    return m


def _wholly_bold(line: Line) -> bool:
    return all(b.bold for b in line.boxes if b.text.strip())


def _title_like(text: str) -> bool:
    words = text.split()
    return (
        1 <= len(words) <= 8
        and text[:1].isupper()
        and sum(c.isalpha() for c in text) >= 4
        and not text.endswith((".", ",", ";", ":", "-", "\x02"))
        and not _YEAR.search(text)
    )


def _top_number(match: re.Match[str]) -> str:
    return re.split(r"[.\s]", match.group(1).replace("Appendix", "").strip())[0]


def heading_flags(blocks: list[list[Line]], body: float) -> list[list[bool]]:
    """For each line of each block (the whole document in reading order), whether it is a heading."""
    lines = [ln for block in blocks for ln in block]
    styles = _heading_styles(lines, body)
    starts = Counter(round(ln.x0 / 2) for ln in lines)
    margins = {x for x, n in starts.items() if n >= 0.05 * len(lines)}
    flags: list[list[bool]] = []
    after_references = started = False
    for block in blocks:
        row: list[bool] = []
        for ln in block:
            text = _plain(ln)
            at_margin = any(abs(round(ln.x0 / 2) - x) <= 1 for x in margins)
            heading = _is_heading(ln, text, body, styles, after_references, started and at_margin)
            started = started or heading
            if heading and _NUMBER_PREFIX.sub("", text).lower().rstrip(": ") in _REFERENCES:
                after_references = True  # what follows the references is appendices
            row.append(heading)
        flags.append(row)
    return flags


def _is_heading(
    ln: Line, text: str, body: float, styles: list[_Style], after_references: bool, started: bool
) -> bool:
    if not text or len(text) > 90:
        return False
    styled = any(s.matches(ln) for s in styles)
    if _named(text):
        return ln.bold or styled or not styles
    if after_references and _APPENDIX.match(text) and _title_like(text) and "," not in text:
        return ln.size >= 0.97 * body
    if _numbered(text):
        return ln.bold or ln.size > 1.2 * body or styled
    # An unnumbered line in a heading style: only once the sections have begun (not the author
    # block) and at a column's left margin (not centred in a table or figure), not a caption, and
    # not a table's header row (cells apart by wide gaps).
    return (
        started
        and styled
        and _wholly_bold(ln) == ln.bold
        and _title_like(text)
        and ln.size >= body
        and not _CAPTION.match(text)
        and not _has_wide_gap(ln)
    )


def _has_wide_gap(line: Line) -> bool:
    boxes = sorted((b for b in line.boxes if b.text.strip()), key=lambda b: b.x0)
    return any(b.x0 - a.x1 > 1.5 * line.size for a, b in itertools.pairwise(boxes))


def _heading_styles(lines: list[Line], body: float) -> list[_Style]:
    """The styles of lines that are certainly headings: numbered or named, in bold or larger type.

    Without any, the style shared by a run of at least three numbered lines whose top-level numbers
    go up ("1 ...", "2 ...", "2.1 ...", "3 ...") in a document with no bold or larger headings.
    """
    styles: list[_Style] = []
    seen: dict[_Style, set[str]] = {}

    def add(ln: Line) -> None:
        # A bold style counts at once; a larger plain one (a figure's axis label is one too) only
        # once two different headings use it.
        style = next((s for s in seen if s.matches(ln)), _Style(ln.bold, ln.size))
        seen.setdefault(style, set()).add(_plain(ln))
        if style not in styles and (ln.bold or len(seen[style]) >= 2):
            styles.append(style)

    numbered: list[tuple[Line, str]] = []
    for ln in lines:
        text = _plain(ln)
        m = _numbered(text)
        strong = ln.bold or ln.size > 1.2 * body
        if m is not None and ln.size >= 0.97 * body:
            numbered.append((ln, _top_number(m)))
            if strong:
                add(ln)
        elif strong and _named(text) and _wholly_bold(ln) == ln.bold:
            add(ln)
    if styles:
        return styles
    for ln, _number in numbered:
        same = [n for other, n in numbered if _Style(ln.bold, ln.size).matches(other)]
        rising = sum(_order(b) > _order(a) for a, b in itertools.pairwise(same))
        if len(same) >= 3 and rising >= 2 and rising >= 0.6 * (len(same) - 1):
            add(ln)
    return styles


def _order(number: str) -> int:
    return int(number) if number.isdigit() else 100 + ord(number[0])


def merge_wrapped_headings(block: list[Line], flags: list[bool]) -> tuple[list[Line], list[bool]]:
    """Join a heading with the next line when that line continues it in the same style."""
    out: list[Line] = []
    out_flags: list[bool] = []
    for ln, flag in zip(block, flags, strict=True):
        prev = out[-1] if out else None
        if (
            prev is not None
            and out_flags[-1]
            and not _numbered(_plain(ln))
            and not _named(_plain(ln))
            and ln.bold == prev.bold
            and abs(ln.size - prev.size) <= _SIZE_TOLERANCE * prev.size
            and 0 <= ln.top - prev.bottom < prev.height
            and len(prev.text) + len(ln.text) < 90
            and _title_like(_plain(ln))
        ):
            merged = Line(prev.x0, prev.top, max(prev.x1, ln.x1), ln.bottom, prev.boxes + ln.boxes)
            merged.text, merged.bold, merged.size, merged.base = (
                f"{prev.text} {ln.text}",
                prev.bold,
                prev.size,
                prev.base,
            )
            out[-1] = merged
            continue
        out.append(ln)
        out_flags.append(flag)
    return out, out_flags


__all__ = ["NAMED_HEADINGS", "heading_flags", "merge_wrapped_headings"]
