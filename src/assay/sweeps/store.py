"""Sweeps as records in the workspace database: a sweep and its cells, each cell linked to the
evaluation run that holds its samples.

A sweep is found again by ``key`` (a hash of its resolved config), so the same command run again
continues it: finished cells are reused, an interrupted cell's run resumes.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from assay.errors import UserError
from assay.workspace import Workspace, run_script


def migrate_088_sweep_cache_hits(db: Any) -> None:
    """Answers a cell took from the response cache: its speed is then the cache's, not the
    model's, and the leaderboard says so."""
    run_script(db, "ALTER TABLE sweep_cells ADD COLUMN cache_hits INTEGER NOT NULL DEFAULT 0;")


def migrate_087_sweeps(db: Any) -> None:
    run_script(
        db,
        """
        CREATE TABLE sweeps (
            id TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            name TEXT NOT NULL,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            finished TEXT,
            status TEXT NOT NULL,
            config TEXT NOT NULL
        );
        CREATE INDEX sweeps_key ON sweeps(key);
        CREATE TABLE sweep_cells (
            sweep_id TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            label TEXT NOT NULL,
            axes TEXT NOT NULL,
            status TEXT NOT NULL,
            run_id TEXT,
            error TEXT,
            wall_s REAL,
            memory_bytes INTEGER,
            memory_source TEXT,
            reused INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (sweep_id, idx)
        );
        """,
    )


@dataclass
class CellRow:
    index: int
    label: str
    axes: dict[str, Any]
    status: str
    """pending, done or failed."""
    run_id: str | None = None
    error: str | None = None
    wall_s: float | None = None
    memory_bytes: int | None = None
    memory_source: str = ""
    """``peak`` (GPU peak during the cell) or ``weights`` (the weights as loaded)."""
    reused: bool = False
    cache_hits: int = 0
    """Model answers this cell took from the response cache (its speed is then not measured)."""


@dataclass
class SweepRow:
    id: str
    key: str
    name: str
    created: str
    finished: str | None
    status: str
    config: dict[str, Any]
    cells: list[CellRow]

    def summary(self) -> dict[str, Any]:
        done = sum(c.status == "done" for c in self.cells)
        failed = sum(c.status == "failed" for c in self.cells)
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "status": self.status,
            "cells": len(self.cells),
            "done": done,
            "failed": failed,
        }


class SweepStore:
    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def find(self, key: str) -> SweepRow | None:
        row = self.ws.db.execute(
            "SELECT id FROM sweeps WHERE key = ? ORDER BY created DESC LIMIT 1", (key,)
        ).fetchone()
        return self.get(row["id"]) if row else None

    def create(self, key: str, name: str, config: dict[str, Any], cells: list[CellRow]) -> str:
        sweep_id = f"sweep-{name.replace('/', '-')}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        with self.ws.transaction() as db:
            db.execute(
                "INSERT INTO sweeps(id, key, name, status, config) VALUES (?,?,?,?,?)",
                (sweep_id, key, name, "running", json.dumps(config, default=str)),
            )
            db.executemany(
                "INSERT INTO sweep_cells(sweep_id, idx, label, axes, status) VALUES (?,?,?,?,?)",
                [(sweep_id, c.index, c.label, json.dumps(c.axes), "pending") for c in cells],
            )
        return sweep_id

    def set_status(self, sweep_id: str, status: str) -> None:
        finished = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')" if status != "running" else "NULL"
        with self.ws.transaction() as db:
            db.execute(
                f"UPDATE sweeps SET status = ?, finished = {finished} WHERE id = ?",
                (status, sweep_id),
            )

    def record_cell(self, sweep_id: str, cell: CellRow) -> None:
        with self.ws.transaction() as db:
            db.execute(
                "UPDATE sweep_cells SET status = ?, run_id = ?, error = ?, wall_s = ?, "
                "memory_bytes = ?, memory_source = ?, reused = ?, cache_hits = ? "
                "WHERE sweep_id = ? AND idx = ?",
                (
                    cell.status,
                    cell.run_id,
                    cell.error,
                    cell.wall_s,
                    cell.memory_bytes,
                    cell.memory_source,
                    int(cell.reused),
                    cell.cache_hits,
                    sweep_id,
                    cell.index,
                ),
            )

    def get(self, sweep_id: str) -> SweepRow:
        row = self.ws.db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            rows = self.ws.db.execute(
                "SELECT * FROM sweeps WHERE id LIKE ? ORDER BY created DESC", (sweep_id + "%",)
            ).fetchall()
            if len(rows) != 1:
                what = "is ambiguous" if rows else f"is not in {self.ws.root}"
                raise UserError(f"sweep '{sweep_id}' {what}", hint="see `assay sweep list`")
            row = rows[0]
        cells = [
            CellRow(
                index=c["idx"],
                label=c["label"],
                axes=json.loads(c["axes"]),
                status=c["status"],
                run_id=c["run_id"],
                error=c["error"],
                wall_s=c["wall_s"],
                memory_bytes=c["memory_bytes"],
                memory_source=c["memory_source"] or "",
                reused=bool(c["reused"]),
                cache_hits=int(c["cache_hits"] or 0),
            )
            for c in self.ws.db.execute(
                "SELECT * FROM sweep_cells WHERE sweep_id = ? ORDER BY idx", (row["id"],)
            )
        ]
        return SweepRow(
            id=row["id"],
            key=row["key"],
            name=row["name"],
            created=row["created"],
            finished=row["finished"],
            status=row["status"],
            config=json.loads(row["config"]),
            cells=cells,
        )

    def list(self, limit: int = 30) -> list[SweepRow]:
        rows = self.ws.db.execute(
            "SELECT id FROM sweeps ORDER BY created DESC LIMIT ?", (limit,)
        ).fetchall()
        return [self.get(r["id"]) for r in rows]


__all__ = ["CellRow", "SweepRow", "SweepStore", "migrate_087_sweeps"]
