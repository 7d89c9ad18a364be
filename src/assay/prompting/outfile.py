"""An append-only JSONL output file that is its own progress record.

Each record is written as one line, then flushed and ``fsync``-ed, so after a kill every complete
line is a finished row. Opening an existing file reads the rows already done; a last line cut off
by a kill is removed (and its row computed again). A broken line anywhere else means the file is
not what it seems, and is refused rather than overwritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from assay.errors import UserError


class OutputFile:
    def __init__(self, path: str | Path, key: str = "row") -> None:
        self.path = Path(path)
        self.key = key
        self.records: dict[Any, dict[str, Any]] = {}
        """Rows already in the file, by their key."""
        self.repaired = False
        """Whether a cut-off last line was removed."""
        self._fh: IO[str] | None = None
        self._read()

    def _read(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        # After split, the last item is b"" when the file ends with a newline.
        keep = len(data)
        for number, raw in enumerate(lines, start=1):
            last = number == len(lines)
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                if not isinstance(record, dict) or self.key not in record:
                    raise ValueError(f"no '{self.key}' field")
            except (ValueError, UnicodeDecodeError) as exc:
                if last:
                    keep = len(data) - len(raw)
                    break
                raise UserError(
                    f"{self.path} line {number} is not an output record ({exc})",
                    hint="use another --output, or delete the file to start over",
                ) from None
            if last:
                # Complete JSON but no newline: the kill came between the data and its newline.
                keep = len(data) + 1
            self.records[record[self.key]] = record
        if keep < len(data):
            with self.path.open("r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
            self.repaired = True
        elif keep > len(data):
            with self.path.open("ab") as fh:
                fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())

    def check_same(self, field: str, expected: Any, what: str) -> None:
        """Refuse to resume when earlier rows were made differently (another template, model...)."""
        for record in self.records.values():
            if field in record and record[field] != expected:
                raise UserError(
                    f"{self.path} holds rows made with another {what} "
                    f"({record[field]!r}, this run: {expected!r}); they cannot be resumed together",
                    hint="use another --output, or delete the file to start over",
                )

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        line = json.dumps(record, ensure_ascii=False, default=str)
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records[record[self.key]] = record

    def ensure(self) -> None:
        """Create the file (empty) if no row was ever written, so a run over an input with no
        rows leaves the output it reports."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["OutputFile"]
