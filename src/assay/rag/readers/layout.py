"""Page geometry → lines in reading order → paragraphs. No PDF library in here, only boxes.

Coordinates are PDF points with ``top`` growing downwards. The reading order is found by cutting the
page at a vertical gutter that (almost) no line crosses: lines wholly left of it are one column, lines
wholly right the other, and lines that span both (a title, a full-width table caption) separate the
page into bands read top to bottom. Each column is cut again the same way, so three columns or a
margin note beside a single column also come out in order. A narrow side column (a licence box in
the margin) is read after the main one.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median

import numpy as np


@dataclass
class Box:
    """One run of text as the PDF library reports it."""

    x0: float
    top: float
    x1: float
    bottom: float
    text: str
    bold: bool = False
    size: float = 0.0  # font size proxy (line height of the font); 0 when unknown

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 0.1)

    @property
    def font_size(self) -> float:
        return self.size if self.size > 0 else self.height


@dataclass
class Line:
    x0: float
    top: float
    x1: float
    bottom: float
    boxes: list[Box] = field(default_factory=list)
    text: str = ""
    bold: bool = False
    size: float = 0.0  # font size of the line's main text, ignoring super- and subscripts
    base: float = 0.0  # the baseline (bottom) of the line's main text
    table: bool = False  # a whole table, its rows on lines of their own

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 0.1)

    @property
    def center_y(self) -> float:
        return (self.top + self.bottom) / 2

    def add(self, box: Box) -> None:
        self.boxes.append(box)
        self.x0 = min(self.x0, box.x0)
        self.x1 = max(self.x1, box.x1)
        self.top = min(self.top, box.top)
        self.bottom = max(self.bottom, box.bottom)

    def finish(self) -> Line:
        self.boxes.sort(key=lambda b: b.x0)
        word_gap = _letter_spacing(self.boxes)
        parts: list[str] = []
        prev: Box | None = None
        for box in self.boxes:
            piece = box.text
            if piece.strip() == "\x02" and parts:
                parts[-1] = parts[-1].rstrip()  # a line-end hyphen reported as its own run
            elif prev is not None and parts:
                gap = box.x0 - prev.x1
                if word_gap is not None:
                    if gap > word_gap:
                        piece = " " + piece.lstrip()
                elif gap > 0.12 * min(prev.height, box.height) and not parts[-1].endswith(" "):
                    piece = " " + piece.lstrip()
            parts.append(piece)
            prev = box
        self.text = re.sub(r"[ \t]+", " ", "".join(parts)).strip()
        letters = sum(len(b.text.strip()) for b in self.boxes) or 1
        self.bold = sum(len(b.text.strip()) for b in self.boxes if b.bold) / letters >= 0.6
        self.size = _weighted_median([(b.font_size, len(b.text.strip())) for b in self.boxes])
        self.base = _weighted_median([(b.bottom, len(b.text.strip())) for b in self.boxes])
        return self


def _letter_spacing(boxes: list[Box]) -> float | None:
    """For a line drawn a letter at a time with space between the letters ("F i g u r e 3"), the
    gap above which two letters belong to different words; None for an ordinary line."""
    letters = [b for b in boxes if b.text.strip()]
    single = sum(len(b.text.strip()) == 1 and b.text.strip().isalpha() for b in letters)
    if len(letters) < 4 or single < 0.8 * len(letters):
        return None
    gaps = sorted(b.x0 - a.x1 for a, b in itertools.pairwise(letters))
    spacing = gaps[len(gaps) // 2]  # most gaps are between letters of one word
    height = median(b.height for b in letters)
    # Letter spacing is even and visible; a formula's symbols sit at uneven gaps.
    if spacing <= 0.12 * height or gaps[len(gaps) // 4] < 0.6 * spacing:
        return None
    return max(1.8 * spacing, spacing + 0.15 * height)


def _weighted_median(pairs: list[tuple[float, int]]) -> float:
    pairs = sorted(pairs)
    half, acc = sum(w for _, w in pairs) / 2, 0
    for value, weight in pairs:
        acc += weight
        if acc >= half:
            return value
    return pairs[-1][0] if pairs else 0.0


def sort_rows(lines: list[Line]) -> list[Line]:
    """Top to bottom by baseline; lines sharing a baseline left to right."""
    out: list[Line] = []
    row: list[Line] = []
    for ln in sorted(lines, key=lambda ln: ln.base):
        if row and ln.base - row[0].base > 0.3 * max(row[0].size, 1.0):
            out.extend(sorted(row, key=lambda r: r.x0))
            row = []
        row.append(ln)
    out.extend(sorted(row, key=lambda r: r.x0))
    return out


def build_lines(boxes: Iterable[Box]) -> list[Line]:
    """Merge boxes that sit on the same baseline and touch horizontally into lines."""
    items = sorted(
        (b for b in boxes if b.text.strip()), key=lambda b: ((b.top + b.bottom) / 2, b.x0)
    )
    items = _drop_duplicates(items)
    lines: list[Line] = []
    for box in items:
        target = None
        for line in reversed(lines[-40:]):
            if _joinable(line, box):
                target = line
                break
        if target is None:
            lines.append(Line(box.x0, box.top, box.x1, box.bottom, [box]))
        else:
            target.add(box)
    # Superscripts seed lines of their own; merge pieces of one row that ended up apart.
    merged: list[Line] = []
    for line in sorted(lines, key=lambda ln: ln.x0):
        for other in reversed(merged[-60:]):
            if _joinable(other, line):
                for box in line.boxes:
                    other.add(box)
                break
        else:
            merged.append(line)
    return [line.finish() for line in merged if line.boxes]


def _joinable(line: Line | Box, item: Line | Box) -> bool:
    """Same row (vertical overlap) and horizontally adjacent (a word gap, not a column gutter)."""
    overlap = min(line.bottom, item.bottom) - max(line.top, item.top)
    if overlap < 0.5 * min(line.height, item.height):
        return False
    gap = max(item.x0 - line.x1, line.x0 - item.x1)
    return gap <= min(0.9 * max(_size(line), _size(item)), 12.0)


def _size(item: Line | Box) -> float:
    if isinstance(item, Box):
        return item.font_size
    return max((b.font_size for b in item.boxes), default=item.height)


def _drop_duplicates(boxes: list[Box]) -> list[Box]:
    """PDF libraries sometimes report one glyph run twice (overlapping boxes, same text)."""
    out: list[Box] = []
    for box in boxes:
        dup = False
        for other in out[-6:]:
            if other.text.strip() == box.text.strip():
                ox = min(other.x1, box.x1) - max(other.x0, box.x0)
                oy = min(other.bottom, box.bottom) - max(other.top, box.top)
                if ox > 0 and oy > 0 and ox * oy >= 0.3 * (box.x1 - box.x0) * box.height:
                    dup = True
                    break
        if not dup:
            out.append(box)
    return out


# -- reading order ---------------------------------------------------------------------------------


def find_gutter(lines: list[Line]) -> float | None:
    """The x of a vertical gap that separates the lines into a left and a right group, if any."""
    n = len(lines)
    if n < 6:
        return None
    x0 = np.array([ln.x0 for ln in lines])
    x1 = np.array([ln.x1 for ln in lines])
    lo, hi = float(x0.min()), float(x1.max())
    width = hi - lo
    if width < 80:
        return None
    xs = np.arange(lo + 0.08 * width, hi - 0.08 * width, 1.0)
    if xs.size == 0:
        return None
    crossing = ((x0[:, None] < xs - 0.5) & (x1[:, None] > xs + 0.5)).sum(axis=0)
    left = (x1[:, None] <= xs + 0.5).sum(axis=0)
    right = (x0[:, None] >= xs - 0.5).sum(axis=0)
    need = max(3, int(0.1 * n))
    ok = (crossing <= max(1, int(0.15 * n))) & (left >= need) & (right >= need)
    center = (lo + hi) / 2
    candidates: list[tuple[int, float, float, float]] = []  # (crossings, -width, off-centre, x)
    i = 0
    while i < xs.size:
        if not ok[i]:
            i += 1
            continue
        j = i
        while j + 1 < xs.size and ok[j + 1]:
            j += 1
        run = crossing[i : j + 1]
        run_min = int(run.min())
        at = np.flatnonzero(run == run_min)
        run_width = float(at[-1] - at[0] + 1)
        if run_width >= 4.0:
            mid = float(xs[i + (at[0] + at[-1]) // 2])
            candidates.append((run_min, -run_width, abs(mid - center), mid))
        i = j + 1
    return min(candidates)[3] if candidates else None


def reading_order(lines: list[Line], depth: int = 0) -> list[list[Line]]:
    """Blocks of lines (a column in a band, or a full-width run) in the order a person reads them."""
    if not lines:
        return []
    by_y = sort_rows(lines)
    gutter = find_gutter(lines) if depth < 6 else None
    if gutter is None:
        # No gutter across the whole region (a full-width table above two columns, say): cut it
        # into horizontal bands at empty strips and look for a gutter in each band.
        bands = _horizontal_bands(by_y) if depth < 6 else [by_y]
        if len(bands) == 1:
            return [by_y]
        return [block for band in bands for block in reading_order(band, depth + 1)]
    lefts = [ln for ln in lines if ln.x1 <= gutter]
    rights = [ln for ln in lines if ln.x0 >= gutter]
    if not lefts or not rights:
        return [by_y]
    left_lo = min(ln.x0 for ln in lefts)
    right_hi = max(ln.x1 for ln in rights)
    spanning: list[Line] = []
    for ln in lines:
        if ln.x1 <= gutter or ln.x0 >= gutter:
            continue
        covers_left = (gutter - ln.x0) >= 0.3 * (gutter - left_lo)
        covers_right = (ln.x1 - gutter) >= 0.3 * (right_hi - gutter)
        if covers_left and covers_right:
            spanning.append(ln)
        elif gutter - ln.x0 >= ln.x1 - gutter:
            lefts.append(ln)
        else:
            rights.append(ln)
    if not lefts or not rights:
        return [by_y]
    spanning.sort(key=lambda ln: ln.top)
    left_w = max(ln.x1 for ln in lefts) - left_lo
    right_w = right_hi - min(ln.x0 for ln in rights)
    total = right_hi - left_lo
    # A narrow left margin column beside a wide main one: read the main column first.
    sidebar_first = left_w < 0.35 * total and right_w > 0.55 * total
    span_centers = [s.center_y for s in spanning]

    def band_of(ln: Line) -> int:
        return sum(1 for c in span_centers if c < ln.center_y)

    blocks: list[list[Line]] = []
    for band in range(len(spanning) + 1):
        band_left = [ln for ln in lefts if band_of(ln) == band]
        band_right = [ln for ln in rights if band_of(ln) == band]
        for sub_left, sub_right in _split_on_wide_gaps(band_left, band_right):
            first, second = (sub_right, sub_left) if sidebar_first else (sub_left, sub_right)
            blocks.extend(reading_order(first, depth + 1))
            blocks.extend(reading_order(second, depth + 1))
        if band < len(spanning):
            blocks.append([spanning[band]])
    return [b for b in blocks if b]


def _horizontal_bands(lines: list[Line]) -> list[list[Line]]:
    """Split at every empty horizontal strip taller than most line gaps."""
    ordered = sorted(lines, key=lambda ln: ln.top)
    h = median(ln.height for ln in ordered)
    bands: list[list[Line]] = [[ordered[0]]]
    reach = ordered[0].bottom
    for ln in ordered[1:]:
        if ln.top - reach > 0.8 * h:
            bands.append([])
        bands[-1].append(ln)
        reach = max(reach, ln.bottom)
    return bands


def _split_on_wide_gaps(
    lefts: list[Line], rights: list[Line]
) -> list[tuple[list[Line], list[Line]]]:
    """Cut a band where a tall empty strip runs across both columns (author block / body)."""
    both = sorted(lefts + rights, key=lambda ln: ln.top)
    if len(both) < 2:
        return [(lefts, rights)]
    h = median(ln.height for ln in both)
    cuts: list[float] = []
    reach = both[0].bottom
    for ln in both[1:]:
        if ln.top - reach > 2.2 * h:
            cuts.append((ln.top + reach) / 2)
        reach = max(reach, ln.bottom)
    if not cuts:
        return [(lefts, rights)]
    edges = [-1e9, *cuts, 1e9]
    out = []
    for a, b in itertools.pairwise(edges):
        out.append(
            (
                [ln for ln in lefts if a <= ln.center_y < b],
                [ln for ln in rights if a <= ln.center_y < b],
            )
        )
    return out


# -- paragraphs -----------------------------------------------------------------------------------


def split_paragraphs(block: list[Line], is_heading: list[bool]) -> list[list[int]]:
    """Indices of ``block`` grouped into paragraphs, using vertical gaps, indents and headings."""
    if not block:
        return []
    h = median(ln.height for ln in block)
    size = median(ln.size for ln in block)
    gaps = [block[i].top - block[i - 1].bottom for i in range(1, len(block))]
    typical = median([g for g in gaps if g >= -0.2 * h] or [0.0])
    left = float(np.percentile([ln.x0 for ln in block], 20))
    right = float(np.percentile([ln.x1 for ln in block], 80))
    paras: list[list[int]] = [[0]]
    for i in range(1, len(block)):
        prev, cur = block[i - 1], block[i]
        gap = cur.top - prev.bottom
        prev_ends = prev.text.rstrip().endswith((".", ":", "!", "?", '"', "”", ")"))
        new = (
            is_heading[i]
            or is_heading[i - 1]
            or gap > typical + 0.6 * h
            or gap < -1.5 * h
            or (prev_ends and cur.x0 - left > 0.6 * h and prev.x0 - left < 0.6 * h)
            or (prev_ends and prev.x1 < right - 3 * h)
            or (abs(cur.size - prev.size) > 0.15 * size and gap > typical + 0.15 * h)
        )
        if new:
            paras.append([i])
        else:
            paras[-1].append(i)
    return paras


# -- running headers and footers -------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(r"^\W*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\W*$", re.I)


def _key(text: str) -> str:
    """Text with digits masked and leading/trailing numbers and punctuation dropped, so a footer
    matches itself whether or not the page number was merged into its line."""
    key = _DIGITS.sub("#", re.sub(r"\s+", " ", text.strip().lower()))
    return re.sub(r"^[\W#]+|[\W#]+$", "", key) or key


def find_running_lines(pages: list[list[Line]], per_side: int = 3) -> list[set[int]]:
    """For each page, the indices of lines that are running headers/footers or page numbers.

    Candidates are the ``per_side`` topmost and bottommost lines of each page; one is dropped when
    the same text (digits ignored) is at the top or bottom of at least half the pages (and two), or
    when it is a bare page number on a page of a document where most pages have one.
    """
    n_pages = len(pages)
    cands: list[list[int]] = []
    counts: Counter[str] = Counter()
    for lines in pages:
        order = sorted(range(len(lines)), key=lambda i: lines[i].top)
        picked = list(dict.fromkeys(order[:per_side] + order[-per_side:]))
        cands.append(picked)
        counts.update({_key(lines[i].text) for i in picked})
    need = max(2, (n_pages + 1) // 2)
    numbered = sum(
        1
        for lines, picked in zip(pages, cands, strict=True)
        if any(_PAGE_NUMBER.match(lines[i].text) for i in picked)
    )
    out: list[set[int]] = []
    for lines, picked in zip(pages, cands, strict=True):
        drop = set()
        for i in picked:
            text = lines[i].text
            if (counts[_key(text)] >= need and len(text.strip()) > 0) or (
                _PAGE_NUMBER.match(text) and numbered >= need
            ):
                drop.add(i)
        out.append(drop)
    return out


__all__ = [
    "Box",
    "Line",
    "build_lines",
    "find_gutter",
    "find_running_lines",
    "reading_order",
    "sort_rows",
    "split_paragraphs",
]
