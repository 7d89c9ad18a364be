"""Review queues, their items and the labels reviewers give, in the workspace database.

A queue samples items of one run (or pairs of items of two runs on the same data) with a seed;
every label records the reviewer and the time, one current label per reviewer and item (a
reviewer who changes their mind replaces their label). The CLI and the web app both write
through this class, so a review made in one is seen by the other.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from assay.errors import UserError
from assay.review.rubric import Rubric
from assay.workspace import Workspace, run_script


def migrate_070_review(db: Any) -> None:
    run_script(
        db,
        """
        CREATE TABLE review_queues (
            id TEXT PRIMARY KEY,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            run_a TEXT NOT NULL,
            run_b TEXT,
            blind INTEGER NOT NULL DEFAULT 0,
            rubric TEXT NOT NULL,
            settings TEXT NOT NULL
        );
        CREATE TABLE review_items (
            queue_id TEXT NOT NULL REFERENCES review_queues(id) ON DELETE CASCADE,
            pos INTEGER NOT NULL,
            sample_id TEXT NOT NULL,
            stratum TEXT,
            b_first INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (queue_id, pos)
        );
        CREATE TABLE review_labels (
            queue_id TEXT NOT NULL,
            pos INTEGER NOT NULL,
            reviewer TEXT NOT NULL,
            value TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (queue_id, pos, reviewer),
            FOREIGN KEY (queue_id, pos) REFERENCES review_items(queue_id, pos) ON DELETE CASCADE
        );
        """,
    )


@dataclass
class Queue:
    id: str
    created: str
    run_a: str
    run_b: str | None
    blind: bool
    rubric: Rubric
    settings: dict[str, Any]
    n_items: int = 0

    @property
    def pairwise(self) -> bool:
        return self.run_b is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "run_a": self.run_a,
            "run_b": self.run_b,
            "blind": self.blind,
            "rubric": self.rubric.model_dump(),
            "settings": self.settings,
            "items": self.n_items,
        }


@dataclass
class Item:
    pos: int
    sample_id: str
    stratum: str | None
    b_first: bool
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    """reviewer -> {value, comment, ts}."""


class ReviewStore:
    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    # -- queues ----------------------------------------------------------------------------------
    def create(
        self,
        *,
        run_a: str,
        run_b: str | None,
        blind: bool,
        rubric: Rubric,
        settings: dict[str, Any],
        items: list[tuple[str, str | None, bool]],
    ) -> Queue:
        """A queue of ``items`` (sample id, stratum, whether run B is shown first)."""
        queue_id = f"review-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        with self.ws.transaction() as db:
            db.execute(
                "INSERT INTO review_queues(id, run_a, run_b, blind, rubric, settings) "
                "VALUES (?,?,?,?,?,?)",
                (
                    queue_id,
                    run_a,
                    run_b,
                    int(blind),
                    rubric.model_dump_json(),
                    json.dumps(settings, default=str),
                ),
            )
            db.executemany(
                "INSERT INTO review_items(queue_id, pos, sample_id, stratum, b_first) "
                "VALUES (?,?,?,?,?)",
                [
                    (queue_id, i, sid, stratum, int(bf))
                    for i, (sid, stratum, bf) in enumerate(items)
                ],
            )
        return self.get(queue_id)

    def get(self, queue_id: str) -> Queue:
        row = self.ws.db.execute("SELECT * FROM review_queues WHERE id = ?", (queue_id,)).fetchone()
        if row is None:
            rows = self.ws.db.execute(
                "SELECT * FROM review_queues WHERE id LIKE ?", (queue_id + "%",)
            ).fetchall()
            if len(rows) != 1:
                raise UserError(
                    f"no review queue '{queue_id}' in {self.ws.root}"
                    + (f" ({len(rows)} start with it)" if rows else ""),
                    hint="see `assay review list`",
                )
            row = rows[0]
        n = self.ws.db.execute(
            "SELECT COUNT(*) FROM review_items WHERE queue_id = ?", (row["id"],)
        ).fetchone()[0]
        return Queue(
            id=row["id"],
            created=row["created"],
            run_a=row["run_a"],
            run_b=row["run_b"],
            blind=bool(row["blind"]),
            rubric=Rubric.model_validate_json(row["rubric"]),
            settings=json.loads(row["settings"]),
            n_items=n,
        )

    def queues(self) -> list[Queue]:
        ids = [
            r[0] for r in self.ws.db.execute("SELECT id FROM review_queues ORDER BY created DESC")
        ]
        return [self.get(i) for i in ids]

    # -- items and labels ------------------------------------------------------------------------
    def items(self, queue_id: str) -> list[Item]:
        rows = self.ws.db.execute(
            "SELECT pos, sample_id, stratum, b_first FROM review_items WHERE queue_id = ? "
            "ORDER BY pos",
            (queue_id,),
        ).fetchall()
        items = {
            r["pos"]: Item(r["pos"], r["sample_id"], r["stratum"], bool(r["b_first"])) for r in rows
        }
        for lab in self.ws.db.execute(
            "SELECT pos, reviewer, value, comment, ts FROM review_labels WHERE queue_id = ?",
            (queue_id,),
        ):
            items[lab["pos"]].labels[lab["reviewer"]] = {
                "value": lab["value"],
                "comment": lab["comment"],
                "ts": lab["ts"],
            }
        return list(items.values())

    def item(self, queue_id: str, pos: int) -> Item:
        for it in self.items(queue_id):
            if it.pos == pos:
                return it
        raise UserError(f"review queue {queue_id} has no item {pos}")

    def label(self, queue: Queue, pos: int, reviewer: str, value: str, comment: str = "") -> str:
        """Record ``reviewer``'s label for item ``pos``; a label outside the rubric is refused."""
        if not reviewer or not reviewer.strip():
            raise UserError("a label needs the reviewer's name", hint="--reviewer NAME")
        checked = queue.rubric.check(value)
        if not 0 <= pos < queue.n_items:
            raise UserError(f"review queue {queue.id} has no item {pos} (0-{queue.n_items - 1})")
        with self.ws.transaction() as db:
            db.execute(
                "INSERT INTO review_labels(queue_id, pos, reviewer, value, comment) "
                "VALUES (?,?,?,?,?) ON CONFLICT(queue_id, pos, reviewer) DO UPDATE SET "
                "value = excluded.value, comment = excluded.comment, "
                "ts = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (queue.id, pos, reviewer.strip(), checked, comment),
            )
        return checked

    def next_pos(self, queue_id: str, reviewer: str) -> int | None:
        """The first item ``reviewer`` has not labelled yet (so a review resumes), or None."""
        row = self.ws.db.execute(
            "SELECT MIN(pos) FROM review_items i WHERE queue_id = ? AND NOT EXISTS ("
            "SELECT 1 FROM review_labels l WHERE l.queue_id = i.queue_id AND l.pos = i.pos "
            "AND l.reviewer = ?)",
            (queue_id, reviewer),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def progress(self, queue_id: str) -> dict[str, int]:
        """Items labelled so far, by reviewer."""
        rows = self.ws.db.execute(
            "SELECT reviewer, COUNT(*) FROM review_labels WHERE queue_id = ? GROUP BY reviewer",
            (queue_id,),
        )
        return {r[0]: int(r[1]) for r in rows}


__all__ = ["Item", "Queue", "ReviewStore", "migrate_070_review"]
