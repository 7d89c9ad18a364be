"""What a review queue says: agreement between reviewers (and with an LLM judge), the labels as
a metric of the run with an interval, and a CSV of every label.

The metric of a single-run queue is the mean of the labels' positions on the rubric (0 the
worst point, 1 the best), each item's reviewers averaged first; of a pairwise queue it is run
B's win rate over run A (a tie counts half). ``record_metric`` stores it in the run as
``review:<rubric>`` (per-sample scores and the estimate), so ``assay compare`` and reports use it
like any other metric.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import UserError
from assay.evals.agreement import AgreementReport, Level, agreement
from assay.evals.runs import RunStore
from assay.review.store import Item, Queue, ReviewStore
from assay.stats import Estimate, bootstrap_ci, mean, wilson_ci
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.models.facade import Model

JUDGE_RATER = "judge"


def reviewers(items: Sequence[Item]) -> list[str]:
    return sorted({r for it in items for r in it.labels})


def ratings_table(
    queue: Queue, items: Sequence[Item], extra: dict[int, Any] | None = None
) -> tuple[list[list[Any]], list[str]]:
    """One row per item, one column per reviewer (and the judge, from ``extra``: pos -> value)."""
    names = reviewers(items)
    rows = [
        [queue.rubric.rating(it.labels[r]["value"]) if r in it.labels else None for r in names]
        for it in items
    ]
    if extra is not None:
        names = [*names, JUDGE_RATER]
        for row, it in zip(rows, items, strict=True):
            value = extra.get(it.pos)
            row.append(None if value is None else queue.rubric.rating(value))
    return rows, names


def reviewer_agreement(
    queue: Queue,
    items: Sequence[Item],
    extra: dict[int, Any] | None = None,
    seed: int = 0,
    n_resamples: int = 2000,
) -> AgreementReport | None:
    """Cohen's kappa (two raters), Fleiss' kappa and Krippendorff's alpha with bootstrap
    intervals, over the items at least two raters labelled; None until there are two raters."""
    rows, names = ratings_table(queue, items, extra)
    if len(names) < 2:
        return None
    kept = [r for r in rows if sum(v is not None for v in r) >= 2]
    if not kept:
        return None
    numeric = queue.rubric.kind == "scale"
    categories = None if numeric else queue.rubric.points
    level: Level = "nominal"
    if queue.rubric.level in ("ordinal", "interval"):
        level = "ordinal" if queue.rubric.level == "ordinal" else "interval"
    return agreement(
        kept, raters=names, level=level, categories=categories, n_resamples=n_resamples, seed=seed
    )


def item_scores(queue: Queue, items: Sequence[Item]) -> dict[str, float]:
    """Sample id -> the item's score (reviewers averaged): positions on the rubric, or run B's
    win (1), tie (0.5) or loss (0) for a pairwise queue."""
    out: dict[str, float] = {}
    for it in items:
        if not it.labels:
            continue
        if queue.pairwise:
            values = [{"b": 1.0, "tie": 0.5, "a": 0.0}[lab["value"]] for lab in it.labels.values()]
        else:
            values = [queue.rubric.position(lab["value"]) for lab in it.labels.values()]
        out[it.sample_id] = sum(values) / len(values)
    return out


def metric_name(queue: Queue) -> str:
    return f"review:{queue.rubric.name}" + (":b-wins" if queue.pairwise else "")


def review_metric(queue: Queue, items: Sequence[Item]) -> Estimate | None:
    """The labels as one number with a 95% interval: Wilson's when every item score is 0 or 1,
    else a BCa bootstrap of the mean over items (both stay within 0..1)."""
    scores = list(item_scores(queue, items).values())
    if len(scores) < 2:
        return None
    if all(v in (0.0, 1.0) for v in scores):
        return wilson_ci(int(sum(scores)), len(scores))
    est = bootstrap_ci(mean, np.asarray(scores), seed=0)
    # Named so that `assay compare` pairs it per item (a "bootstrap..." method marks a corpus metric).
    return replace(est, method=f"mean ({est.method})")


def record_metric(queue: Queue, workspace: Workspace) -> Estimate | None:
    """Store the review metric in the run it belongs to (run B's for a pairwise queue)."""
    items = ReviewStore(workspace).items(queue.id)
    est = review_metric(queue, items)
    if est is None:
        return None
    run_id = queue.run_b if queue.pairwise else queue.run_a
    assert run_id is not None
    RunStore(workspace).set_metric(
        run_id, metric_name(queue), item_scores(queue, items), est.to_dict()
    )
    return est


def judge_labels(
    queue: Queue, items: Sequence[Item], judge_model: str | Model, workspace: Workspace
) -> dict[int, Any]:
    """An LLM judge's label for every item of a single-run queue (pos -> rubric point), with the
    queue's rubric when it is a judge rubric, else the correctness rubric on its scale."""
    from assay.evals.judge import Judge, rubric_names

    if queue.pairwise:
        raise UserError("judge agreement is for single-run queues (a judge grades one output)")
    rubric = queue.rubric
    scale: Any = (
        [int(rubric.points[0]), int(rubric.points[-1])] if rubric.kind == "scale" else rubric.points
    )
    template = rubric.name if rubric.name in rubric_names() else "correctness"
    from assay.models.facade import Model as Loader

    model = (
        Loader.load(judge_model, workspace=workspace)
        if isinstance(judge_model, str)
        else judge_model
    )
    judge = Judge(model, template, scale)
    samples = {s["id"]: s for s in RunStore(workspace).samples(queue.run_a)}
    rows = [samples[it.sample_id] for it in items]
    verdicts = judge.judge(
        [
            {"question": s.get("input"), "answer": s.get("output"), "reference": s.get("target")}
            for s in rows
        ]
    )
    out: dict[int, Any] = {}
    for it, v in zip(items, verdicts, strict=True):
        if v.ok:
            out[it.pos] = rubric.check(str(v.score))
    return out


def export_csv(queue: Queue, items: Sequence[Item]) -> str:
    """Every label as a row: item, sample, stratum, reviewer, label, comment, time."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "queue",
            "item",
            "sample_id",
            "stratum",
            "shown_first",
            "reviewer",
            "label",
            "comment",
            "time",
        ]
    )
    for it in items:
        first = "b" if it.b_first else "a"
        for reviewer, lab in sorted(it.labels.items()):
            w.writerow(
                [
                    queue.id,
                    it.pos,
                    it.sample_id,
                    it.stratum or "",
                    first if queue.pairwise else "",
                    reviewer,
                    lab["value"],
                    lab["comment"],
                    lab["ts"],
                ]
            )
    return buf.getvalue()


@dataclass
class ReviewSummary:
    """A queue's state for display: progress, metric, agreement."""

    queue: Queue
    progress: dict[str, int]
    metric: Estimate | None
    agreement: AgreementReport | None

    def to_dict(self) -> dict[str, Any]:
        def est(e: Estimate | None) -> dict[str, Any] | None:
            if e is None or not math.isfinite(e.value):
                return None
            finite = lambda v: None if isinstance(v, float) and not math.isfinite(v) else v  # noqa: E731
            return {k: finite(v) for k, v in e.to_dict().items()}

        ag = self.agreement
        return {
            "queue": self.queue.id,
            "items": self.queue.n_items,
            "progress": self.progress,
            "metric": {"name": metric_name(self.queue), **(est(self.metric) or {})}
            if self.metric
            else None,
            "agreement": None
            if ag is None
            else {
                "raters": list(ag.raters),
                "percent": est(ag.percent),
                "cohen_kappa": est(ag.cohen_kappa),
                "fleiss_kappa": est(ag.fleiss_kappa),
                "krippendorff_alpha": est(ag.krippendorff_alpha),
            },
        }


def summarise(queue: Queue, workspace: Workspace, n_resamples: int = 2000) -> ReviewSummary:
    """Progress, the review metric and the agreement; ``n_resamples`` for the agreement's
    bootstrap intervals (the app's live view uses fewer, to answer at once)."""
    store = ReviewStore(workspace)
    items = store.items(queue.id)
    agreed = reviewer_agreement(queue, items, n_resamples=n_resamples)
    return ReviewSummary(queue, store.progress(queue.id), review_metric(queue, items), agreed)


__all__ = [
    "ReviewSummary",
    "export_csv",
    "item_scores",
    "judge_labels",
    "metric_name",
    "record_metric",
    "review_metric",
    "reviewer_agreement",
    "summarise",
]
