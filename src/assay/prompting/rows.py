"""Read rows of variables from a JSONL or CSV file, keeping each row's line number.

A row that cannot be read is returned with an ``error`` instead of being dropped, so callers can
report every bad line by number (and refuse, or skip them) before any model work starts.

- ``.jsonl`` / ``.ndjson`` / ``.json``: one JSON object per line; blank lines are ignored.
- ``.csv`` / ``.tsv``: a header row, then one row per record (quoted fields may span lines; a
  row's number is the line it starts on). Values are strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import UserError
from assay.tables import read_table

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv")


@dataclass(frozen=True)
class Row:
    line: int
    """The line of the input file the row starts on (1-based; in CSV the header is line 1)."""
    values: dict[str, Any] | None
    error: str | None = None


def read_rows(path: str | Path) -> list[Row]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in JSONL_SUFFIXES + CSV_SUFFIXES:
        raise UserError(
            f"cannot tell the format of {path}", hint="use a .jsonl or .csv file (or .tsv)"
        )
    if not path.exists():
        raise UserError(f"input file {path} does not exist")
    fmt = {".csv": "csv", ".tsv": "tsv"}.get(suffix, "jsonl")  # a .json file is read line by line
    rows = read_table(path, fmt=fmt, width_error="{n} values but the header has {m} columns")
    return [Row(r.line or 0, r.values, r.error) for r in rows]


__all__ = ["Row", "read_rows"]
