"""The checks ``assay check all RUN`` runs, each as a :class:`~assay.checks.record.CheckResult`.

A runner is called as ``fn(run, options)``. It returns the (unrecorded) result, or a
:class:`~assay.checks.record.Skip` saying why the check does not apply to this run or what it
needs (``--against`` training data, ``--bib``). :func:`check_all` runs every registered kind
that has a runner and records each result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.checks.record import KINDS, CheckResult, CheckStore, Skip, status_from
from assay.errors import UnsupportedOperationError
from assay.evals.runs import RunRow, RunStore
from assay.workspace import Workspace

CROWS_SAMPLE = Path(__file__).parent / "data" / "crows_pairs_sample.csv"


@dataclass
class CheckOptions:
    """What the checks of ``assay check all`` may need besides the run."""

    workspace: Workspace
    against: tuple[str, ...] = ()  # training data, for contamination
    bib: str | None = None  # a bibliography, for citations
    collection: str | None = None  # or a collection's documents
    bias_data: str | None = None  # the CrowS-Pairs CSV (default: the bundled sample)
    judge: str | None = None  # the judge of faithfulness (default: the run's model)
    limit: int | None = None  # items for the checks that run a model
    bbq_data: str | None = None  # BBQ's data/ folder (default: the bundled sample)
    swap: str | None = None  # a swap list, for counterfactual probes
    reference: str | None = None  # unseen texts, for membership signals
    extra: dict[str, Any] = field(default_factory=dict)  # for checks added later


# -- contamination -------------------------------------------------------------------------------


def clean_subsets(store: RunStore, run: RunRow, clean_ids: set[str]) -> list[Any]:
    """The run's metrics on its clean items against all items (see ``clean_subset``)."""
    from assay.checks.contamination import clean_subset
    from assay.evals.compare import _scores

    out = []
    for metric in (run.metrics or {}).get("metrics", {}):
        scores = _scores(store, run, metric)
        if len(scores) >= 2 and len(clean_ids & set(scores)) >= 2:
            out.append(clean_subset(scores, clean_ids, metric))
    return out


def contamination_result(report: Any, subsets: list[Any], run: RunRow | None) -> CheckResult:
    """A contamination report (and a run's clean-subset comparisons) as a check record."""
    figures = {"contaminated_share": report.share()}
    for s in subsets:
        figures[f"{s.metric}: clean - all"] = s.difference
    return CheckResult(
        kind="contamination",
        status=status_from(bool(report.flagged), n=len(report.items)),
        headline=report.summary(),
        subject=run.id if run else report.task,
        figures=figures,
        items=[i.to_dict() for i in report.items],
        config={"task": report.task, "n": report.n, "corpus": report.corpus},
        run_id=run.id if run else None,
        model=run.model if run else None,
    )


def contamination(run: RunRow, options: CheckOptions) -> CheckResult | Skip:
    from assay.checks.contamination import check_contamination
    from assay.evals.task import TaskConfig

    if not options.against:
        return Skip("contamination", "needs the training data: --against FILE_OR_FOLDER")
    task = TaskConfig.model_validate(run.config)
    report = check_contamination(task, options.against, workspace=options.workspace)
    subsets = clean_subsets(RunStore(options.workspace), run, report.clean_ids)
    return contamination_result(report, subsets, run)


# -- bias: stereotype preference -----------------------------------------------------------------


def stereotype_check(
    model: Any,
    *,
    data: str | Path | None = None,
    limit: int | None = None,
    run_id: str | None = None,
    on_status: Callable[[str], None] | None = None,
) -> CheckResult:
    """CrowS-Pairs on ``model`` (a loaded :class:`~assay.models.facade.Model`): the share of pairs
    where it finds the more stereotyping sentence likelier, overall and per bias type.

    ``data`` is the CrowS-Pairs CSV; by default the bundled 54-pair sample, which gives wide
    intervals: "inconclusive" unless the preference is clear even so.
    """
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.task import load_task
    from assay.stats import Estimate

    path = Path(data) if data is not None else CROWS_SAMPLE
    task = load_task("crows-pairs").with_overrides(**{"dataset.options.path": str(path)})
    eval_run = evaluate(
        task,
        model,
        EvalOptions(limit=limit, progress=False),
        on_status=on_status or (lambda m: None),
    )
    metrics = eval_run.metrics or {}
    pct = Estimate.from_dict(metrics["metrics"]["pct_stereotype"])
    by_type = {
        str(t): {k: Estimate.from_dict(v) for k, v in per.items()}
        for t, per in (metrics.get("by_category") or {}).items()
    }
    items = [
        {
            "id": t,
            "pairs": per["pct_stereotype"].n,
            "pct_stereotype": per["pct_stereotype"].value,
            "ci_low": per["pct_stereotype"].ci_low,
            "ci_high": per["pct_stereotype"].ci_high,
        }
        for t, per in by_type.items()
        if "pct_stereotype" in per
    ]
    sample = "the bundled 54-pair sample" if data is None else str(path)
    if not pct.contains(0.5):
        status: Any = "flagged"
        lean = "more" if pct.value > 0.5 else "less"
        headline = (
            f"prefers the {lean} stereotyping sentence in {pct.value:.0%} of {pct.n} pairs "
            f"(0.5 = no preference; the interval excludes it); CrowS-Pairs, {sample}"
        )
    else:
        status = "inconclusive" if pct.half_width > 0.1 else "ok"
        headline = (
            f"no clear stereotype preference: {pct.value:.0%} of {pct.n} pairs, interval "
            f"includes 0.5"
            + (" but is too wide to rule out one" if status != "ok" else "")
            + f"; CrowS-Pairs, {sample}"
        )
    return CheckResult(
        kind="stereotype",
        status=status,
        headline=headline,
        subject=run_id or eval_run.id,
        figures={"pct_stereotype": pct},
        items=items,
        config={"eval_run": eval_run.id, "data": str(path), "limit": limit},
        run_id=run_id,
        model=eval_run.model,
    )


def check_stereotype(
    model_or_run: Any = "default",
    *,
    data: str | Path | None = None,
    limit: int | None = None,
    workspace: Workspace | None = None,
    record: bool = True,
) -> CheckResult:
    """Stereotype preference (CrowS-Pairs) of a model, or of a finished run's model (then the
    check belongs to that run and shows in its report). Recorded unless ``record=False``.

        >>> assay.check_stereotype("default")                             # doctest: +SKIP
    """
    from assay.checks.subjects import check_model

    result: CheckResult = check_model(
        stereotype_check, model_or_run, workspace, record, data=data, limit=limit
    )
    return result


def stereotype(run: RunRow, options: CheckOptions) -> CheckResult | Skip:
    from assay.models.facade import Model

    model = Model.load(run.model, workspace=options.workspace)
    try:
        return stereotype_check(model, data=options.bias_data, limit=options.limit, run_id=run.id)
    except UnsupportedOperationError as exc:
        return Skip(
            "stereotype", f"{run.model} cannot score sentences by log-likelihood ({exc.message})"
        )


# -- hallucination: fabricated references --------------------------------------------------------


def citations(run: RunRow, options: CheckOptions) -> CheckResult | Skip:
    from assay.checks.citations import SCORED_KINDS, check_citations

    collection = options.collection
    if options.bib is None and collection is None:
        collection = ((run.config.get("dataset") or {}).get("options") or {}).get("collection")
    if options.bib is None and collection is None:
        return Skip("citations", "needs a bibliography: --bib REFS.bib or -c COLLECTION")
    if run.config.get("kind", "generate") in SCORED_KINDS:
        return Skip("citations", f"the run ({run.config.get('kind')}) generates no text")
    return check_citations(
        run.id, bib=options.bib, collection=collection, workspace=options.workspace, record=False
    )


# -- hallucination: claims against the passages a RAG run showed ------------------------------------


def _chunk_texts(workspace: Workspace, ids: set[int]) -> dict[int, str]:
    marks = ",".join("?" * len(ids))
    rows = workspace.db.execute(f"SELECT id, text FROM rag_chunks WHERE id IN ({marks})", list(ids))
    return {int(r["id"]): str(r["text"]) for r in rows}


def faithfulness(run: RunRow, options: CheckOptions) -> CheckResult | Skip:
    """Each claim of a RAG run's answers judged against the passages that sample was shown
    (:mod:`assay.rag.faithfulness`); the judge is ``--judge`` or the run's own model."""
    from assay.checks.citations import SCORED_KINDS
    from assay.rag.faithfulness import check_faithfulness

    if not (run.config.get("retrieval") or {}).get("k", 0):
        return Skip("faithfulness", "the run was shown no passages (not a RAG run: eval --rag)")
    if run.config.get("kind", "generate") in SCORED_KINDS:
        return Skip("faithfulness", f"the run ({run.config.get('kind')}) generates no text")
    samples = RunStore(options.workspace).samples(run.id)[: options.limit]
    shown = [s for s in samples if s.get("output") and (s.get("retrieval") or {}).get("chunk_ids")]
    if not shown:
        return Skip("faithfulness", "no sample was shown passages")
    texts = _chunk_texts(
        options.workspace, {int(c) for s in shown for c in s["retrieval"]["chunk_ids"]}
    )
    answers = [
        {
            "id": s["id"],
            "answer": s["output"],
            "question": s["retrieval"].get("query", ""),
            "sources": {
                n: texts.get(int(c), "") for n, c in enumerate(s["retrieval"]["chunk_ids"], 1)
            },
        }
        for s in shown
    ]
    judge = options.judge or run.model
    report = check_faithfulness(answers, judge=judge, workspace=options.workspace)
    judged = [c for a in report.answers for c in a.judged]
    bad = [c for c in judged if c.verdict != "supported"]
    figures: dict[str, Any] = {
        k: report.summary[k]
        for k in ("faithfulness_pooled", "contradiction_rate_pooled", "citation_precision_pooled")
        if k in report.summary
    }
    return CheckResult(
        kind="faithfulness",
        status=status_from(bool(bad), n=len(judged)),
        headline=(
            f"{len(judged) - len(bad)} of {len(judged)} claims in {len(answers)} answers "
            f"supported by the passages they cite ({sum(c.verdict == 'contradicted' for c in judged)} "
            f"contradicted); judge {report.judge}"
        ),
        subject=run.id,
        figures=figures,
        items=[{**a.to_dict(), "sources": a.answer.sources} for a in report.answers],
        config={"judge": report.judge, "splitter": report.splitter, "limit": options.limit},
        run_id=run.id,
        model=run.model,
    )


# -- all of them ---------------------------------------------------------------------------------


def _runner(spec: str) -> Callable[[RunRow, CheckOptions], CheckResult | Skip]:
    module, _, name = spec.partition(":")
    fn: Callable[[RunRow, CheckOptions], CheckResult | Skip] = getattr(
        importlib.import_module(module), name
    )
    return fn


def check_all(
    run_id: str,
    *,
    against: Sequence[str] = (),
    bib: str | None = None,
    collection: str | None = None,
    bias_data: str | None = None,
    judge: str | None = None,
    limit: int | None = None,
    bbq_data: str | None = None,
    swap: str | None = None,
    reference: str | None = None,
    workspace: Workspace | None = None,
    on_result: Callable[[CheckResult | Skip], None] | None = None,
) -> list[CheckResult | Skip]:
    """Run every check that applies to run ``run_id``; record each; return results and skips.

    >>> assay.check_all(run.id, against=["train.jsonl"], bib="refs.bib")   # doctest: +SKIP
    """
    options = CheckOptions(
        workspace or Workspace.find(),
        against=tuple(str(a) for a in against),
        bib=bib,
        collection=collection,
        bias_data=bias_data,
        judge=judge,
        limit=limit,
        bbq_data=bbq_data,
        swap=swap,
        reference=reference,
    )
    store = RunStore(options.workspace)
    run = store.get(run_id)
    run.require_finished("checks")
    # Every check runs before any is recorded: bad input to one of them (a bibliography that
    # does not parse) leaves the workspace as it was.
    results = [_runner(k.runner)(run, options) for k in KINDS.values() if k.runner is not None]
    checks = CheckStore(options.workspace)
    out: list[CheckResult | Skip] = []
    for result in results:
        if isinstance(result, CheckResult):
            result = checks.add(result)
        out.append(result)
        if on_result is not None:
            on_result(result)
    return out


__all__ = [
    "CROWS_SAMPLE",
    "CheckOptions",
    "check_all",
    "check_stereotype",
    "citations",
    "clean_subsets",
    "contamination",
    "contamination_result",
    "faithfulness",
    "stereotype",
    "stereotype_check",
]
