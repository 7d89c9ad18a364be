"""One reader for tables of records in files: evaluation datasets, finetuning data and prompt
rows all read JSONL, JSON, CSV/TSV and Parquet (any of them ``.gz``) here, and name a bad row by
its file and line the same way.

    >>> rows = read_table(Path("data.jsonl"))
    >>> [r.values for r in rows if r.error is None], [r.problem() for r in rows if r.error]

Formats
    - ``.jsonl``/``.ndjson``: one JSON object a line; blank lines are skipped;
    - ``.json``: a list of objects, an object holding one such list, or an object of objects
      keyed by id (the key becomes the ``id``);
    - ``.csv``/``.tsv``: a header row (names stripped of spaces), then one record a row; quoted
      values may span lines (a row's line is the one it starts on); values are strings;
    - ``.parquet`` (needs ``pyarrow``).

A file shipped inside an installed package is named ``package:<module>/<path>``
(:func:`package_path`).

A problem with the whole file (unreadable, not UTF-8, a damaged gzip or Parquet file, a JSON
document that does not parse, repeated CSV column names) raises :class:`UserError`. A problem
with one row (a line that is not JSON, a value that is not an object, a CSV row with the wrong
number of values) is kept as that row's ``error``, so a caller can refuse at the first, list
them all, or skip them.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, MissingExtraError, UserError

FILE_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
WIDTH_ERROR = "{n} values for {m} columns"


@dataclass(frozen=True)
class TableRow:
    """One record of a table file, or why it could not be read."""

    where: str
    """``label:line`` for line-based files, else ``label item N`` / ``label row N`` / ..."""
    values: Any
    """The record (a dict; None when ``error`` is set)."""
    line: int | None = None
    """The 1-based line the record starts on (JSONL, CSV; the CSV header is line 1)."""
    error: str | None = None

    def problem(self, path: Path | str | None = None) -> str:
        """``path:line: error`` (or ``where: error`` when the row has no line)."""
        at = f"{path}:{self.line}" if path is not None and self.line is not None else self.where
        return f"{at}: {self.error}"


def package_path(spec: str) -> Path:
    """``<module>/<relative path>`` (with or without ``package:``) inside an installed package.

    The package is located without being imported (some data packages print or fail on import).
    """
    spec = spec.removeprefix("package:")
    module, _, rel = spec.partition("/")
    if not module:
        raise ConfigError(
            f"'package:{spec}' names no package", hint="write package:<module>/<path>"
        )
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise UserError(
            f"the package '{module}' is not installed (needed for 'package:{spec}')",
            hint=f"pip install the distribution that provides '{module}'",
        )
    root = Path(next(iter(found.submodule_search_locations)))
    path = root / rel if rel else root
    if not path.exists():
        raise UserError(f"'{rel}' is not in the installed package '{module}' ({root})")
    return path


def table_format(path: Path) -> str | None:
    """``jsonl``, ``json``, ``csv``, ``tsv`` or ``parquet`` from the file's suffix (a trailing
    ``.gz`` ignored); None for anything else."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return FILE_FORMATS.get(suffixes[-1]) if suffixes else None


def read_table(
    path: Path,
    *,
    fmt: str | None = None,
    label: str | None = None,
    fill_short_rows: bool = False,
    width_error: str = WIDTH_ERROR,
) -> list[TableRow]:
    """The records of ``path`` (format from its suffix unless ``fmt`` is given). ``label``
    names the file in each row's ``where`` (default: the path). CSV rows with fewer values than
    columns get None for the rest with ``fill_short_rows``, else an error (``width_error``,
    with ``{n}`` values and ``{m}`` columns)."""
    fmt = fmt or table_format(path)
    if fmt is None:
        raise UserError(
            f"cannot tell the format of {path}",
            hint="use a file ending in " + ", ".join(FILE_FORMATS) + " (optionally .gz)",
        )
    name = str(path) if label is None else label
    if fmt == "parquet":
        rows = _parquet(path, name)
    elif fmt == "jsonl":
        rows = _jsonl(file_text(path), name)
    elif fmt == "json":
        rows = _json(path, file_text(path), name)
    elif fmt in ("csv", "tsv"):
        text = file_text(path)
        rows = _csv(path, text, name, "\t" if fmt == "tsv" else ",", fill_short_rows, width_error)
    else:
        raise ValueError(f"unknown table format {fmt!r}")
    return [_object(r) for r in rows]


def file_bytes(path: Path) -> bytes:
    """The file's bytes (decompressed when it ends in ``.gz``); UserError naming the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise UserError(f"{path} is not a readable gzip file: {exc}") from None
    return data


def file_text(path: Path) -> str:
    """The file as UTF-8 text (a byte-order mark dropped); UserError naming the bad line."""
    data = file_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 ({exc.reason})") from None


def describe(value: Any) -> str:
    """A JSON value's type in words: ``a list``, ``a number``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _object(row: TableRow) -> TableRow:
    if row.error is None and not isinstance(row.values, dict):
        error = f"expected a JSON object, got {describe(row.values)}"
        return TableRow(row.where, None, row.line, error)
    return row


def _jsonl(text: str, name: str) -> list[TableRow]:
    out = []
    # Split on "\n" only: str.splitlines would also cut at U+2028 and friends, which JSON
    # strings may hold unescaped.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            out.append(TableRow(where, json.loads(line), number))
        except json.JSONDecodeError as exc:
            error = f"not valid JSON ({exc.msg} at column {exc.colno})"
            out.append(TableRow(where, None, number, error))
    return out


def _json(path: Path, text: str, name: str) -> list[TableRow]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
        ) from None
    if isinstance(obj, list):
        return [TableRow(f"{name} item {i + 1}", r) for i, r in enumerate(obj)]
    if isinstance(obj, dict):
        lists = [k for k, v in obj.items() if isinstance(v, list)]
        if len(lists) == 1 and len(obj) <= 2:
            key = lists[0]
            return [TableRow(f"{name} {key}[{i}]", r) for i, r in enumerate(obj[key])]
        if obj and all(isinstance(v, dict) for v in obj.values()):
            return [
                TableRow(f"{name} key {k}", {"id": k, **v} if "id" not in v else v)
                for k, v in obj.items()
            ]
    raise UserError(
        f"{path}: expected a list of objects, an object holding one such list, "
        "or an object of objects keyed by id"
    )


def _csv(
    path: Path, text: str, name: str, delimiter: str, fill_short_rows: bool, width_error: str
) -> list[TableRow]:
    # strict: a quote left open is an error, not a field that swallows the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise UserError(f"{path}:1: not valid CSV ({exc})") from None
    header = [h.strip() for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise UserError(f"{path}:1: repeated column names: {', '.join(dupes)}")
    out = []
    line = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise UserError(f"{path}:{line}: not valid CSV ({exc})") from None
        if values and any(v.strip() for v in values):
            where = f"{name}:{line}"
            if len(values) > len(header) or (len(values) < len(header) and not fill_short_rows):
                error = width_error.format(n=len(values), m=len(header))
                out.append(TableRow(where, None, line, error))
            else:
                row: dict[str, Any] = dict(zip(header, values, strict=False))
                row.update(dict.fromkeys(header[len(values) :]))
                out.append(TableRow(where, row, line))
        line = reader.line_num + 1
    return out


def _parquet(path: Path, name: str) -> list[TableRow]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtraError("reading Parquet files", "pyarrow", "pip install pyarrow") from exc
    try:
        if path.suffix.lower() == ".gz":
            table = pq.read_table(io.BytesIO(file_bytes(path)))
        else:
            table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
    return [TableRow(f"{name} row {i + 1}", r) for i, r in enumerate(table.to_pylist())]


__all__ = [
    "FILE_FORMATS",
    "TableRow",
    "describe",
    "file_bytes",
    "file_text",
    "package_path",
    "read_table",
    "table_format",
]
