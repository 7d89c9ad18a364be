"""PDF → :class:`ParsedDocument` with PDFium (``pypdfium2``).

PDFium reports text runs with their boxes; :mod:`.layout` turns them into lines in reading order
(two-column papers read column by column), running headers, footers and page numbers are dropped,
words hyphenated at line ends are joined, ligatures are expanded (including fonts that map the ``fi``
glyph to a bare ``f``), and title, authors and DOI come from the metadata or the first page.
"""

from __future__ import annotations

import re
from pathlib import Path
from statistics import median
from typing import Any

from assay.rag.document import Heading, ParsedDocument
from assay.rag.errors import DocumentError
from assay.rag.readers.headings import NAMED_HEADINGS, heading_flags, merge_wrapped_headings
from assay.rag.readers.layout import (
    Line,
    build_lines,
    find_running_lines,
    reading_order,
    split_paragraphs,
)
from assay.rag.readers.pdfium_runs import page_boxes
from assay.rag.readers.tables import find_tables
from assay.rag.textfix import (
    HYPHEN_MARK,
    Dehyphenator,
    apply_word_repairs,
    default_vocabulary,
    dropped_ligature_repairs,
    ends_with_hyphen,
    is_figure_debris,
    strip_controls,
)

DOI_RE = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>,;]+)", re.I)
_JUNK_TITLE = re.compile(
    r"^(untitled|microsoft (word|powerpoint)|title|document\d*|slide \d+|main|paper|article)\b"
    r"|\.(dvi|pdf|docx?|tex|ps)$",
    re.I,
)
_TERMINAL = (".", "!", "?", ":", '"', "”", ";")


def read_pdf(
    path: Path, data: bytes | None = None, vocabulary: frozenset[str] | None = None
) -> ParsedDocument:
    """Parse ``path`` (or its bytes ``data``); :class:`DocumentError` with a one-line reason if not."""
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:  # pragma: no cover - pypdfium2 is a core dependency of assay.rag
        raise DocumentError(
            f"{path.name}: reading PDFs needs the package 'pypdfium2'",
            hint="pip install pypdfium2",
        ) from exc
    try:
        pdf = pdfium.PdfDocument(data if data is not None else str(path))
    except pdfium.PdfiumError as exc:
        msg = str(exc).lower()
        if "password" in msg or "security" in msg:
            raise DocumentError(
                f"{path.name}: the PDF is encrypted and needs a password",
                hint="decrypt it first (for example: qpdf --decrypt in.pdf out.pdf)",
            ) from None
        raise DocumentError(
            f"{path.name}: not a readable PDF (corrupt or truncated: {exc})"
        ) from None
    try:
        return _parse(pdf, path, vocabulary if vocabulary is not None else default_vocabulary())
    finally:
        pdf.close()


def _title_lines(lines: list[Line], page_height: float) -> list[Line]:
    cands = [
        ln
        for ln in lines
        if ln.top < 0.5 * page_height
        and sum(c.isalpha() for c in ln.text) >= 3
        and (ln.x1 - ln.x0) > 2.5 * ln.height  # not rotated text in a figure
    ]
    if not cands:
        return []
    tallest = max(cands, key=lambda ln: ln.size)
    if tallest.size < 1.15 * median(ln.size for ln in lines):
        return []
    similar = sorted(
        (ln for ln in cands if abs(ln.size - tallest.size) <= 0.12 * tallest.size),
        key=lambda ln: ln.top,
    )
    group = [tallest]
    for ln in similar:  # extend downwards, then upwards, with adjacent lines of the same size
        if ln.top > group[-1].top and ln.top - group[-1].bottom < 1.0 * tallest.height:
            group.append(ln)
    for ln in reversed(similar):
        if ln.top < group[0].top and group[0].top - ln.bottom < 1.0 * tallest.height:
            group.insert(0, ln)
    return group


def _authors_from_page(lines: list[Line], title: list[Line]) -> list[str]:
    if not title:
        return []
    below = sorted((ln for ln in lines if ln.top > title[-1].bottom), key=lambda ln: ln.top)
    chunk: list[str] = []
    for ln in below:
        low = ln.text.lower().strip()
        if low.rstrip(":") in NAMED_HEADINGS or len(chunk) > 12:
            break
        if ln.bold and "@" not in ln.text and ":" not in ln.text:
            chunk.append(ln.text.rstrip(" ,") + ("" if re.search(r"\band$", ln.text) else ","))
    names: list[str] = []
    for part in re.split(r",|;|\band\b|\s{3,}", " ".join(chunk)):
        name = re.sub(r"[\d*†‡§¶∗⋆♠♣♢♡]+", " ", part)
        name = re.sub(r"\s+", " ", name).strip(" .")
        tokens = name.split()
        if 2 <= len(tokens) <= 5 and all(t[0].isupper() for t in tokens):
            names.append(name)
    return list(dict.fromkeys(names))


def _split_authors(value: str) -> list[str]:
    parts = re.split(r";|\band\b", value) if ";" in value or " and " in value else value.split(",")
    if ";" not in value and value.count(",") == 1 and " and " not in value:
        parts = [value]  # "Surname, Given"
    return [p.strip(" ,") for p in parts if p.strip(" ,")]


def _parse(pdf: Any, path: Path, vocabulary: frozenset[str]) -> ParsedDocument:
    n_pages = len(pdf)
    meta = {k: v for k, v in pdf.get_metadata_dict().items() if v}
    page_lines: list[list[Line]] = []
    heights: list[float] = []
    n_rotated = 0
    for i in range(n_pages):
        page = pdf[i]
        try:
            page_text = page_boxes(page)
        finally:
            page.close()
        page_lines.append(build_lines(page_text.boxes))
        heights.append(page_text.height)
        n_rotated += page_text.rotated
    running = find_running_lines(page_lines)
    n_running = sum(len(r) for r in running)
    running_text = " ".join(
        page_lines[p][i].text for p, idx in enumerate(running) for i in sorted(idx)
    )
    kept = [
        [ln for i, ln in enumerate(lines) if i not in drop]
        for lines, drop in zip(page_lines, running, strict=True)
    ]
    all_lines = [ln for lines in kept for ln in lines]
    body_height = median(ln.size for ln in all_lines) if all_lines else 10.0

    # Title, authors, DOI: metadata first, the first page otherwise.
    title_meta = meta.get("Title", "").strip()
    title_lines = _title_lines(kept[0], heights[0]) if kept and kept[0] else []
    title: str | None = title_meta if title_meta and not _JUNK_TITLE.search(title_meta) else None
    if title is None and title_lines:
        title = " ".join(strip_controls(ln.text) for ln in title_lines).strip() or None
    authors = _split_authors(meta["Author"]) if meta.get("Author") else []
    if not authors and kept and kept[0]:
        authors = _authors_from_page(kept[0], title_lines)
    first_page_raw = " ".join(ln.text for ln in page_lines[0]) if page_lines else ""
    doi = None
    for source in (meta.get("Subject", ""), meta.get("Keywords", ""), first_page_raw, running_text):
        m = DOI_RE.search(strip_controls(source))
        if m:
            doi = m.group(1).rstrip(".)]")
            break

    dehyphen = Dehyphenator((ln.text for ln in all_lines), vocabulary)
    page_blocks = [reading_order(_with_tables(lines)) for lines in kept]
    flags_iter = iter(heading_flags([b for blocks in page_blocks for b in blocks], body_height))
    page_paras: list[list[tuple[str, bool]]] = []  # (text, is_heading) per paragraph
    n_debris = 0
    for blocks in page_blocks:
        paras: list[tuple[str, bool]] = []
        for b, found in enumerate(blocks):
            block, flags = merge_wrapped_headings(found, next(flags_iter))
            flags = [f and not ln.table for f, ln in zip(flags, block, strict=True)]
            alone = [f or ln.table for f, ln in zip(flags, block, strict=True)]
            for p, idx in enumerate(split_paragraphs(block, alone)):
                text = block[idx[0]].text
                for i in idx[1:]:
                    text = dehyphen.join(text, block[i].text)
                heading = len(idx) == 1 and flags[idx[0]]
                if (
                    p == 0
                    and b > 0
                    and paras
                    and not heading
                    and not block[idx[0]].table
                    and not paras[-1][1]
                    and _continues(paras[-1][0], text)
                ):
                    paras[-1] = (dehyphen.join(paras[-1][0], text), False)
                elif not heading and not block[idx[0]].table and is_figure_debris(text):
                    n_debris += 1
                else:
                    paras.append((text, heading))
        page_paras.append(paras)

    # Words whose ligature glyph the font mapped to a bare "f" ("fnal"): repair when it is systematic.
    joined = "\n".join(t for paras in page_paras for t, _ in paras)
    repairs = dropped_ligature_repairs(joined, vocabulary)
    if len(repairs) < 3:
        repairs = {}

    page_texts: list[str] = []
    page_headings: list[list[tuple[int, str]]] = []
    for paras in page_paras:
        out: list[str] = []
        heads: list[tuple[int, str]] = []
        pos = 0
        for text, heading in paras:
            text = apply_word_repairs(text, repairs)
            text = (
                strip_controls(text)
                if not ends_with_hyphen(text)
                else (strip_controls(text[:-1]) + HYPHEN_MARK)
            )
            if heading:
                heads.append((pos, text.strip()))
            out.append(text)
            pos += len(text) + 2
        page_texts.append("\n\n".join(out))
        page_headings.append(heads)

    # One document text; a paragraph running across a page break is joined.
    parts: list[str] = []
    pages: list[tuple[int, int]] = []
    headings: list[Heading] = []
    offset = 0
    for i, text in enumerate(page_texts):
        if i > 0:
            prev = parts[-1] if parts else ""
            if prev.endswith(HYPHEN_MARK):
                # A word hyphenated across the page break.
                joins = bool(text) and text[0].islower()
                keep_hyphen = not joins or dehyphen.join(prev, text)[len(prev) - 1] == "-"
                fixed = prev[:-1] + ("-" if keep_hyphen else "")
                offset += len(fixed) - len(prev)
                parts[-1] = fixed
                pages[-1] = (pages[-1][0], offset)
                sep = "" if joins else "\n\n"
            elif prev and text and _continues(prev, text):
                sep = " "
            else:
                sep = "\n\n" if prev and text else ""
            parts.append(sep)
            offset += len(sep)
        if text.endswith(HYPHEN_MARK) and i == len(page_texts) - 1:
            text = text[:-1] + "-"
        start = offset
        parts.append(text)
        offset += len(text)
        pages.append((start, offset))
        headings.extend(Heading(start + pos, title) for pos, title in page_headings[i])
    full = "".join(parts).replace(HYPHEN_MARK, "-")

    notes = []
    if n_running:
        notes.append(f"removed {n_running} running header/footer/page-number lines")
    if repairs:
        notes.append(f"restored {len(repairs)} words whose fi/fl ligature the font dropped")
    if n_rotated or n_debris:
        notes.append(
            f"left out figure text: {n_rotated} rotated labels, {n_debris} paragraphs of "
            "scattered labels and numbers"
        )
    return ParsedDocument(
        text=full,
        kind="pdf",
        title=title,
        authors=authors,
        doi=doi,
        pages=pages,
        headings=headings,
        meta={
            "producer": meta.get("Producer"),
            "creator": meta.get("Creator"),
            "pdf_title": title_meta or None,
            "n_pages": n_pages,
            "running_lines_removed": n_running,
            "ligature_repairs": len(repairs),
            "figure_text_removed": n_rotated + n_debris,
        },
        notes=notes,
    )


def _with_tables(lines: list[Line]) -> list[Line]:
    """The page's lines with each table's lines replaced by one line that reads it row by row."""
    text_lines, tables = find_tables(lines)
    return text_lines + tables


def _continues(prev: str, nxt: str) -> bool:
    """Whether ``nxt`` reads as the continuation of the paragraph ``prev`` (a column or page break)."""
    prev = prev.rstrip()
    nxt = nxt.lstrip()
    if not prev or not nxt:
        return False
    if prev.endswith(HYPHEN_MARK) or prev.endswith("-"):
        return nxt[0].isalpha()
    return not prev.endswith(_TERMINAL) and (nxt[0].islower() or nxt[0] in "([")


__all__ = ["DOI_RE", "NAMED_HEADINGS", "read_pdf"]
