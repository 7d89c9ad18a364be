"""BLEU and chrF (sacrebleu) and ROUGE (rouge-score), the libraries' own implementations.

Scales are the libraries': BLEU and chrF on 0-100 (as sacrebleu prints them and papers report
them), ROUGE F-measure on 0-1. BLEU and chrF are corpus metrics: the corpus score pools n-gram
statistics over all items and is not the mean of sentence scores; the per-item numbers here are
sacrebleu's sentence-level scores (BLEU with its default ``exp`` smoothing). ROUGE is a mean of
per-item F-measures; with several references an item takes its best (rouge-score's
``score_multi``). Both libraries are optional: ``pip install sacrebleu rouge-score``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from assay.errors import MissingExtraError, UserError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def _sacrebleu() -> Any:
    try:
        import sacrebleu
    except ImportError as e:
        raise MissingExtraError("BLEU and chrF", "sacrebleu", "pip install sacrebleu") from e
    return sacrebleu


def _refs(reference: Any) -> list[str]:
    if isinstance(reference, str):
        return [reference]
    if isinstance(reference, Sequence) and reference and all(isinstance(r, str) for r in reference):
        return list(reference)
    raise UserError(f"a reference must be a string or a list of strings, got {reference!r:.80}")


def _streams(references: Sequence[Any]) -> list[list[str]]:
    """sacrebleu's layout: one list per reference position, each as long as the corpus."""
    per_item = [_refs(r) for r in references]
    n = {len(r) for r in per_item}
    if len(n) != 1:
        raise UserError("corpus BLEU/chrF needs the same number of references for every item")
    return [list(refs) for refs in zip(*per_item, strict=True)]


def sentence_bleu(prediction: str, reference: Any, **options: Any) -> float:
    return float(_sacrebleu().sentence_bleu(str(prediction), _refs(reference), **options).score)


def corpus_bleu(predictions: Sequence[str], references: Sequence[Any], **options: Any) -> float:
    sb = _sacrebleu()
    return float(
        sb.corpus_bleu([str(p) for p in predictions], _streams(references), **options).score
    )


def sentence_chrf(prediction: str, reference: Any, **options: Any) -> float:
    return float(_sacrebleu().sentence_chrf(str(prediction), _refs(reference), **options).score)


def corpus_chrf(predictions: Sequence[str], references: Sequence[Any], **options: Any) -> float:
    sb = _sacrebleu()
    return float(
        sb.corpus_chrf([str(p) for p in predictions], _streams(references), **options).score
    )


@functools.lru_cache(maxsize=16)
def rouge_scorer(types: tuple[str, ...] = ROUGE_TYPES[:3], use_stemmer: bool = True) -> Any:
    try:
        from rouge_score import rouge_scorer as rs
    except ImportError as e:
        raise MissingExtraError("ROUGE", "rouge-score", "pip install rouge-score") from e
    bad = [t for t in types if t not in ROUGE_TYPES]
    if bad:
        raise UserError(f"unknown ROUGE type(s) {bad}; known: {', '.join(ROUGE_TYPES)}")
    return rs.RougeScorer(list(types), use_stemmer=use_stemmer)


def rouge(
    prediction: str,
    reference: Any,
    rouge_type: str = "rougeL",
    *,
    use_stemmer: bool = True,
    measure: str = "fmeasure",
) -> float:
    """One ROUGE score (``fmeasure``, ``precision`` or ``recall``), best over the references."""
    if measure not in ("fmeasure", "precision", "recall"):
        raise UserError(f"ROUGE measure must be fmeasure, precision or recall, not '{measure}'")
    scorer = rouge_scorer((rouge_type,), use_stemmer)
    refs = _refs(reference)
    if len(refs) == 1:
        score = scorer.score(refs[0], str(prediction))[rouge_type]
    else:
        score = scorer.score_multi(refs, str(prediction))[rouge_type]
    return float(getattr(score, measure))


__all__ = [
    "ROUGE_TYPES",
    "corpus_bleu",
    "corpus_chrf",
    "rouge",
    "rouge_scorer",
    "sentence_bleu",
    "sentence_chrf",
]
