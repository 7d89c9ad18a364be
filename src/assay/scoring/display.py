"""Scores as terminal tables, JSON data and CSV rows."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.scoring.continuation import ContinuationScore
    from assay.scoring.perplexity import Perplexity
    from assay.stats import Comparison

_TEXT_WIDTH = 48


def _clip(text: str, width: int = _TEXT_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _shown(token: str) -> str:
    """A token quoted, so its leading space and line breaks show."""
    return repr(token)


def perplexity_table(results: Sequence[Perplexity]) -> str:
    """One row per text (tokens, then each model's perplexity), then the corpus rows."""
    ids = [t.id for t in results[0].texts]
    width = max(4, *(len(i) for i in ids))
    cols = [f"{_clip(r.model, 24):>24}" for r in results]
    lines = [f"{'text':<{width}}  {'tokens':>6}  " + "  ".join(cols) + "  text"]
    by_model = [{t.id: t for t in r.texts} for r in results]
    for i, text in zip(ids, results[0].texts, strict=True):
        values = [f"{m[i].perplexity:>24.4g}" if i in m else f"{'-':>24}" for m in by_model]
        lines.append(
            f"{i:<{width}}  {text.n_tokens:>6}  " + "  ".join(values) + f"  {_clip(text.text)}"
        )
    if len(ids) > 1:
        corpus = [f"{r.perplexity:>24.4g}" for r in results]
        lines.append(f"{'all':<{width}}  {results[0].n_tokens:>6}  " + "  ".join(corpus))
    lines.append("")
    for r in results:
        interval = r.interval()
        shown = f"{r.perplexity:.4g}" if interval is None else str(interval)
        lines.append(
            f"{r.model}: corpus perplexity {shown} over {r.n_tokens} tokens in "
            f"{len(r.texts)} text(s) (token-weighted)"
        )
    if len({r.n_tokens for r in results}) > 1:
        lines.append(
            "note: the models tokenize the texts differently, so their per-token perplexities "
            "are not directly comparable"
        )
    return "\n".join(lines)


def comparison_line(a: str, b: str, comparison: Comparison) -> str:
    from assay.stats.paired import format_p

    d = comparison.difference
    return (
        f"{a} vs {b}: mean log-perplexity difference {d.format(signed=True)}, "
        f"{format_p(comparison.p_value)} (paired bootstrap over {comparison.n_shared} texts; "
        f"perplexity ratio {math.exp(d.value):.3f} [{math.exp(d.ci_low):.3f}, "
        f"{math.exp(d.ci_high):.3f}])"
    )


def comparison_dict(a: str, b: str, comparison: Comparison) -> dict[str, Any]:
    d = comparison.difference
    return {
        "a": a,
        "b": b,
        "measure": "mean per-text log-perplexity, a - b",
        "difference": d.value,
        "ci_low": d.ci_low,
        "ci_high": d.ci_high,
        "confidence": d.confidence,
        "p_value": comparison.p_value,
        "test": comparison.test,
        "n_texts": comparison.n_shared,
        "perplexity_ratio": math.exp(d.value),
    }


def continuation_table(score: ContinuationScore) -> str:
    """One row per continuation token: log-probability, probability, then the alternatives."""
    rows = [
        f"{score.model}",
        f"{'#':>3}  {'token':<16}  {'logprob':>8}  {'prob':>6}  top alternatives (logprob)",
    ]
    for t in score.tokens:
        mark = "" if t.is_top else " *"
        top = ", ".join(f"{_shown(a.token)} {a.logprob:.2f}" for a in t.top)
        rows.append(
            f"{t.position:>3}  {_clip(_shown(t.token), 16) + mark:<16}  {t.logprob:>8.3f}  "
            f"{t.probability:>6.3f}  {top}"
        )
    rows.append(
        f"total log-probability {score.logprob:.4f} over {score.n_tokens} token(s), "
        f"perplexity {score.perplexity:.4g}"
        + (
            "; every token was the model's first choice"
            if score.is_greedy
            else "; * not the model's first choice"
        )
    )
    return "\n".join(rows)


def perplexity_csv(results: Sequence[Perplexity]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["model", "id", "n_tokens", "logprob", "log_perplexity", "perplexity", "text"])
    for r in results:
        for t in r.texts:
            writer.writerow(
                [r.model, t.id, t.n_tokens, t.logprob, t.log_perplexity, t.perplexity, t.text]
            )
    return out.getvalue()


def continuation_csv(scores: Sequence[ContinuationScore]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["model", "position", "token", "logprob", "is_top", "top"])
    for s in scores:
        for t in s.tokens:
            top = "; ".join(f"{a.token!r}:{a.logprob:.6g}" for a in t.top)
            writer.writerow([s.model, t.position, t.token, t.logprob, t.is_top, top])
    return out.getvalue()


__all__ = [
    "comparison_dict",
    "comparison_line",
    "continuation_csv",
    "continuation_table",
    "perplexity_csv",
    "perplexity_table",
]
