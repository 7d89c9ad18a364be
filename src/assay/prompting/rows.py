"""Read rows of variables from a JSONL or CSV file, keeping each row's line number.

A row that cannot be read is returned with an ``error`` instead of being dropped, so callers can
report every bad line by number (and refuse, or skip them) before any model work starts.

- ``.jsonl`` / ``.ndjson`` / ``.json``: one JSON object per line; blank lines are ignored.
- ``.csv`` / ``.tsv``: a header row, then one row per record (quoted fields may span lines; a
  row's number is the line it starts on). Values are strings.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import UserError

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
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"input file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if suffix in CSV_SUFFIXES:
        return _csv_rows(text, path, delimiter="\t" if suffix == ".tsv" else ",")
    return _jsonl_rows(text)


def _jsonl_rows(text: str) -> list[Row]:
    rows = []
    # Split on "\n" only: str.splitlines would also cut at U+2028 and friends, which JSON
    # strings may hold unescaped.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(Row(number, None, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(value, dict):
            rows.append(Row(number, None, f"expected a JSON object, got {type(value).__name__}"))
            continue
        rows.append(Row(number, value))
    return rows


def _csv_rows(text: str, path: Path, delimiter: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return []
        rows = []
        while True:
            start = reader.line_num + 1
            record = next(reader, None)
            if record is None:
                break
            if not record or not any(v.strip() for v in record):
                continue
            if len(record) != len(header):
                rows.append(
                    Row(
                        start,
                        None,
                        f"{len(record)} values but the header has {len(header)} columns",
                    )
                )
                continue
            rows.append(Row(start, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        raise UserError(f"{path} line {reader.line_num}: not valid CSV ({exc})") from None
    return rows


__all__ = ["Row", "read_rows"]
