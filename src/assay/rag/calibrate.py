"""Calibrating abstention: the ``min_support`` a collection needs, measured on questions whose
answers are and are not in it.

``assay ask`` refuses to call the model when no retrieved passage covers most of the question's
rarer words (:mod:`assay.rag.support`). How much coverage is enough depends on the collection
and on how its readers ask, so the threshold is measured rather than guessed:

1. *answerable* questions are written by a model from the collection's own chunks
   (:func:`~assay.rag.synthetic.synthesize_qa`);
2. *unanswerable* ones are written the same way from *other* documents on the same topic (a
   second collection, e.g. papers you did not include), so they sound like the real thing but
   their answer is not in the collection; a question whose reference answer appears in a
   passage retrieved from the collection is dropped as not really unanswerable;
3. every question's support score is computed exactly as ``assay ask`` computes it;
4. the questions are split in two (seeded): the threshold that best separates the two kinds on
   the first half (Youden's J: abstention recall minus false abstentions) is chosen, and the
   rates it gives on the *held-out* half are reported, with Wilson intervals, beside the rates of
   the built-in default.

The chosen threshold is stored with the collection; ``assay ask`` uses it when ``--min-support``
is not given.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import UserError
from assay.stats.estimate import Estimate
from assay.stats.intervals import wilson_ci

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.rag.collection import Collection
    from assay.workspace import Workspace

MIN_PER_KIND = 4
"""Questions of each kind needed: two to choose the threshold on and two to test it."""


def migrate_060_abstention_calibration(db: Any) -> None:
    db.execute(
        "CREATE TABLE abstention_calibration ("
        " collection TEXT PRIMARY KEY,"
        " min_support REAL NOT NULL,"
        " report TEXT NOT NULL,"
        " created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    )


@dataclass(frozen=True)
class Scored:
    question: str
    answerable: bool
    support: float


@dataclass(frozen=True)
class Rates:
    """Abstention at one threshold on one set of questions."""

    threshold: float
    precision: Estimate | None
    """Of the questions abstained on, the share that were unanswerable (None: none abstained)."""
    recall: Estimate
    """Of the unanswerable questions, the share abstained on."""
    false_abstention: Estimate
    """Of the answerable questions, the share abstained on."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "precision": None if self.precision is None else self.precision.to_dict(),
            "recall": self.recall.to_dict(),
            "false_abstention": self.false_abstention.to_dict(),
        }

    def line(self) -> str:
        return (
            f"min_support {self.threshold:.2f}: abstention precision "
            f"{'n/a (none abstained)' if self.precision is None else self.precision}, "
            f"recall {self.recall}, answerable abstained {self.false_abstention}"
        )


def rates(scored: Sequence[Scored], threshold: float) -> Rates:
    abstained = [s for s in scored if s.support < threshold]
    unanswerable = [s for s in scored if not s.answerable]
    answerable = [s for s in scored if s.answerable]
    hits = sum(not s.answerable for s in abstained)
    return Rates(
        threshold,
        wilson_ci(hits, len(abstained)) if abstained else None,
        wilson_ci(hits, len(unanswerable)),
        wilson_ci(len(abstained) - hits, len(answerable)),
    )


def choose_threshold(scored: Sequence[Scored]) -> float:
    """The threshold with the largest abstention recall minus false-abstention rate (Youden's
    J) on ``scored``; among equals, the lowest (fewest answerable questions refused). Candidates
    lie halfway between neighbouring scores, so the rule does not sit on a data point."""
    values = sorted({s.support for s in scored})
    candidates = [0.0] + [(a + b) / 2 for a, b in pairwise(values)]
    candidates.append(values[-1] + 1e-6)
    n_un = sum(not s.answerable for s in scored)
    n_an = len(scored) - n_un

    def j(t: float) -> float:
        caught = sum(not s.answerable and s.support < t for s in scored) / n_un
        refused = sum(s.answerable and s.support < t for s in scored) / n_an
        return caught - refused

    best = max(j(t) for t in candidates)
    return round(min(t for t in candidates if j(t) == best), 4)


def split(scored: Sequence[Scored], seed: int) -> tuple[list[Scored], list[Scored]]:
    """Each kind shuffled (seeded) and halved: (choose on, test on)."""
    first: list[Scored] = []
    second: list[Scored] = []
    rng = random.Random(seed)
    for kind in (True, False):
        rows = [s for s in scored if s.answerable is kind]
        rng.shuffle(rows)
        half = len(rows) // 2
        first += rows[:half]
        second += rows[half:]
    return first, second


@dataclass
class AbstentionCalibration:
    """What :func:`calibrate_abstention` measured; ``min_support`` is the chosen threshold."""

    collection: str
    outside: str
    min_support: float
    held_out: Rates
    """The chosen threshold on questions it was not chosen on."""
    default: Rates
    """The built-in default threshold on the same held-out questions."""
    n_answerable: int
    n_unanswerable: int
    dropped: int
    """Questions from the other documents whose answer the collection holds after all."""
    scored: list[Scored] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "outside": self.outside,
            "min_support": self.min_support,
            "held_out": self.held_out.to_dict(),
            "default": self.default.to_dict(),
            "n_answerable": self.n_answerable,
            "n_unanswerable": self.n_unanswerable,
            "dropped": self.dropped,
            "questions": [s.__dict__ for s in self.scored],
        }

    def summary(self) -> list[str]:
        return [
            f"{self.n_answerable} answerable questions (from '{self.collection}'), "
            f"{self.n_unanswerable} unanswerable (from '{self.outside}'; {self.dropped} dropped: "
            "their answer is in the collection)",
            f"chosen on half of them: min_support {self.min_support:.2f}",
            "held-out half, chosen:  " + self.held_out.line(),
            "held-out half, default: " + self.default.line(),
        ]

    def _repr_markdown_(self) -> str:
        return "\n".join(f"- {line}" for line in self.summary())


def question_support(collection: Collection, question: str, k: int, mode: str) -> float:
    """The support score ``assay ask`` gates on, for one question."""
    from assay.rag.support import collection_idf, evidence_support

    hits = collection.search(question, k, mode)
    return evidence_support(question, [h.text for h in hits], collection_idf(collection))


def _answer_in(collection: Collection, row: dict[str, Any], k: int, mode: str) -> bool:
    answer = " ".join(str(row.get("answer", "")).lower().split())
    if len(answer.split()) < 2:
        return False  # a one-word answer ("yes", "BLEU") is in any collection on the topic
    hits = collection.search(row["question"], k, mode)
    return any(answer in " ".join(h.text.lower().split()) for h in hits)


def calibrate_abstention(
    collection: Collection | str,
    outside: Collection | str,
    model: Model | str = "default",
    *,
    n: int = 30,
    seed: int = 0,
    k: int = 5,
    mode: str = "hybrid",
    folder: str | Path | None = None,
    save: bool = True,
    progress: bool = False,
    workspace: Workspace | None = None,
) -> AbstentionCalibration:
    """Choose ``min_support`` for ``collection`` (see the module docstring).

    ``outside``: a collection of other documents on the same topic. ``n`` questions of each kind
    are written by ``model`` into ``folder`` (default: the workspace's ``calibration/NAME``; a
    rerun reuses them). ``save`` stores the chosen threshold for ``assay ask``."""
    from assay.rag.answer import DEFAULT_MIN_SUPPORT
    from assay.rag.collection import Collection as CollectionClass
    from assay.rag.synthetic import read_qa, synthesize_qa

    col = collection if not isinstance(collection, str) else CollectionClass(workspace, collection)
    other = outside if not isinstance(outside, str) else CollectionClass(workspace, outside)
    if col.name == other.name:
        raise UserError(
            "the other documents must be a different collection from the one calibrated"
        )
    for c in (col, other):  # before the model loads: a typo should cost no time
        c._require(counts=False)
    ws = col.workspace
    where = Path(folder) if folder is not None else ws.root / "calibration" / col.name
    where.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {"seed": seed, "progress": progress, "workspace": ws}
    synthesize_qa(col, model, n, out=where / "answerable.jsonl", **common)
    synthesize_qa(other, model, n, out=where / f"outside-{other.name}.jsonl", **common)
    answerable = read_qa(where / "answerable.jsonl")[:n]
    candidates = read_qa(where / f"outside-{other.name}.jsonl")[:n]
    unanswerable = [r for r in candidates if not _answer_in(col, r, k, mode)]
    if min(len(answerable), len(unanswerable)) < MIN_PER_KIND:
        raise UserError(
            f"too few questions to calibrate on ({len(answerable)} answerable, "
            f"{len(unanswerable)} unanswerable; {MIN_PER_KIND} of each needed)",
            hint="add documents to either collection, or raise -n",
        )
    scored = [
        Scored(r["question"], kind, question_support(col, r["question"], k, mode))
        for kind, rows in ((True, answerable), (False, unanswerable))
        for r in rows
    ]
    choose_on, test_on = split(scored, seed)
    threshold = choose_threshold(choose_on)
    result = AbstentionCalibration(
        collection=col.name,
        outside=other.name,
        min_support=threshold,
        held_out=rates(test_on, threshold),
        default=rates(test_on, DEFAULT_MIN_SUPPORT),
        n_answerable=len(answerable),
        n_unanswerable=len(unanswerable),
        dropped=len(candidates) - len(unanswerable),
        scored=scored,
    )
    if save:
        with ws.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO abstention_calibration(collection, min_support, report) "
                "VALUES (?, ?, ?)",
                (col.name, threshold, json.dumps(result.to_dict())),
            )
    return result


def calibrated_min_support(workspace: Workspace, collection: str) -> float | None:
    """The threshold stored for ``collection`` by :func:`calibrate_abstention`, if any."""
    row = workspace.db.execute(
        "SELECT min_support FROM abstention_calibration WHERE collection = ?", (collection,)
    ).fetchone()
    return None if row is None else float(row[0])


__all__ = [
    "AbstentionCalibration",
    "Rates",
    "calibrate_abstention",
    "calibrated_min_support",
    "choose_threshold",
    "question_support",
]
