"""Paired comparison of runs over the samples they share, ready for a paper.

The first run is the baseline; every other run is compared with it on every metric they share:
exact McNemar for 0/1 scores, paired bootstrap of the mean otherwise, and for corpus metrics
(BLEU, chrF, macro-F1, perplexity: not means of per-sample scores) a paired bootstrap that
recomputes the corpus metric on each resample; Holm's correction across all the comparisons
made; the minimum detectable effect at that sample size.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from assay.errors import UserError
from assay.evals.runs import RunRow, RunStore
from assay.stats import Comparison, compare, compare_corpus, holm


@dataclass
class Row:
    baseline: str
    other: str
    metric: str
    result: Comparison
    p_holm: float = 1.0
    reject: bool = False


MIN_SHARED = 10


def _scores(store: RunStore, run: RunRow, metric: str) -> dict[str, float]:
    return {
        s["id"]: float(s["scores"][metric])
        for s in store.samples(run.id)
        if metric in s.get("scores", {})
    }


def _metric_methods(run: RunRow) -> dict[str, str]:
    return {
        name: str(m.get("method", "")) for name, m in (run.metrics or {}).get("metrics", {}).items()
    }


def _too_few(base: RunRow, other: RunRow, shared: int, n_other: int, n_base: int) -> UserError:
    return UserError(
        f"runs {other.id} and {base.id} share only {shared} sample(s) "
        f"({n_other} and {n_base} in each); a paired comparison needs at least {MIN_SHARED}",
        hint="evaluate both on the same task, data and --limit/--seed",
    )


def _check_same_items(base: RunRow, other: RunRow) -> None:
    """Samples pair by item id, which names the same item only within the same data: refuse
    runs on different data (item identity = the dataset's source hash + the item id)."""
    data_base = (base.provenance or {}).get("dataset", {})
    data_other = (other.provenance or {}).get("dataset", {})
    hash_base, hash_other = data_base.get("sha256"), data_other.get("sha256")
    if hash_base and hash_other and hash_base != hash_other:
        raise UserError(
            f"runs {other.id} ({other.task}, data {data_other.get('source')} sha256 "
            f"{hash_other[:12]}) and {base.id} ({base.task}, data {data_base.get('source')} "
            f"sha256 {hash_base[:12]}) were evaluated on different data, so their samples "
            "are not the same items and cannot be paired",
            hint="compare runs on the same dataset (same file, same contents)",
        )


def _scorer_spec(run: RunRow, metric: str) -> dict[str, Any] | None:
    for spec in (run.provenance or {}).get("scorers", []) or []:
        if spec.get("name") == metric:
            return {"name": metric, "options": dict(spec.get("options") or {})}
    return None


def _corpus_scorer(base: RunRow, other: RunRow, metric: str) -> Any:
    """The scorer behind a corpus metric, rebuilt from the baseline run's record."""
    from assay.evals.scorers import get_scorer

    spec = _scorer_spec(base, metric)
    if spec is None:
        raise UserError(
            f"run {base.id} does not record how '{metric}' was computed, so the corpus metric "
            "cannot be recomputed on resamples",
            hint="leave it out with --metric NAME for the other metrics, or re-run the evaluation",
        )
    other_spec = _scorer_spec(other, metric)
    if other_spec is not None and other_spec != spec:
        raise UserError(
            f"runs {base.id} and {other.id} computed '{metric}' with different options "
            f"({spec['options']} and {other_spec['options']})",
            hint="compare runs scored the same way",
        )
    return get_scorer(spec["name"], **spec["options"])


def _compare_corpus(
    store: RunStore, base: RunRow, other: RunRow, metric: str, alpha: float
) -> Comparison:
    """Paired bootstrap of a corpus metric: both runs' shared samples laid end to end (other
    first, as run A), the corpus value recomputed on every resample."""
    from assay.evals.metrics import corpus_metric

    scorer = _corpus_scorer(base, other, metric)
    samples_a = {s["id"]: s for s in store.samples(other.id)}
    samples_b = {s["id"]: s for s in store.samples(base.id)}
    shared = [k for k in samples_a if k in samples_b]
    if len(shared) < MIN_SHARED:
        raise _too_few(base, other, len(shared), len(samples_a), len(samples_b))
    stacked = [samples_a[k] for k in shared] + [samples_b[k] for k in shared]
    fn, vectorized = corpus_metric(scorer, stacked)
    return compare_corpus(
        fn,
        len(shared),
        vectorized=vectorized,
        n_only_a=len(samples_a) - len(shared),
        n_only_b=len(samples_b) - len(shared),
        min_shared=MIN_SHARED,
        alpha=alpha,
    )


def compare_runs(
    store: RunStore, run_ids: list[str], metrics: list[str] | None = None, alpha: float = 0.05
) -> list[Row]:
    if len(run_ids) < 2:
        raise UserError(
            "compare needs at least two runs", hint="assay compare RUN_A RUN_B [RUN_C ...]"
        )
    runs = [store.get(r) for r in run_ids]
    for run in runs:
        run.require_finished("a comparison")
    base = runs[0]
    base_methods = _metric_methods(base)
    rows: list[Row] = []
    for other in runs[1:]:
        _check_same_items(base, other)
        other_methods = _metric_methods(other)
        names = metrics or [m for m in base_methods if m in other_methods]
        if not names:
            raise UserError(f"runs {base.id} and {other.id} share no metric to compare")
        for metric in names:
            if metric not in base_methods or metric not in other_methods:
                raise UserError(
                    f"metric '{metric}' is not in both runs {base.id} and {other.id}",
                    hint=f"shared metrics: {', '.join(sorted(set(base_methods) & set(other_methods))) or 'none'}",
                )
            # Corpus-level metrics got a bootstrap interval in the run; means did not.
            if base_methods[metric].startswith("bootstrap"):
                result = _compare_corpus(store, base, other, metric, alpha)
            else:
                a, b = _scores(store, other, metric), _scores(store, base, metric)
                shared = len(set(a) & set(b))
                if shared < MIN_SHARED:
                    raise _too_few(base, other, shared, len(a), len(b))
                result = compare(a, b, alpha=alpha, min_shared=MIN_SHARED)
            rows.append(Row(base.id, other.id, metric, result))
    if rows:
        adj = holm([r.result.p_value for r in rows], alpha=alpha)
        for r, p, rej in zip(rows, adj.adjusted, adj.reject, strict=True):
            r.p_holm, r.reject = float(p), bool(rej)
    return rows


def _fmt_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def to_table(rows: list[Row]) -> list[list[str]]:
    head = [
        "run",
        "vs baseline",
        "metric",
        "run (95% CI)",
        "baseline (95% CI)",
        "difference (95% CI)",
        "test",
        "p",
        "p (Holm)",
        "n shared",
        "MDE",
    ]
    body = [head]
    for r in rows:
        c = r.result
        body.append(
            [
                r.other,
                r.baseline,
                r.metric,
                str(c.a.format()),
                str(c.b.format()),
                c.difference.format(signed=True),
                c.test,
                _fmt_p(c.p_value),
                _fmt_p(r.p_holm) + (" *" if r.reject else ""),
                str(c.n_shared),
                f"{c.mde:.3f}" if c.mde is not None else "-",
            ]
        )
    return body


def to_markdown(rows: list[Row]) -> str:
    table = to_table(rows)
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    lines.append("")
    lines.append(
        "\\* significant at alpha = 0.05 after Holm's correction across all comparisons. "
        "MDE: the smallest difference detectable with 80% power at this sample size."
    )
    return "\n".join(lines) + "\n"


def to_html(rows: list[Row], title: str = "Paired comparison") -> str:
    table = to_table(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in table[1:]
    )
    return (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}</style>"
        f"<h1>{html.escape(title)}</h1><table><tr>{head}</tr>{body}</table>"
        "<p>* significant at alpha = 0.05 after Holm's correction. MDE: minimum detectable effect "
        "(80% power).</p>"
    )


def to_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    return [
        {
            "run": r.other,
            "baseline": r.baseline,
            "metric": r.metric,
            "p_holm": r.p_holm,
            "significant": r.reject,
            **r.result.to_dict(),
        }
        for r in rows
    ]


__all__ = ["Row", "compare_runs", "to_dicts", "to_html", "to_markdown"]
