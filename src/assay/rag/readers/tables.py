"""Tables on a page: found from the geometry of their cells, read row by row.

Left to the column finder, a table's columns look like narrow text columns and come out one after
the other ("human base multi 98 2 95 5"). Here a table is a run of at least three rows, one below
the other, each with two or more short cells side by side, whose cells line up with those of the
row above (same left edge, right edge or centre). Each table becomes one :class:`Line` whose text
has a line per row with the cells separated by ``" | "``, so it is read whole, row by row, as one
paragraph wherever the table stands.
"""

from __future__ import annotations

import itertools

from assay.rag.readers.layout import Line

CELL_SEPARATOR = " | "
_MAX_CELL_CHARS = 28
_MAX_CELL_WORDS = 4
_MIN_ROWS = 3
_CELL_GAP = 0.8  # ems between two runs of one line that make them separate cells
_ALIGN = 2.5  # points within which two cell edges count as aligned


def _is_cell(line: Line) -> bool:
    text = line.text.strip()
    return 0 < len(text) <= _MAX_CELL_CHARS and len(text.split()) <= _MAX_CELL_WORDS


def _rows(lines: list[Line]) -> list[list[Line]]:
    """Lines grouped by shared baseline, top to bottom, each row left to right."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: ln.base):
        if rows and ln.base - rows[-1][0].base <= 0.35 * max(rows[-1][0].size, 1.0):
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [sorted(row, key=lambda ln: ln.x0) for row in rows]


def _cell_runs(row: list[Line]) -> list[list[Line]]:
    """Maximal runs of two or more adjacent short lines in a row (a prose line ends a run)."""
    runs: list[list[Line]] = []
    current: list[Line] = []
    for ln in row:
        if _is_cell(ln):
            current.append(ln)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = []
    if len(current) >= 2:
        runs.append(current)
    return runs


def _aligned(a: list[Line], b: list[Line]) -> int:
    """How many cells of ``b`` line up with a cell of ``a``."""
    count = 0
    for cell in b:
        for other in a:
            if (
                abs(cell.x0 - other.x0) <= _ALIGN
                or abs(cell.x1 - other.x1) <= _ALIGN
                or abs((cell.x0 + cell.x1) - (other.x0 + other.x1)) <= 2 * _ALIGN
            ):
                count += 1
                break
    return count


def _overlap(a: list[Line], b: list[Line]) -> float:
    lo, hi = max(a[0].x0, b[0].x0), min(a[-1].x1, b[-1].x1)
    width = min(a[-1].x1 - a[0].x0, b[-1].x1 - b[0].x0)
    return (hi - lo) / width if width > 0 else 0.0


def _cells(line: Line) -> list[Line]:
    """A line cut where its runs are further apart than a word space (cells of one table row)."""
    boxes = sorted(line.boxes, key=lambda b: b.x0)
    groups = [[boxes[0]]]
    for a, b in itertools.pairwise(boxes):
        if b.x0 - a.x1 > _CELL_GAP * max(line.size, 1.0):
            groups.append([])
        groups[-1].append(b)
    if len(groups) == 1:
        return [line]
    cells = []
    for group in groups:
        cell = Line(group[0].x0, group[0].top, group[0].x1, group[0].bottom, [])
        for box in group:
            cell.add(box)
        cells.append(cell.finish())
    return cells


def find_tables(lines: list[Line]) -> tuple[list[Line], list[Line]]:
    """The page's lines outside tables, and one line per table found (text a row per line)."""
    candidates = [run for row in _rows(lines) for run in _cell_runs(_flatten(row))]
    tables: list[list[list[Line]]] = []
    for run in candidates:
        for table in tables:
            last = table[-1]
            gap = run[0].top - max(ln.bottom for ln in last)
            height = max(ln.height for ln in last)
            if (
                0 <= gap <= 2.5 * height
                and _overlap(last, run) >= 0.5
                and _aligned(last, run) >= min(2, len(run))
            ):
                table.append(run)
                break
        else:
            tables.append([run])
    boxes = [_bbox(t) for t in tables if len(t) >= _MIN_ROWS and _tabular(t)]
    if not boxes:
        return lines, []
    # Every line inside a table's box belongs to it: a header over two columns, a longer label.
    members: list[list[Line]] = [[] for _ in boxes]
    rest: list[Line] = []
    for ln in lines:
        home = next((k for k, b in enumerate(boxes) if _inside(ln, b)), None)
        (rest if home is None else members[home]).append(ln)
    return rest, [_table_line(m) for m in members if m]


def _tabular(table: list[list[Line]]) -> bool:
    """Three columns somewhere, or figures in the cells: two short columns of words without any
    number are as often an author block or a figure's labels."""
    cells = [c for row in table for c in row]
    numeric = sum(any(ch.isdigit() for ch in c.text) for c in cells)
    return max(len(row) for row in table) >= 3 or numeric >= 0.25 * len(cells)


def _flatten(row: list[Line]) -> list[Line]:
    return [cell for ln in row for cell in _cells(ln)]


def _bbox(table: list[list[Line]]) -> tuple[float, float, float, float]:
    cells = [ln for row in table for ln in row]
    return (
        min(c.x0 for c in cells),
        min(c.top for c in cells),
        max(c.x1 for c in cells),
        max(c.bottom for c in cells),
    )


def _inside(line: Line, box: tuple[float, float, float, float]) -> bool:
    x0, top, x1, bottom = box
    return line.x0 >= x0 - _ALIGN and line.x1 <= x1 + _ALIGN and top <= line.center_y <= bottom


def _table_line(cells: list[Line]) -> Line:
    rows = _rows(cells)
    line = Line(
        min(c.x0 for c in cells),
        min(c.top for c in cells),
        max(c.x1 for c in cells),
        max(c.bottom for c in cells),
        [b for c in cells for b in c.boxes],
    )
    line.text = "\n".join(CELL_SEPARATOR.join(c.text for c in _flatten(row)) for row in rows)
    line.size = rows[0][0].size
    line.base = line.bottom
    line.table = True
    return line


__all__ = ["CELL_SEPARATOR", "find_tables"]
