"""A responsible-use check as a record: what every check (contamination, bias, hallucination,
human review) hands to the workspace, the report and ``assay runs list``.

The protocol is small, so any check plugs in:

- a **kind** from :data:`KINDS` (``citations``, ``contamination``, ...): the area it belongs to
  (``contamination``, ``bias``, ``hallucination``, ``review``), a title, and the command that
  runs it, which the report prints beside "not checked";
- a **status**: ``ok`` (ran, found nothing to worry about), ``flagged`` (ran, found something),
  or ``inconclusive`` (ran, but too little to say: no references in the outputs, say);
- a **headline**: one plain sentence of what it found;
- **figures**: named :class:`~assay.stats.Estimate` values, each with its interval;
- **items**: per-item rows (plain JSON dicts with an ``id``), stored one per database row;
- **config** and **provenance**: what it was run on and with, as for a run.

A check about a run carries ``run_id``; the run's report shows it in its "Responsible use"
section, and shows every other kind as *not checked*. Register a new kind with
:func:`register_kind`; give it a ``runner`` ("module:function", called as
``fn(run, options)`` and returning a :class:`CheckResult` or a :class:`Skip`) and
``assay check all RUN`` runs it too.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from assay.errors import UserError
from assay.stats import Estimate
from assay.workspace import Workspace, run_script

Status = Literal["ok", "flagged", "inconclusive"]
STATUSES: tuple[str, ...] = ("ok", "flagged", "inconclusive")
AREAS: dict[str, str] = {
    "contamination": "Contamination: was the evaluation data in the training data?",
    "bias": "Bias: does the model treat groups of people differently?",
    "hallucination": "Hallucination: does the model invent facts or references?",
    "review": "Human review",
}


@dataclass(frozen=True)
class CheckKind:
    name: str
    area: str  # a key of AREAS
    title: str
    how: str  # the command that runs it, shown beside "not checked"
    runner: str | None = None  # "module:function" for `assay check all`


KINDS: dict[str, CheckKind] = {}


def register_kind(kind: CheckKind) -> CheckKind:
    if kind.area not in AREAS:
        raise ValueError(f"unknown area {kind.area!r}: one of {', '.join(AREAS)}")
    KINDS[kind.name] = kind
    return kind


for _kind in (
    CheckKind(
        "contamination",
        "contamination",
        "Evaluation items in the training data (n-gram overlap)",
        "assay check contamination RUN --against TRAINING_DATA",
        "assay.checks.runners:contamination",
    ),
    CheckKind(
        "membership",
        "contamination",
        "Membership signals of pretraining data (Min-K% Prob, Min-K%++)",
        "assay check membership RUN --reference UNSEEN.jsonl",
        "assay.checks.membership:runner",
    ),
    CheckKind(
        "stereotype",
        "bias",
        "Stereotype preference (CrowS-Pairs)",
        "assay check stereotype RUN",
        "assay.checks.runners:stereotype",
    ),
    CheckKind(
        "bbq",
        "bias",
        "Bias in question answering (BBQ)",
        "assay check bbq RUN",
        "assay.checks.bbq:runner",
    ),
    CheckKind(
        "counterfactual",
        "bias",
        "Counterfactual probes on the task (group terms swapped)",
        "assay check counterfactual RUN --swap gender|names|LIST.yaml",
        "assay.checks.counterfactual:runner",
    ),
    CheckKind(
        "citations",
        "hallucination",
        "Fabricated references",
        "assay check citations RUN --bib REFS.bib (or -c COLLECTION)",
        "assay.checks.runners:citations",
    ),
    CheckKind(
        "faithfulness",
        "hallucination",
        "Claims supported by the cited passages (answers from documents)",
        "assay check all RUN --judge MODEL (a RAG run); assay ask QUESTION -c COLLECTION --check",
        "assay.checks.runners:faithfulness",
    ),
    CheckKind("review", "review", "Human review of outputs", "assay review RUN"),
):
    register_kind(_kind)


@dataclass
class Skip:
    """A check that ``assay check all`` could not run on a run, and why (said in the report)."""

    kind: str
    reason: str


@dataclass
class CheckResult:
    """One check's outcome. See the module docstring for the protocol."""

    kind: str
    status: Status
    headline: str
    subject: str  # what was checked: a run id, a task, a file
    figures: dict[str, Estimate] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    model: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    id: str | None = None  # set once recorded
    created: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}: one of {', '.join(STATUSES)}")

    @property
    def title(self) -> str:
        known = KINDS.get(self.kind)
        return known.title if known else self.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "headline": self.headline,
            "subject": self.subject,
            "run_id": self.run_id,
            "model": self.model,
            "created": self.created,
            "figures": {k: v.to_dict() for k, v in self.figures.items()},
            "config": self.config,
            "provenance": self.provenance,
            "items": self.items,
        }

    def __str__(self) -> str:
        lines = [f"{self.kind}: {self.status}: {self.headline}"]
        lines += [f"  {k}: {v}" for k, v in self.figures.items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from assay.checks.display import check_block

        return check_block(self)


# -- storage --------------------------------------------------------------------------------------


def migrate_070_checks(db: Any) -> None:
    run_script(
        db,
        """
        CREATE TABLE checks (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            status TEXT NOT NULL,
            headline TEXT NOT NULL,
            subject TEXT NOT NULL,
            run_id TEXT,
            model TEXT,
            figures TEXT NOT NULL,
            config TEXT NOT NULL,
            provenance TEXT NOT NULL,
            n_items INTEGER NOT NULL
        );
        CREATE INDEX checks_run ON checks(run_id, kind);
        CREATE TABLE check_items (
            check_id TEXT NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            record TEXT NOT NULL,
            PRIMARY KEY (check_id, idx)
        );
        """,
    )


class CheckStore:
    """Checks recorded in the workspace database, like runs."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def add(self, result: CheckResult) -> CheckResult:
        """Record ``result`` (in one transaction: all of it or nothing); return it with its id."""
        from assay.provenance import collect

        stamp = time.strftime("%Y%m%d-%H%M%S")
        result.id = f"check-{result.kind}-{stamp}-{secrets.token_hex(2)}"
        result.provenance = {**collect(), **result.provenance}
        with self.ws.transaction() as db:
            db.execute(
                "INSERT INTO checks(id, kind, status, headline, subject, run_id, model, figures,"
                " config, provenance, n_items) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    result.id,
                    result.kind,
                    result.status,
                    result.headline,
                    result.subject,
                    result.run_id,
                    result.model,
                    json.dumps({k: v.to_dict() for k, v in result.figures.items()}),
                    json.dumps(result.config, default=str),
                    json.dumps(result.provenance, default=str),
                    len(result.items),
                ),
            )
            db.executemany(
                "INSERT INTO check_items(check_id, idx, record) VALUES (?,?,?)",
                [
                    (result.id, i, json.dumps(item, default=str))
                    for i, item in enumerate(result.items)
                ],
            )
        row = db.execute("SELECT created FROM checks WHERE id = ?", (result.id,)).fetchone()
        result.created = row["created"]
        return result

    def _result(self, row: Any, items: bool) -> CheckResult:
        records: list[dict[str, Any]] = []
        if items:
            records = [
                json.loads(r["record"])
                for r in self.ws.db.execute(
                    "SELECT record FROM check_items WHERE check_id = ? ORDER BY idx", (row["id"],)
                )
            ]
        status: Status = row["status"] if row["status"] in STATUSES else "inconclusive"
        return CheckResult(
            kind=row["kind"],
            status=status,
            headline=row["headline"],
            subject=row["subject"],
            figures={k: Estimate.from_dict(v) for k, v in json.loads(row["figures"]).items()},
            items=records,
            config=json.loads(row["config"]),
            run_id=row["run_id"],
            model=row["model"],
            provenance=json.loads(row["provenance"]),
            id=row["id"],
            created=row["created"],
        )

    def get(self, check_id: str) -> CheckResult:
        row = self.ws.db.execute("SELECT * FROM checks WHERE id = ?", (check_id,)).fetchone()
        if row is None:
            raise UserError(
                f"no check '{check_id}' in {self.ws.root}", hint="see `assay runs list`"
            )
        return self._result(row, items=True)

    def list(self, limit: int = 50) -> list[CheckResult]:
        rows = self.ws.db.execute("SELECT * FROM checks ORDER BY created DESC LIMIT ?", (limit,))
        return [self._result(r, items=False) for r in rows.fetchall()]

    def for_run(self, run_id: str, *, items: bool = False) -> dict[str, CheckResult]:
        """The latest check of each kind recorded for ``run_id``."""
        rows = self.ws.db.execute(
            "SELECT * FROM checks WHERE run_id = ? ORDER BY created", (run_id,)
        ).fetchall()
        latest: dict[str, Any] = {}
        for r in rows:
            latest[r["kind"]] = r
        return {k: self._result(r, items=items) for k, r in latest.items()}


def status_from(flagged: bool, *, n: int) -> Status:
    """The status of a check over ``n`` items: nothing to judge is inconclusive."""
    if n == 0:
        return "inconclusive"
    return "flagged" if flagged else "ok"


__all__ = [
    "AREAS",
    "KINDS",
    "CheckKind",
    "CheckResult",
    "CheckStore",
    "Skip",
    "migrate_070_checks",
    "register_kind",
    "status_from",
]
