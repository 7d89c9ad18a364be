"""Paired comparison of runs over the samples they share, ready for a paper.

The first run is the baseline; every other run is compared with it on every per-sample metric
they share: exact McNemar for 0/1 scores, paired bootstrap otherwise; Holm's correction across
all the comparisons made; the minimum detectable effect at that sample size.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from assay.errors import UserError
from assay.evals.runs import RunRow, RunStore
from assay.evals.stats import Comparison, compare, holm


@dataclass
class Row:
    baseline: str
    other: str
    metric: str
    result: Comparison
    p_holm: float = 1.0
    reject: bool = False


def _scores(store: RunStore, run: RunRow, metric: str) -> dict[str, float]:
    return {
        s["id"]: float(s["scores"][metric])
        for s in store.samples(run.id)
        if metric in s.get("scores", {})
    }


def compare_runs(
    store: RunStore, run_ids: list[str], metrics: list[str] | None = None, alpha: float = 0.05
) -> list[Row]:
    if len(run_ids) < 2:
        raise UserError(
            "compare needs at least two runs", hint="assay compare RUN_A RUN_B [RUN_C ...]"
        )
    runs = [store.get(r) for r in run_ids]
    base = runs[0]
    rows: list[Row] = []
    for other in runs[1:]:
        names = metrics or [
            m
            for m in (base.metrics or {}).get("metrics", {})
            if m in (other.metrics or {}).get("metrics", {})
        ]
        corpus = {
            m
            for m in names
            if (base.metrics or {})
            .get("metrics", {})
            .get(m, {})
            .get("method", "")
            .startswith("bootstrap")
        }
        if not names:
            raise UserError(f"runs {base.id} and {other.id} share no metric to compare")
        for metric in names:
            if metric in corpus:
                continue  # corpus-level metrics have no per-sample score to pair
            a, b = _scores(store, other, metric), _scores(store, base, metric)
            shared = len(set(a) & set(b))
            if shared < 10:
                raise UserError(
                    f"runs {other.id} and {base.id} share only {shared} sample(s) "
                    f"({len(a)} and {len(b)} in each); a paired comparison needs at least 10",
                    hint="evaluate both on the same task, data and --limit/--seed",
                )
            rows.append(Row(base.id, other.id, metric, compare(a, b, alpha=alpha)))
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
