"""Perplexity of texts under a model, per text and over the corpus, and the paired comparison
of two models on the same texts.

Per text: ``log_perplexity = -logprob / n_tokens`` (mean negative log-likelihood per token) and
``perplexity = exp(log_perplexity)``. Corpus: token-weighted, ``exp(-sum(logprob) /
sum(n_tokens))``, with a bootstrap interval over texts (the corpus perplexity recomputed on
each resample, never a mean of per-text perplexities). Two models compare on the per-text
log-perplexity difference, paired by text id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import UserError
from assay.scoring.common import PerToken, scoring_model

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.stats import Comparison, Estimate

Texts = str | Sequence[str] | Sequence[tuple[str, str]] | Mapping[str, str]
"""One text, a list of texts (ids "1", "2", ...), ``(id, text)`` pairs, or ``{id: text}``."""


@dataclass(frozen=True)
class TextPerplexity(PerToken):
    id: str
    text: str
    logprob: float
    """Total log-likelihood of the text (natural log)."""
    n_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "n_tokens": self.n_tokens,
            "logprob": self.logprob,
            "log_perplexity": self.log_perplexity,
            "perplexity": self.perplexity,
        }


@dataclass(frozen=True)
class Perplexity(PerToken):
    """One model's perplexity on a set of texts (corpus-level: token-weighted)."""

    model: str
    """The model as it was named (an alias such as ``default``, or an address)."""
    address: str
    """The address it resolved to."""
    texts: tuple[TextPerplexity, ...]

    @property
    def logprob(self) -> float:
        return sum(t.logprob for t in self.texts)

    @property
    def n_tokens(self) -> int:
        return sum(t.n_tokens for t in self.texts)

    def interval(self, confidence: float = 0.95) -> Estimate | None:
        """The corpus perplexity with a bootstrap interval over texts (None for one text)."""
        if len(self.texts) < 2:
            return None
        import numpy as np

        from assay.evals.scorers.corpus_stats import perplexity_stats
        from assay.stats import bootstrap_ci, summed_statistic

        stats, finish = perplexity_stats([(t.logprob, t.n_tokens) for t in self.texts])
        metric = summed_statistic(stats, finish)
        return bootstrap_ci(
            metric, np.arange(len(self.texts)), confidence=confidence, vectorized=True
        )

    def to_dict(self) -> dict[str, Any]:
        interval = self.interval()
        return {
            "model": self.model,
            "address": self.address,
            "corpus": {
                "n_texts": len(self.texts),
                "n_tokens": self.n_tokens,
                "logprob": self.logprob,
                "log_perplexity": self.log_perplexity,
                "perplexity": self.perplexity,
                "interval": None if interval is None else interval.to_dict(),
            },
            "texts": [t.to_dict() for t in self.texts],
        }


def _items(texts: Texts) -> list[tuple[str, str]]:
    if isinstance(texts, str):
        return [("1", texts)]
    if isinstance(texts, Mapping):
        return [(str(k), v) for k, v in texts.items()]
    items = list(texts)
    if all(isinstance(t, str) for t in items):
        return [(str(i), t) for i, t in enumerate(items, start=1)]  # type: ignore[misc]
    return [(str(k), v) for k, v in items]


def score(model: Model | str, texts: Texts, *, progress: bool = False) -> Perplexity:
    """Perplexity of each text under ``model`` and over all of them (token-weighted).

    Texts longer than the model's context are scored in windows, every token once, as
    lm-evaluation-harness's ``loglikelihood_rolling`` does; results are cached and each call is
    logged with the tokens it read.

        >>> result = assay.score("default", ["The cat sat on the mat."])   # doctest: +SKIP
        >>> result.perplexity, result.texts[0].n_tokens                    # doctest: +SKIP
    """
    items = _items(texts)
    if not items:
        raise UserError("no texts to score")
    ids = [i for i, _ in items]
    if len(set(ids)) != len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise UserError(f"text id {twice!r} is used more than once; ids must be unique")
    for text_id, text in items:
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"text {text_id!r} is empty: there is nothing to score")
    loaded = scoring_model(model)
    rolled = loaded.loglikelihood_rolling([t for _, t in items], progress=progress)
    scored = []
    for (text_id, text), r in zip(items, rolled, strict=True):
        if r.n_tokens == 0:
            raise UserError(f"text {text_id!r} has no tokens to score under {loaded.address}")
        scored.append(TextPerplexity(text_id, text, r.logprob, r.n_tokens))
    name = model if isinstance(model, str) else loaded.address
    return Perplexity(name, loaded.address, tuple(scored))


def compare_perplexity(
    a: Perplexity,
    b: Perplexity,
    *,
    confidence: float = 0.95,
    min_shared: int | None = None,
    seed: int = 0,
) -> Comparison:
    """``a`` against ``b`` on the texts they share (matched by id): the mean per-text
    log-perplexity difference ``a - b`` (negative: ``a`` predicts the texts better; ``exp`` of it
    is the typical perplexity ratio), with a paired bootstrap interval and p-value."""
    from assay.stats import compare
    from assay.stats.paired import DEFAULT_MIN_SHARED

    theirs = {t.id: t.text for t in b.texts}
    for t in a.texts:
        if t.id in theirs and theirs[t.id] != t.text:
            raise UserError(
                f"text {t.id!r} is not the same text in both results",
                hint="compare models scored on the same texts",
            )
    return compare(
        {t.id: t.log_perplexity for t in a.texts},
        {t.id: t.log_perplexity for t in b.texts},
        test="bootstrap",
        confidence=confidence,
        min_shared=DEFAULT_MIN_SHARED if min_shared is None else min_shared,
        seed=seed,
    )


__all__ = ["Perplexity", "TextPerplexity", "Texts", "compare_perplexity", "score"]
