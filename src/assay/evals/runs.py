"""Evaluation runs as records in the workspace database.

A run is identified for resumption by ``key``: a hash of everything that determines its outputs
(resolved task config, model fingerprint, dataset hash, template hash, seed). Running the same
command again finds the unfinished run with that key and continues it; samples already
committed are never recomputed. Reports, comparisons and the UI only read these tables.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from assay.errors import UserError
from assay.evals.record import SampleRecord
from assay.workspace import Workspace, run_script


def migrate_020_runs(db: Any) -> None:
    run_script(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            finished TEXT,
            status TEXT NOT NULL,
            task TEXT NOT NULL,
            model TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            config TEXT NOT NULL,
            provenance TEXT NOT NULL,
            n_total INTEGER NOT NULL,
            metrics TEXT
        );
        CREATE INDEX runs_key ON runs(key);
        CREATE TABLE samples (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            sample_id TEXT NOT NULL,
            record TEXT NOT NULL,
            PRIMARY KEY (run_id, sample_id)
        );
        """,
    )


def migrate_040_run_errors(db: Any) -> None:
    # Why a run failed, shown by `runs show` and in the refusals of report and compare.
    run_script(db, "ALTER TABLE runs ADD COLUMN error TEXT")


@dataclass
class RunRow:
    id: str
    key: str
    created: str
    finished: str | None
    status: str
    task: str
    model: str
    fingerprint: str
    config: dict[str, Any]
    provenance: dict[str, Any]
    n_total: int
    metrics: dict[str, Any] | None
    n_done: int = 0
    error: str | None = None

    @classmethod
    def from_db(cls, row: Any, n_done: int = 0) -> RunRow:
        return cls(
            id=row["id"],
            key=row["key"],
            created=row["created"],
            finished=row["finished"],
            status=row["status"],
            task=row["task"],
            model=row["model"],
            fingerprint=row["fingerprint"],
            config=json.loads(row["config"]),
            provenance=json.loads(row["provenance"]),
            n_total=row["n_total"],
            metrics=json.loads(row["metrics"]) if row["metrics"] else None,
            n_done=n_done,
            error=row["error"],
        )

    def require_finished(self, purpose: str) -> None:
        """Refuse a failed or unfinished run for ``purpose`` (a report, a comparison)."""
        if self.status == "done":
            return
        if self.status == "failed":
            raise UserError(
                f"run {self.id} failed after {self.n_done}/{self.n_total} samples "
                f"({self.error}), so it cannot be used for {purpose}",
                hint="fix the cause and run the same `assay eval` command again to resume it",
            )
        raise UserError(
            f"run {self.id} is unfinished ({self.status}, {self.n_done}/{self.n_total} samples), "
            f"so it cannot be used for {purpose}",
            hint="run the same `assay eval` command again to finish it",
        )

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "status": self.status,
            "task": self.task,
            "model": self.model,
            "samples": f"{self.n_done}/{self.n_total}",
        }


class RunStore:
    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def new_id(self, task: str) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return f"{task.replace('/', '-')}-{stamp}-{secrets.token_hex(2)}"

    def find_unfinished(self, key: str) -> RunRow | None:
        row = self.ws.db.execute(
            "SELECT * FROM runs WHERE key = ? AND status != 'done' ORDER BY created DESC LIMIT 1",
            (key,),
        ).fetchone()
        return self._with_counts(row) if row else None

    def create(
        self,
        *,
        key: str,
        task: str,
        model: str,
        fingerprint: str,
        config: dict[str, Any],
        provenance: dict[str, Any],
        n_total: int,
    ) -> RunRow:
        run_id = self.new_id(task)
        with self.ws.transaction() as db:
            db.execute(
                "INSERT INTO runs(id, key, status, task, model, fingerprint, config, provenance,"
                " n_total) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    key,
                    "running",
                    task,
                    model,
                    fingerprint,
                    json.dumps(config, default=str),
                    json.dumps(provenance, default=str),
                    n_total,
                ),
            )
        return self.get(run_id)

    def done_ids(self, run_id: str) -> set[str]:
        return {
            r[0]
            for r in self.ws.db.execute("SELECT sample_id FROM samples WHERE run_id = ?", (run_id,))
        }

    def add_samples(
        self, run_id: str, records: Iterable[tuple[int, str, SampleRecord | dict[str, Any]]]
    ) -> None:
        """Commit finished samples; each batch is one transaction, so a kill loses none of them."""
        with self.ws.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO samples(run_id, idx, sample_id, record) VALUES (?,?,?,?)",
                [(run_id, idx, sid, SampleRecord.of(rec).to_json()) for idx, sid, rec in records],
            )

    def finish(self, run_id: str, metrics: dict[str, Any], status: str = "done") -> None:
        with self.ws.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, metrics = ?, finished = strftime('%Y-%m-%dT%H:%M:%fZ',"
                " 'now') WHERE id = ?",
                (status, json.dumps(metrics, default=str), run_id),
            )

    def fail(self, run_id: str, reason: str) -> None:
        with self.ws.transaction() as db:
            db.execute(
                "UPDATE runs SET status = 'failed', error = ?, finished = "
                "strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                (reason, run_id),
            )

    def reopen(self, run_id: str) -> None:
        """A failed or interrupted run that is being resumed is running again."""
        with self.ws.transaction() as db:
            db.execute(
                "UPDATE runs SET status = 'running', error = NULL, finished = NULL WHERE id = ?",
                (run_id,),
            )

    def set_metric(
        self, run_id: str, metric: str, scores: dict[str, float], estimate: dict[str, Any]
    ) -> None:
        """Add (or replace) a metric computed after the run, such as human review labels: its
        per-sample scores and its estimate, in one transaction."""
        with self.ws.transaction() as db:
            for sid, value in scores.items():
                row = db.execute(
                    "SELECT record FROM samples WHERE run_id = ? AND sample_id = ?", (run_id, sid)
                ).fetchone()
                if row is None:
                    continue
                record = json.loads(row["record"])
                record.setdefault("scores", {})[metric] = value
                db.execute(
                    "UPDATE samples SET record = ? WHERE run_id = ? AND sample_id = ?",
                    (json.dumps(record, default=str), run_id, sid),
                )
            row = db.execute("SELECT metrics FROM runs WHERE id = ?", (run_id,)).fetchone()
            metrics = json.loads(row["metrics"]) if row and row["metrics"] else {}
            metrics.setdefault("metrics", {})[metric] = estimate
            db.execute("UPDATE runs SET metrics = ? WHERE id = ?", (json.dumps(metrics), run_id))

    def samples(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.ws.db.execute(
            "SELECT idx, sample_id, record FROM samples WHERE run_id = ? ORDER BY idx", (run_id,)
        )
        return [{"idx": r["idx"], "id": r["sample_id"], **json.loads(r["record"])} for r in rows]

    def records(self, run_id: str) -> list[SampleRecord]:
        """The run's samples as typed records, in order (``samples`` gives them as dicts)."""
        return [SampleRecord.model_validate(s) for s in self.samples(run_id)]

    def get(self, run_id: str) -> RunRow:
        row = self.ws.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            # Accept a unique prefix, like git does for commits.
            rows = self.ws.db.execute(
                "SELECT * FROM runs WHERE id LIKE ? ORDER BY created DESC", (run_id + "%",)
            ).fetchall()
            if len(rows) == 1:
                row = rows[0]
            elif len(rows) > 1:
                raise UserError(
                    f"run id '{run_id}' is ambiguous: {len(rows)} runs start with it",
                    hint="give more of the id (see `assay runs list`)",
                )
            else:
                raise UserError(
                    f"no run '{run_id}' in {self.ws.root}", hint="see `assay runs list`"
                )
        return self._with_counts(row)

    def list(self, limit: int = 50) -> list[RunRow]:
        rows = self.ws.db.execute("SELECT * FROM runs ORDER BY created DESC LIMIT ?", (limit,))
        return [self._with_counts(r) for r in rows]

    def _with_counts(self, row: Any) -> RunRow:
        n = self.ws.db.execute(
            "SELECT COUNT(*) FROM samples WHERE run_id = ?", (row["id"],)
        ).fetchone()[0]
        return RunRow.from_db(row, n_done=n)


__all__ = ["RunRow", "RunStore"]
