"""A parse-quality report per document: what a person should know before trusting its chunks."""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from assay.rag.document import ParsedDocument

SHORT_PAGE_CHARS = 200
ODD_RATIO_WARN = 0.05
_PUNCT_OK = frozenset(".,;:!?'\"()[]{}-–—/\\%&*+=<>@#$_|~^`’‘“”…•·°±×÷§¶†‡©®™€£¥")


@dataclass
class QualityReport:
    n_chars: int
    n_pages: int
    empty_pages: list[int] = field(default_factory=list)
    short_pages: list[int] = field(default_factory=list)
    odd_ratio: float = 0.0
    replacement_chars: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.n_pages and self.empty_pages:
            if len(self.empty_pages) == self.n_pages:
                out.append(
                    "no page has text: probably a scanned PDF (run OCR first, e.g. ocrmypdf)"
                )
            else:
                out.append(
                    f"{len(self.empty_pages)} of {self.n_pages} pages have no text "
                    f"(pages {_ranges(self.empty_pages)}): probably scanned images"
                )
        if self.n_pages and len(self.short_pages) > max(1, self.n_pages // 4):
            out.append(
                f"{len(self.short_pages)} pages have under {SHORT_PAGE_CHARS} characters "
                f"(pages {_ranges(self.short_pages)})"
            )
        if self.odd_ratio > ODD_RATIO_WARN:
            out.append(
                f"{self.odd_ratio:.0%} of characters are unusual (symbols, private-use or control "
                "characters): the text layer may be garbled"
            )
        if self.replacement_chars:
            out.append(f"{self.replacement_chars} undecodable characters (shown as \ufffd)")
        if not self.n_chars:
            out.append("no text at all")
        return out

    @property
    def ok(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = self.warnings
        return data

    def summary(self) -> str:
        parts = [f"{self.n_pages} pages" if self.n_pages else "", f"{self.n_chars:,} chars"]
        return ", ".join(p for p in parts if p)


def _ranges(pages: list[int]) -> str:
    out: list[str] = []
    start = prev = pages[0]
    for p in [*pages[1:], None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if p is not None:
            start = prev = p
    return ", ".join(out[:8]) + (", ..." if len(out) > 8 else "")


def odd_character_ratio(text: str) -> float:
    """Share of non-space characters that are neither letters, digits, nor common punctuation."""
    total = odd = 0
    for ch in text:
        if ch.isspace():
            continue
        total += 1
        if ch.isalnum() or ch in _PUNCT_OK:
            continue
        cat = unicodedata.category(ch)
        if cat in ("Co", "Cc", "Cs", "Cn", "So") or ch == "\ufffd":
            odd += 1
    return odd / total if total else 0.0


def assess(doc: ParsedDocument) -> QualityReport:
    pages = doc.page_texts()
    report = QualityReport(
        n_chars=len(doc.text.strip()),
        n_pages=len(pages),
        odd_ratio=round(odd_character_ratio(doc.text), 4),
        replacement_chars=doc.text.count("\ufffd"),
        notes=list(doc.notes),
    )
    for i, page in enumerate(pages, start=1):
        n = len(page.strip())
        if n == 0:
            report.empty_pages.append(i)
        elif n < SHORT_PAGE_CHARS:
            report.short_pages.append(i)
    return report


__all__ = ["QualityReport", "assess", "odd_character_ratio"]
