"""Membership signals: was a text in the data a model was trained on, when that data is not
available to look at (a model's pretraining)?

Per text, from the model's token log-probabilities (one pass; local transformers models):

- **Min-K% Prob** (Shi et al., 2023, "Detecting Pretraining Data from Large Language
  Models"): the mean log-probability of the k% of tokens the model found least likely. A text
  seen in training has few very unlikely tokens, so a higher value suggests membership.
- **Min-K%++** (Zhang et al., 2024, "Min-K%++: Improved Baseline for Detecting Pre-Training
  Data from Large Language Models"): each token's log-probability standardised by the model's
  next-token distribution at that position, (log p(x_t) - mu_t) / sigma_t with
  mu_t = E_{z~p}[log p(z)] and sigma_t^2 = Var_{z~p}[log p(z)]; then the mean of the lowest
  k%. Training makes a text's tokens local maxima of the likelihood, which this measures.

k is 20% by default (both papers' recommended setting); at least one token is always used.

No threshold on one text means much, so the check compares: the task's items against a
reference set the user knows the model has *not* seen (texts of the same kind, written or
published after the model's training cut-off, say). It reports both scores' distributions and,
for each, the AUROC of telling the task's items from the reference (0.5: indistinguishable;
above: the items look seen), with a stratified bootstrap interval. *flagged* when an interval
lies above 0.5; *inconclusive* when both are wider than ±0.15, or when one lies below 0.5 (the
reference is then not like the items: longer, another style, another source); *ok* otherwise.
The signals are only as good as the reference: texts that differ from the items in length or
kind separate even on a model that saw neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.checks.record import CheckResult, CheckStore
from assay.errors import UserError
from assay.stats import Estimate
from assay.workspace import Workspace

DEFAULT_K = 0.2
RESAMPLES = 2000
WIDE = 0.15
SIGNALS = ("min_k", "min_k_pp")
NAMES = {"min_k": "Min-K% Prob", "min_k_pp": "Min-K%++"}


def _lowest_mean(values: Sequence[float], k: float) -> float:
    if not values:
        raise UserError("a text with fewer than two tokens has no membership signal")
    n = max(1, math.ceil(len(values) * k))
    return float(np.mean(np.sort(np.asarray(values, dtype=np.float64))[:n]))


def min_k_prob(logprobs: Sequence[float], k: float = DEFAULT_K) -> float:
    """Min-K% Prob: the mean of the lowest ``k`` share of token log-probabilities."""
    return _lowest_mean(logprobs, k)


def min_k_plus_plus(
    logprobs: Sequence[float], means: Sequence[float], stds: Sequence[float], k: float = DEFAULT_K
) -> float:
    """Min-K%++: the mean of the lowest ``k`` share of (log p - mu) / sigma."""
    lp, mu, sd = (np.asarray(x, dtype=np.float64) for x in (logprobs, means, stds))
    z = (lp - mu) / np.maximum(sd, 1e-12)
    return _lowest_mean(z.tolist(), k)


def auroc(members: Sequence[float] | np.ndarray, others: Sequence[float] | np.ndarray) -> float:
    """P(a member scores above a non-member), ties counting half (Mann-Whitney U / (n m))."""
    a = np.asarray(members, dtype=np.float64)
    b = np.asarray(others, dtype=np.float64)
    greater = (a[:, None] > b[None, :]).sum()
    ties = (a[:, None] == b[None, :]).sum()
    return float((greater + 0.5 * ties) / (a.size * b.size))


def auroc_ci(
    members: Sequence[float], others: Sequence[float], *, seed: int = 0, confidence: float = 0.95
) -> Estimate:
    """The AUROC with a percentile bootstrap interval, each group resampled on its own (so
    every resample keeps both groups at their sizes)."""
    a = np.asarray(members, dtype=np.float64)
    b = np.asarray(others, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        raise UserError("an AUROC interval needs at least two texts on each side")
    rng = np.random.default_rng(seed)
    values = np.empty(RESAMPLES)
    for r in range(RESAMPLES):
        values[r] = auroc(a[rng.integers(0, a.size, a.size)], b[rng.integers(0, b.size, b.size)])
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return Estimate(
        auroc(a, b),
        float(low),
        float(high),
        float(values.std(ddof=1)),
        int(a.size + b.size),
        "bootstrap-stratified-percentile",
        confidence,
    )


@dataclass(frozen=True)
class TextSignal:
    id: str
    group: str  # "task" or "reference"
    min_k: float
    min_k_pp: float
    n_tokens: int


def signals(model: Any, texts: Sequence[tuple[str, str]], group: str, k: float) -> list[TextSignal]:
    """Both signals for ``(id, text)`` pairs, from one pass of ``model`` over each text."""
    dists = model.token_distributions([t for _, t in texts])
    out = []
    for (rid, _), d in zip(texts, dists, strict=True):
        if not d.logprobs:
            raise UserError(f"{group} text {rid} has fewer than two tokens: nothing to score")
        out.append(
            TextSignal(
                rid,
                group,
                min_k_prob(d.logprobs, k),
                min_k_plus_plus(d.logprobs, d.means, d.stds, k),
                len(d.logprobs) + 1,
            )
        )
    return out


# -- the texts ------------------------------------------------------------------------------------


def task_texts(task: Any, limit: int | None = None) -> list[tuple[str, str]]:
    """Each item's text: the fields its prompt uses, then its reference, one per line (the same
    fields the contamination check reads)."""
    from assay.checks.contamination import task_items

    return [(i.id, "\n".join([*i.inputs, *i.references])) for i in task_items(task, limit)]


def reference_texts(path: str | Path, task: Any, field: str | None) -> list[tuple[str, str]]:
    """The unseen reference: a data file whose rows have ``field`` (default ``text``), or the
    same fields as the task's items."""
    from assay.evals.datasets import load_rows

    source = Path(path).expanduser()
    if not source.exists():
        raise UserError(f"the reference {source} does not exist")
    rows = load_rows(str(source)).rows
    if not rows:
        raise UserError(f"the reference {source} is empty")
    name = field or "text"
    if all(isinstance(r.get(name), str) and r[name].strip() for r in rows):
        return [(str(r["id"]), str(r[name])) for r in rows]
    if field is None:
        from assay.evals.task import DatasetConfig

        try:
            return task_texts(
                task.model_copy(
                    update={"dataset": DatasetConfig(source=str(source)), "limit": None}
                )
            )
        except UserError:
            pass
    bad = next(
        i for i, r in enumerate(rows) if not (isinstance(r.get(name), str) and r[name].strip())
    )
    raise UserError(
        f"{source}: row {bad + 1} has no text in '{name}'",
        hint="give rows with a 'text' field (or --field NAME), or the task's own fields",
    )


# -- the check -------------------------------------------------------------------------------------


def membership_check(
    task: Any,
    model: Any,
    reference: str | Path,
    *,
    k: float = DEFAULT_K,
    field: str | None = None,
    limit: int | None = None,
    run_id: str | None = None,
    on_status: Callable[[str], None] | None = None,
) -> CheckResult:
    """Min-K% Prob and Min-K%++ of ``task``'s items against the unseen ``reference`` texts."""
    from assay.stats import mean_ci

    if not 0 < k <= 1:
        raise UserError(f"k is a share of the tokens, between 0 and 1 (e.g. 0.2), not {k}")
    say = on_status or (lambda m: None)
    items = task_texts(task, limit)
    refs = reference_texts(reference, task, field)
    say(f"scoring {len(items)} task items and {len(refs)} reference texts")
    scored = [*signals(model, items, "task", k), *signals(model, refs, "reference", k)]
    figures: dict[str, Estimate] = {}
    aucs = {}
    for signal in SIGNALS:
        seen = [getattr(s, signal) for s in scored if s.group == "task"]
        unseen = [getattr(s, signal) for s in scored if s.group == "reference"]
        aucs[signal] = auroc_ci(seen, unseen, seed=getattr(task, "seed", 0))
        figures[f"AUROC {NAMES[signal]} (k={k:.0%})"] = aucs[signal]
        figures[f"{NAMES[signal]}, task items"] = mean_ci(seen)
        figures[f"{NAMES[signal]}, reference"] = mean_ci(unseen)
    above = [NAMES[s] for s, e in aucs.items() if e.ci_low > 0.5]
    below = [NAMES[s] for s, e in aucs.items() if e.ci_high < 0.5]
    wide = all(e.half_width > WIDE for e in aucs.values())
    status: Any = "flagged" if above else ("inconclusive" if wide or below else "ok")
    best = max(aucs.values(), key=lambda e: e.value)
    if above:
        headline = (
            f"the task's items look seen in training: {', '.join(above)} tell them from the "
            f"unseen reference (AUROC up to {best.value:.2f}, interval above 0.5)"
        )
    elif below:
        headline = (
            f"the reference looks more familiar to the model than the task's items ("
            f"{', '.join(below)} AUROC below 0.5): it is not a like-for-like unseen set, so "
            f"nothing can be said"
        )
    elif wide:
        headline = (
            f"too few texts to tell: AUROC {best.value:.2f} with intervals wider than "
            f"±{WIDE} ({len(items)} items, {len(refs)} reference texts)"
        )
    else:
        headline = (
            f"no sign that the items were seen in training: AUROC intervals include 0.5 "
            f"(Min-K% {aucs['min_k'].value:.2f}, Min-K%++ {aucs['min_k_pp'].value:.2f})"
        )
    return CheckResult(
        kind="membership",
        status=status,
        headline=headline + f"; {getattr(task, 'name', 'task')} against {Path(reference).name}",
        subject=str(run_id or getattr(task, "name", "task")),
        figures=figures,
        items=[
            {
                "id": s.id,
                "set": s.group,
                "min_k": round(s.min_k, 4),
                "min_k_pp": round(s.min_k_pp, 4),
                "tokens": s.n_tokens,
            }
            for s in sorted(scored, key=lambda s: -s.min_k_pp)
        ],
        config={
            "task": getattr(task, "name", None),
            "reference": str(reference),
            "k": k,
            "field": field,
            "limit": limit,
            "n_items": len(items),
            "n_reference": len(refs),
        },
        run_id=run_id,
        model=getattr(model, "address", None),
    )


def check_membership(
    task_or_run: Any,
    model: Any = None,
    *,
    reference: str | Path,
    k: float = DEFAULT_K,
    field: str | None = None,
    limit: int | None = None,
    workspace: Workspace | None = None,
    record: bool = True,
    on_status: Callable[[str], None] | None = None,
) -> CheckResult:
    """Membership signals (Min-K% Prob, Min-K%++) of a task's items (a name, a YAML file or a
    TaskConfig) on ``model``, or of a finished run's items on its model (the check then shows
    in its report), against ``reference`` texts the model has not seen. Recorded unless
    ``record=False``.

        >>> assay.check_membership("my-task.yaml", "default", reference="unseen.jsonl")  # doctest: +SKIP
    """
    from assay.checks.subjects import task_or_run as resolve
    from assay.models.facade import Model

    ws = workspace or Workspace.find()
    task, run = resolve(task_or_run, ws)
    run_id = run.id if run is not None else None
    model = model or (run.model if run is not None else None)
    loaded = (
        model if isinstance(model, Model) else Model.load(str(model or "default"), workspace=ws)
    )
    result = membership_check(
        task, loaded, reference, k=k, field=field, limit=limit, run_id=run_id, on_status=on_status
    )
    return CheckStore(ws).add(result) if record else result


def runner(run: Any, options: Any) -> Any:
    """``assay check all``: the run's items on its model, against ``--reference``."""
    from assay.checks.record import Skip
    from assay.evals.task import TaskConfig
    from assay.models.facade import Model

    if not options.reference:
        return Skip("membership", "needs texts the model has not seen: --reference FILE")
    model = Model.load(run.model, workspace=options.workspace)
    if not callable(getattr(model.backend, "token_distributions", None)):
        return Skip("membership", f"{run.model} is not a local transformers model")
    task = TaskConfig.model_validate(run.config)
    return membership_check(task, model, options.reference, limit=options.limit, run_id=run.id)


__all__ = [
    "DEFAULT_K",
    "auroc",
    "auroc_ci",
    "check_membership",
    "membership_check",
    "min_k_plus_plus",
    "min_k_prob",
    "runner",
    "signals",
]
