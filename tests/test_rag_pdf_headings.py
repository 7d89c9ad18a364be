"""Heading detection over a whole document, on hand-made lines (styles the shared papers lack)."""

from __future__ import annotations

from assay.rag.readers.headings import heading_flags
from assay.rag.readers.layout import Box, Line


def line(text: str, top: float, *, size: float = 10.0, bold: bool = False, x0: float = 72) -> Line:
    box = Box(x0, top, x0 + 6 * len(text), top + size, text, bold, size)
    return Line(box.x0, box.top, box.x1, box.bottom, [box]).finish()


def body(top: float, n: int) -> list[Line]:
    return [line(f"plain body text of the paper, line {i} goes on", top + 12 * i) for i in range(n)]


def titles(blocks: list[list[Line]]) -> list[str]:
    flags = heading_flags(blocks, 10.0)
    return [
        ln.text
        for block, fl in zip(blocks, flags, strict=True)
        for ln, f in zip(block, fl, strict=True)
        if f
    ]


def test_plain_numbered_headings_found_by_their_rising_numbers() -> None:
    """No bold and no larger font: numbered lines in a shared style whose numbers go up."""
    blocks = [
        [line("1 Introduction", 0, size=10.4), *body(12, 8)],
        [line("2 Method", 200, size=10.4), *body(212, 8)],
        [line("2.1 Corpus Design", 400, size=10.4), *body(412, 8)],
        [line("3 Results", 600, size=10.4), *body(612, 8)],
    ]
    assert titles(blocks) == ["1 Introduction", "2 Method", "2.1 Corpus Design", "3 Results"]


def test_appendix_after_references_is_its_own_section() -> None:
    refs = [
        line(f"Author {i}, B. Other. 2019. A paper title in a venue.", 100 + 12 * i)
        for i in range(6)
    ]
    blocks = [
        [line("1 Introduction", 0, bold=True, size=12), *body(14, 4)],
        [line("References", 80, bold=True, size=12), *refs],
        [line("A Proofs of the Main Results", 300), *body(312, 4)],
        [line("Appendix B More Tables", 400), *body(412, 4)],
    ]
    assert titles(blocks) == [
        "1 Introduction",
        "References",
        "A Proofs of the Main Results",
        "Appendix B More Tables",
    ]
