"""What a report shows, computed from a run record and its samples (no HTML, no plotting).

Everything here reads the stored records only: the metric direction and labels come from the
run's resolved task config, the confusion matrix from the per-sample answers, the order of the
sample table from the per-sample scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.evals.runs import RunRow
from assay.stats import Calibration, CalibrationBin, Estimate

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NO_ANSWER = "(no answer)"
OTHER = "(other)"
MAX_LABELS = 20
"""A generate task whose gold answers take more values than this is not treated as labels."""


# -- metrics -------------------------------------------------------------------------------------


def metric_estimates(run: RunRow) -> dict[str, Estimate]:
    """The run's headline metrics, in the order the task lists its scorers."""
    raw = (run.metrics or {}).get("metrics", {})
    return {name: Estimate.from_dict(est) for name, est in raw.items()}


def category_estimates(run: RunRow) -> dict[str, dict[str, Estimate]]:
    """``{category: {metric: Estimate}}``; empty when the task has no category field."""
    raw = (run.metrics or {}).get("by_category") or {}
    return {
        str(cat): {name: Estimate.from_dict(est) for name, est in per.items()}
        for cat, per in raw.items()
    }


def calibration_of(run: RunRow) -> tuple[str, Calibration] | None:
    """The stored reliability table as a ``Calibration`` and the metric it was computed for."""
    raw = (run.metrics or {}).get("calibration")
    if not raw or not raw.get("bins"):
        return None
    bins = tuple(CalibrationBin(**b) for b in raw["bins"])
    n = sum(b.count for b in bins)
    return str(raw.get("metric", "")), Calibration(bins, float(raw["ece"]), float(raw["mce"]), n)


def scorer_options(run: RunRow) -> dict[str, dict[str, Any]]:
    """``{scorer name: options}`` from the task config (strings and ``{name, options}`` forms)."""
    out: dict[str, dict[str, Any]] = {}
    for s in run.config.get("scorers") or []:
        if isinstance(s, str):
            out[s] = {}
        elif isinstance(s, Mapping) and "name" in s:
            out[str(s["name"])] = dict(s.get("options") or {})
    return out


def higher_is_better(run: RunRow, metric: str) -> bool:
    """Whether larger per-sample values of ``metric`` are better (perplexity: no)."""
    try:
        from assay.evals.scorers import get_scorer

        return bool(get_scorer(metric, **scorer_options(run).get(metric, {})).higher_is_better)
    except Exception:  # a user scorer that cannot be imported here; most metrics rise
        return True


def in_unit_range(*values: float) -> bool:
    return all(-1e-9 <= v <= 1 + 1e-9 for v in values)


def is_binary(values: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def score_values(samples: Sequence[Mapping[str, Any]], metric: str) -> list[float]:
    out = []
    for s in samples:
        v = (s.get("scores") or {}).get(metric)
        if isinstance(v, (int, float)):
            out.append(float(v))
    return out


def continuous_metrics(samples: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> list[str]:
    """Metrics whose per-sample scores are not all 0/1: these get a histogram."""
    out = []
    for m in metrics:
        values = score_values(samples, m)
        if len(values) >= 2 and not is_binary(values):
            out.append(m)
    return out


# -- the sample table ----------------------------------------------------------------------------


def primary_metric(run: RunRow, samples: Sequence[Mapping[str, Any]]) -> str | None:
    """The metric the sample table is sorted by: the task's first, else the first one scored."""
    names = list((run.metrics or {}).get("metrics", {}))
    names += [n for n in scorer_options(run) if n not in names]
    for s in samples:
        names += [n for n in (s.get("scores") or {}) if n not in names]
    for n in names:
        if any(n in (s.get("scores") or {}) for s in samples):
            return n
    return None


def failures_first(
    samples: Sequence[Mapping[str, Any]], metric: str | None, higher_better: bool = True
) -> list[Mapping[str, Any]]:
    """Worst first: by the metric (lowest, or highest where lower is better), extraction failures
    before other items of the same score, then dataset order."""

    def key(s: Mapping[str, Any]) -> tuple[float, int, int]:
        v = (s.get("scores") or {}).get(metric) if metric else None
        score = float(v) if isinstance(v, (int, float)) else float("-inf")
        if not higher_better and isinstance(v, (int, float)):
            score = -score
        return (score, 1 if s.get("extraction_ok", True) else 0, int(s.get("idx", 0)))

    return sorted(samples, key=key)


def status_of(sample: Mapping[str, Any], metric: str | None, binary: bool = True) -> str:
    """``failed`` (no answer could be read), ``wrong``/``correct`` (a 0/1 metric), else
    ``scored``."""
    if not sample.get("extraction_ok", True):
        return "failed"
    v = (sample.get("scores") or {}).get(metric) if metric else None
    if not binary:
        return "scored"
    if v == 1:
        return "correct"
    if v == 0:
        return "wrong"
    return "scored"


def chosen_index(sample: Mapping[str, Any]) -> int | None:
    """The option a multiple-choice sample picked: highest log-likelihood, first on ties."""
    lls = sample.get("loglikelihoods")
    if not isinstance(lls, list) or not lls:
        return None
    try:
        values = [float(x) for x in lls]
    except (TypeError, ValueError):
        return None
    return max(range(len(values)), key=lambda i: (values[i], -i))


def letter(i: int) -> str:
    return LETTERS[i] if 0 <= i < len(LETTERS) else str(i)


def choice_text(sample: Mapping[str, Any], index: Any) -> str:
    """``"B. green"`` for option 1 of a multiple-choice sample."""
    if not isinstance(index, int) or isinstance(index, bool):
        return "" if index is None else str(index)
    choices = sample.get("choices")
    if isinstance(choices, list) and 0 <= index < len(choices):
        return f"{letter(index)}. {choices[index]}"
    return letter(index)


# -- confusion -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confusion:
    rows: tuple[str, ...]
    """Gold labels, in the order of the matrix rows."""
    columns: tuple[str, ...]
    """Predicted labels: the rows' labels, then ``(other)`` / ``(no answer)`` when they occur."""
    counts: tuple[tuple[int, ...], ...]
    row_title: str
    column_title: str
    caption: str

    @property
    def n(self) -> int:
        return sum(sum(r) for r in self.counts)


def confusion(run: RunRow, samples: Sequence[Mapping[str, Any]]) -> Confusion | None:
    """Gold against predicted labels, for multiple choice and classification-like generate tasks.

    Multiple choice: options by letter (chosen vs gold). Generate: when the gold answers are a few
    labels (the ``labels`` option of a scorer, else at most :data:`MAX_LABELS` distinct values that
    repeat), extracted answer vs gold; answers that are none of the labels go to ``(other)``,
    extraction failures to ``(no answer)``.
    """
    if not samples:
        return None
    kind = run.config.get("kind", "generate")
    if kind == "multiple_choice":
        return _mc_confusion(samples)
    if kind == "generate":
        return _label_confusion(run, samples)
    return None


def _mc_confusion(samples: Sequence[Mapping[str, Any]]) -> Confusion | None:
    pairs = []
    width = 0
    for s in samples:
        chosen, gold = chosen_index(s), s.get("target")
        if chosen is None or not isinstance(gold, int) or isinstance(gold, bool):
            continue
        pairs.append((gold, chosen))
        width = max(width, len(s.get("loglikelihoods") or []), gold + 1)
    if not pairs or width < 2:
        return None
    labels = tuple(letter(i) for i in range(width))
    counts = [[0] * width for _ in range(width)]
    for gold, chosen in pairs:
        counts[gold][chosen] += 1
    return Confusion(
        labels,
        labels,
        tuple(tuple(r) for r in counts),
        "Gold option",
        "Chosen option",
        "Rows: the gold option; columns: the option with the highest log-likelihood. A column "
        "that collects most answers points to a position bias.",
    )


def _label(x: Any, ignore_case: bool) -> str:
    s = "" if x is None else str(x).strip()
    return s.lower() if ignore_case else s


def _label_confusion(run: RunRow, samples: Sequence[Mapping[str, Any]]) -> Confusion | None:
    options = scorer_options(run)
    ignore_case = any(bool(o.get("ignore_case")) for o in options.values())
    targets = [s.get("target") for s in samples]
    if any(isinstance(t, (list, dict)) for t in targets):
        return None
    given = next((o["labels"] for o in options.values() if o.get("labels")), None)
    if given:
        labels = list(dict.fromkeys(_label(x, ignore_case) for x in given))
    else:
        labels = sorted({_label(t, ignore_case) for t in targets})
        if not 2 <= len(labels) <= MAX_LABELS or len(labels) > len(samples) / 2:
            return None
    extra = [_label(t, ignore_case) for t in targets if _label(t, ignore_case) not in labels]
    labels += sorted(set(extra))
    index = {lab: i for i, lab in enumerate(labels)}
    predicted = []
    for s in samples:
        if not s.get("extraction_ok", True):
            predicted.append(NO_ANSWER)
            continue
        value = s.get("extracted", s.get("prediction"))
        lab = _label(value, ignore_case)
        predicted.append(lab if lab in index else OTHER)
    columns = list(labels)
    columns += [c for c in (OTHER, NO_ANSWER) if c in predicted]
    cindex = {c: i for i, c in enumerate(columns)}
    counts = [[0] * len(columns) for _ in labels]
    for t, p in zip(targets, predicted, strict=True):
        counts[index[_label(t, ignore_case)]][cindex[p]] += 1
    return Confusion(
        tuple(labels),
        tuple(columns),
        tuple(tuple(r) for r in counts),
        "Gold label",
        "Extracted answer",
        "Rows: the gold label; columns: the answer read from the output"
        + (" (case ignored)" if ignore_case else "")
        + f". {OTHER}: an answer that is none of the labels; {NO_ANSWER}: no answer could be "
        "read.",
    )


__all__ = [
    "Confusion",
    "calibration_of",
    "category_estimates",
    "choice_text",
    "chosen_index",
    "confusion",
    "continuous_metrics",
    "failures_first",
    "higher_is_better",
    "metric_estimates",
    "primary_metric",
    "scorer_options",
    "status_of",
]
