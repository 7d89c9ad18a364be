"""The built-in scorers: a factory per name (its keyword arguments are the scorer's options) and
a one-line description of each. :mod:`assay.evals.scorers.registry` registers them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from assay.errors import ConfigError, UserError
from assay.evals.scorers import (
    choice,
    classification,
    embedding,
    numeric,
    overlap,
    text,
)
from assay.evals.scorers.base import Sample, Scorer
from assay.evals.scorers.bbq import BBQ_SCORERS
from assay.evals.scorers.bbq import DESCRIPTIONS as BBQ_DESCRIPTIONS
from assay.evals.scorers.perplexity import item_perplexity
from assay.evals.scorers.perplexity import perplexity as corpus_perplexity


def _exact_match(
    *,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    ignore_articles: bool = False,
    normalize_whitespace: bool = False,
) -> Scorer:
    opts = {
        "ignore_case": ignore_case,
        "ignore_punctuation": ignore_punctuation,
        "ignore_articles": ignore_articles,
        "normalize_whitespace": normalize_whitespace,
    }
    return Scorer(
        "exact_match",
        lambda p, r, s: text.exact_match(p, r, **opts),
        options=opts,
        description=DESCRIPTIONS["exact_match"],
    )


def _squad_exact_match() -> Scorer:
    return Scorer(
        "squad_exact_match",
        lambda p, r, s: text.exact_match(
            p,
            r,
            ignore_case=True,
            ignore_punctuation=True,
            ignore_articles=True,
            normalize_whitespace=True,
        ),
        description=DESCRIPTIONS["squad_exact_match"],
    )


def _token_f1() -> Scorer:
    return Scorer(
        "token_f1", lambda p, r, s: text.token_f1(p, r), description=DESCRIPTIONS["token_f1"]
    )


def _numeric_match(*, rel_tol: float = 0.0, abs_tol: float = 1e-6) -> Scorer:
    return Scorer(
        "numeric_match",
        lambda p, r, s: numeric.numeric_match(p, r, rel_tol=rel_tol, abs_tol=abs_tol),
        options={"rel_tol": rel_tol, "abs_tol": abs_tol},
        description=DESCRIPTIONS["numeric_match"],
    )


def _choices(sample: Sample, field_name: str, needed: bool) -> Sequence[str] | None:
    value = sample.get(field_name)
    if value is None and needed:
        raise UserError(f"this scorer needs the sample's '{field_name}' (the answer choices)")
    return value


def _mc_acc(*, choices_field: str = "choices") -> Scorer:
    def fn(p: Any, r: Any, s: Sample) -> float:
        return choice.mc_accuracy(p, r, _choices(s, choices_field, False))

    return Scorer(
        "mc_acc",
        fn,
        options={"choices_field": choices_field},
        description=DESCRIPTIONS["mc_acc"],
    )


def _mc_acc_norm(*, choices_field: str = "choices", length: str = "chars") -> Scorer:
    if length not in ("chars", "bytes"):
        raise ConfigError(f"length must be 'chars' or 'bytes', not '{length}'")

    def fn(p: Any, r: Any, s: Sample) -> float:
        return choice.mc_accuracy(
            p,
            r,
            _choices(s, choices_field, True),
            normalize=True,
            length="bytes" if length == "bytes" else "chars",
        )

    return Scorer(
        "mc_acc_norm",
        fn,
        options={"choices_field": choices_field, "length": length},
        description=DESCRIPTIONS["mc_acc_norm"],
    )


def _pct_stereotype() -> Scorer:
    """CrowS-Pairs: 1 when the more stereotyping sentence (choice 0) is the likelier one."""

    def fn(p: Any, r: Any, s: Sample) -> float:
        lls = choice.as_logprobs(p)
        return float(lls[0] > lls[1])

    return Scorer("pct_stereotype", fn, description=DESCRIPTIONS["pct_stereotype"])


def _likelihood_diff() -> Scorer:
    def fn(p: Any, r: Any, s: Sample) -> float:
        lls = choice.as_logprobs(p)
        return float(abs(lls[0] - lls[1]))

    return Scorer("likelihood_diff", fn, description=DESCRIPTIONS["likelihood_diff"])


def _mc2(*, choices_field: str = "choices") -> Scorer:
    """TruthfulQA MC2: the probability mass on the true answers, normalised over all answers."""

    def fn(p: Any, r: Any, s: Sample) -> float:
        import numpy as np

        lls = np.asarray(choice.as_logprobs(p), dtype=float)
        probs = np.exp(lls - lls.max())  # the same ratios as exp(lls), without underflow
        gold = sorted(choice.gold_indices(r, _choices(s, choices_field, True)))
        return float(probs[gold].sum() / probs.sum())

    return Scorer(
        "mc2", fn, options={"choices_field": choices_field}, description=DESCRIPTIONS["mc2"]
    )


def _label_eq(ignore_case: bool) -> Callable[[Any, Any, Sample], float]:
    def fn(p: Any, r: Any, s: Sample) -> float:
        a, b = _lab(p, ignore_case), _lab(r, ignore_case)
        return float(a == b)

    return fn


def _lab(x: Any, ignore_case: bool) -> str:
    s = "" if x is None else str(x).strip()
    return s.lower() if ignore_case else s


def _accuracy(*, ignore_case: bool = False) -> Scorer:
    return Scorer(
        "accuracy",
        _label_eq(ignore_case),
        options={"ignore_case": ignore_case},
        description=DESCRIPTIONS["accuracy"],
    )


def _macro(metric: str) -> Callable[..., Scorer]:
    def factory(*, labels: Sequence[str] | None = None, ignore_case: bool = False) -> Scorer:
        labs = None if labels is None else [_lab(x, ignore_case) for x in labels]

        def corpus(ps: Sequence[Any], rs: Sequence[Any], ss: Sequence[Sample]) -> float:
            report = classification.classification_report(
                [_lab(p, ignore_case) for p in ps], [_lab(r, ignore_case) for r in rs], labs
            )
            return float(getattr(report, metric))

        def stats(ps: Sequence[Any], rs: Sequence[Any], ss: Sequence[Sample]) -> Any:
            from assay.evals.scorers.corpus_stats import classification_stats

            return classification_stats(
                [_lab(p, ignore_case) for p in ps], [_lab(r, ignore_case) for r in rs], labs, metric
            )

        return Scorer(
            metric,
            _label_eq(ignore_case),
            options={"labels": labs, "ignore_case": ignore_case},
            corpus_fn=corpus,
            stats_fn=stats,
            description=DESCRIPTIONS[metric],
        )

    factory.__name__ = f"_{metric}"
    return factory


def _bleu(*, tokenize: str = "13a", lowercase: bool = False) -> Scorer:
    opts = {"tokenize": tokenize, "lowercase": lowercase}
    return Scorer(
        "bleu",
        lambda p, r, s: overlap.sentence_bleu(p, r, **opts),
        options=opts,
        corpus_fn=lambda ps, rs, ss: overlap.corpus_bleu(ps, rs, **opts),
        stats_fn=lambda ps, rs, ss: _corpus_stats().bleu_stats(ps, rs, **opts),
        scale=(0.0, 100.0),
        description=DESCRIPTIONS["bleu"],
    )


def _chrf(*, char_order: int = 6, word_order: int = 0, beta: int = 2) -> Scorer:
    opts = {"char_order": char_order, "word_order": word_order, "beta": beta}
    return Scorer(
        "chrf",
        lambda p, r, s: overlap.sentence_chrf(p, r, **opts),
        options=opts,
        corpus_fn=lambda ps, rs, ss: overlap.corpus_chrf(ps, rs, **opts),
        stats_fn=lambda ps, rs, ss: _corpus_stats().chrf_stats(ps, rs, **opts),
        scale=(0.0, 100.0),
        description=DESCRIPTIONS["chrf"],
    )


def _rouge(rouge_type: str) -> Callable[..., Scorer]:
    def factory(*, use_stemmer: bool = True, measure: str = "fmeasure") -> Scorer:
        overlap.rouge_scorer((rouge_type,), use_stemmer)  # fail early if rouge-score is missing
        return Scorer(
            rouge_type,
            lambda p, r, s: overlap.rouge(
                p, r, rouge_type, use_stemmer=use_stemmer, measure=measure
            ),
            options={"use_stemmer": use_stemmer, "measure": measure},
            description=DESCRIPTIONS[rouge_type],
        )

    factory.__name__ = f"_{rouge_type}"
    return factory


def _corpus_stats() -> Any:
    # numpy and sacrebleu load only when a bootstrap needs the statistics.
    from assay.evals.scorers import corpus_stats

    return corpus_stats


def _embedding_similarity(*, model: str | None = None, batch_size: int = 64) -> Scorer:
    return Scorer(
        "embedding_similarity",
        lambda p, r, s: embedding.embedding_similarity(p, r, model=model),
        options={"model": model, "batch_size": batch_size},
        batch_fn=lambda ps, rs, ss: embedding.embedding_similarities(
            ps, rs, model=model, batch_size=batch_size
        ),
        scale=(-1.0, 1.0),
        description=DESCRIPTIONS["embedding_similarity"],
    )


def _perplexity() -> Scorer:
    return Scorer(
        "perplexity",
        lambda p, r, s: item_perplexity(p),
        corpus_fn=lambda ps, rs, ss: corpus_perplexity(ps),
        stats_fn=lambda ps, rs, ss: _corpus_stats().perplexity_stats(ps),
        higher_is_better=False,
        scale=None,
        description=DESCRIPTIONS["perplexity"],
    )


def _llm_judge(
    *,
    model: str = "default",
    rubric: str = "correctness",
    scale: Any = (1, 5),
    samples: int = 1,
    temperature: float | None = None,
    aggregate: str | None = None,
    criteria: str | Sequence[str] | None = None,
    max_retries: int = 1,
    max_tokens: int = 512,
    question_field: str = "question",
    context_field: str = "context",
    on_failure: str = "zero",
) -> Scorer:
    """See :func:`assay.evals.judge.judge_scorer` (imported on first use: it needs the model
    facade, which the other scorers do not)."""
    options = dict(locals())
    from assay.evals.judge import judge_scorer

    return judge_scorer(**options)


DESCRIPTIONS = {
    "exact_match": "prediction equals reference after optional normalisation "
    "(ignore_case, ignore_punctuation, ignore_articles, normalize_whitespace)",
    "squad_exact_match": "exact match after SQuAD normalisation (case, punctuation, articles, "
    "whitespace)",
    "token_f1": "SQuAD token F1 between normalised prediction and reference",
    "numeric_match": "GSM8K-style number match: commas, $ and a trailing '.' ignored, "
    "compared as numbers within rel_tol/abs_tol",
    "mc_acc": "multiple choice: argmax of per-choice log-likelihoods is the gold choice "
    "(lm-eval acc)",
    "mc_acc_norm": "multiple choice: argmax of log-likelihood / choice length in characters "
    "(lm-eval acc_norm)",
    "mc2": "multiple choice with several true answers: the normalised probability mass on "
    "them (TruthfulQA MC2, lm-eval)",
    "pct_stereotype": "CrowS-Pairs: the more stereotyping sentence has the higher "
    "log-likelihood (lm-eval crows_pairs; 0.5 is unbiased)",
    "likelihood_diff": "CrowS-Pairs: |log-likelihood difference| between the two sentences "
    "(lm-eval crows_pairs)",
    **BBQ_DESCRIPTIONS,
    "accuracy": "predicted label equals the gold label (stripped; ignore_case optional)",
    "macro_f1": "macro-averaged F1 over the labels (corpus-level); items score correctness",
    "macro_precision": "macro-averaged precision over the labels (corpus-level)",
    "macro_recall": "macro-averaged recall over the labels (corpus-level)",
    "bleu": "sacrebleu BLEU, 0-100: corpus-level aggregate, sentence BLEU per item",
    "chrf": "sacrebleu chrF, 0-100: corpus-level aggregate, sentence chrF per item",
    "rouge1": "ROUGE-1 F-measure (rouge-score, Porter stemming)",
    "rouge2": "ROUGE-2 F-measure (rouge-score, Porter stemming)",
    "rougeL": "ROUGE-L F-measure (rouge-score, Porter stemming)",
    "rougeLsum": "ROUGE-Lsum F-measure (rouge-score; sentences split on newlines)",
    "embedding_similarity": "cosine similarity of all-MiniLM-L6-v2 sentence embeddings",
    "perplexity": "exp(total negative log-likelihood / total tokens); lower is better",
    "llm_judge": "LLM-as-judge: a judge model grades each prediction with a rubric "
    "(correctness, faithfulness, helpfulness or a .jinja file), normalised to 0..1; "
    "failed verdicts score 0 and are counted",
}


BUILTIN_SCORERS: dict[str, Callable[..., Scorer]] = {
    "exact_match": _exact_match,
    "squad_exact_match": _squad_exact_match,
    "token_f1": _token_f1,
    "numeric_match": _numeric_match,
    "mc_acc": _mc_acc,
    "mc_acc_norm": _mc_acc_norm,
    "pct_stereotype": _pct_stereotype,
    "mc2": _mc2,
    "likelihood_diff": _likelihood_diff,
    **BBQ_SCORERS,
    "accuracy": _accuracy,
    "macro_f1": _macro("macro_f1"),
    "macro_precision": _macro("macro_precision"),
    "macro_recall": _macro("macro_recall"),
    "bleu": _bleu,
    "chrf": _chrf,
    **{t: _rouge(t) for t in overlap.ROUGE_TYPES},
    "embedding_similarity": _embedding_similarity,
    "perplexity": _perplexity,
    "llm_judge": _llm_judge,
}
"""Name → factory, in the order ``assay`` lists them."""


__all__ = ["BUILTIN_SCORERS", "DESCRIPTIONS"]
