"""Scorers by name, and user scorers from ``module:function``.

A :class:`Scorer` turns one item's ``(prediction, reference, sample)`` into a float; ``sample`` is
the dataset row (for fields such as ``choices``). Most metrics are the mean of those floats. For
the ones that are not (BLEU, chrF, macro-F1, perplexity), ``aggregate`` computes the corpus value
from all items, and the per-item floats are a by-product (sentence BLEU, correctness, item
perplexity). Anything that resamples items (a bootstrap) should call ``aggregate`` on each
resample.

    >>> em = get_scorer("exact_match", ignore_case=True)
    >>> em("Paris", "paris")
    1.0
    >>> get_scorer("my_metrics:overlap")          # a function (prediction, reference, sample)
    >>> get_scorer("scorers.py:overlap")           # or one in a file
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ConfigError, UserError
from assay.evals.scorers import (
    choice,
    classification,
    embedding,
    numeric,
    overlap,
    text,
)
from assay.evals.scorers.perplexity import item_perplexity
from assay.evals.scorers.perplexity import perplexity as corpus_perplexity

if TYPE_CHECKING:
    import numpy as np

    from assay.stats.corpus import Finish

Sample = Mapping[str, Any]
ScoreFn = Callable[[Any, Any, Sample], float]
BatchFn = Callable[[Sequence[Any], Sequence[Any], Sequence[Sample]], list[float]]
CorpusFn = Callable[[Sequence[Any], Sequence[Any], Sequence[Sample]], float]
StatsFn = Callable[[Sequence[Any], Sequence[Any], Sequence[Sample]], "tuple[np.ndarray, Finish]"]


@dataclass(frozen=True)
class Scorer:
    name: str
    fn: ScoreFn
    """One item: ``(prediction, reference, sample) -> float``."""
    options: Mapping[str, Any] = field(default_factory=dict)
    corpus_fn: CorpusFn | None = None
    """The corpus value when it is not the mean of the item scores."""
    stats_fn: StatsFn | None = None
    """For a ``corpus_fn`` that is a function of summed per-item statistics: those statistics and
    that function (see :mod:`assay.stats.corpus`), so a bootstrap recomputes the corpus
    value on every resample without calling ``corpus_fn`` thousands of times."""
    batch_fn: BatchFn | None = None
    """Scores many items at once (e.g. one embedding batch); else ``fn`` item by item."""
    higher_is_better: bool = True
    scale: tuple[float, float] | None = (0.0, 1.0)
    """The range of the values; ``None`` when unbounded."""
    description: str = ""

    def __call__(self, prediction: Any, reference: Any, sample: Sample | None = None) -> float:
        return _as_float(self.fn(prediction, reference, sample or {}), self.name)

    def score_many(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any],
        samples: Sequence[Sample] | None = None,
    ) -> list[float]:
        samples = _samples(predictions, references, samples)
        if self.batch_fn is not None:
            return [
                _as_float(v, self.name) for v in self.batch_fn(predictions, references, samples)
            ]
        return [
            _as_float(self.fn(p, r, s), self.name)
            for p, r, s in zip(predictions, references, samples, strict=True)
        ]

    def aggregate(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any],
        samples: Sequence[Sample] | None = None,
        scores: Sequence[float] | None = None,
    ) -> float:
        """The corpus value: ``corpus_fn`` when set, else the mean of the item scores."""
        samples = _samples(predictions, references, samples)
        if not predictions:
            raise UserError(f"scorer '{self.name}': no items to aggregate")
        if self.corpus_fn is not None:
            return float(self.corpus_fn(predictions, references, samples))
        values = (
            list(scores)
            if scores is not None
            else self.score_many(predictions, references, samples)
        )
        return math.fsum(values) / len(values)

    def corpus_stats(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any],
        samples: Sequence[Sample] | None = None,
    ) -> tuple[np.ndarray, Finish] | None:
        """Additive per-item statistics and the corpus value from their sums; ``None`` when the
        corpus value is not of that form (then a bootstrap calls :meth:`aggregate`)."""
        if self.stats_fn is None:
            return None
        return self.stats_fn(predictions, references, _samples(predictions, references, samples))

    @property
    def is_mean(self) -> bool:
        """True when the corpus value is the mean of the item scores."""
        return self.corpus_fn is None

    def spec(self) -> dict[str, Any]:
        """Name and options, for a run record."""
        return {"name": self.name, "options": dict(self.options)}


def _samples(
    predictions: Sequence[Any], references: Sequence[Any], samples: Sequence[Sample] | None
) -> Sequence[Sample]:
    if len(predictions) != len(references):
        raise UserError(f"{len(predictions)} predictions for {len(references)} references")
    if samples is None:
        return [{}] * len(predictions)
    if len(samples) != len(predictions):
        raise UserError(f"{len(samples)} samples for {len(predictions)} predictions")
    return samples


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(
            f"scorer '{name}' returned {type(value).__name__} {value!r:.60}, not a number"
        ) from None


# --------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class ScorerEntry:
    name: str
    factory: Callable[..., Scorer]
    description: str

    @property
    def option_names(self) -> list[str]:
        return [
            p.name
            for p in inspect.signature(self.factory).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]


_REGISTRY: dict[str, ScorerEntry] = {}


def register_scorer(name: str, factory: Callable[..., Scorer], description: str = "") -> None:
    """Add a named scorer; ``factory(**options)`` must return a :class:`Scorer`."""
    _REGISTRY[name] = ScorerEntry(name, factory, description or (factory.__doc__ or "").strip())


def scorer_names() -> list[str]:
    return sorted(_REGISTRY)


def describe_scorers() -> dict[str, str]:
    """Name → one-line description, for ``--help`` and docs."""
    return {n: _REGISTRY[n].description.split("\n")[0] for n in scorer_names()}


def get_scorer(spec: str | Scorer | Callable[..., Any], **options: Any) -> Scorer:
    """A scorer by registry name, ``module:function``, ``file.py:function``, or a callable.

    A user function takes ``(prediction, reference, sample)`` (or just the first two) and
    returns a number; ``options`` are passed to it as keyword arguments on every call.
    """
    if isinstance(spec, Scorer):
        if options:
            raise ConfigError(f"scorer '{spec.name}' is already built; options cannot be added")
        return spec
    if callable(spec):
        return _custom(spec, f"{getattr(spec, '__module__', '?')}:{_qualname(spec)}", options)
    name = str(spec).strip()
    entry = _REGISTRY.get(name)
    if entry is not None:
        unknown = sorted(set(options) - set(entry.option_names))
        if unknown:
            raise ConfigError(
                f"scorer '{name}' has no option {', '.join(repr(u) for u in unknown)}",
                hint="options: " + (", ".join(entry.option_names) or "none"),
            )
        return entry.factory(**options)
    if ":" in name:
        obj = _import(name)
        if isinstance(obj, Scorer):
            if options:
                raise ConfigError(f"'{name}' is a built Scorer; options cannot be added")
            return obj
        if not callable(obj):
            raise ConfigError(f"'{name}' is not callable")
        return _custom(obj, name, options)
    near = difflib.get_close_matches(name, scorer_names(), n=3, cutoff=0.5)
    raise ConfigError(
        f"unknown scorer '{name}'",
        hint=(f"did you mean {', '.join(near)}? " if near else "")
        + f"known scorers: {', '.join(scorer_names())}; or give module:function",
    )


def _qualname(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


def _import(spec: str) -> Any:
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ConfigError(f"'{spec}' is not module:function")
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise ConfigError(f"no such file: {target} (from scorer '{spec}')")
        mod_name = f"_assay_user_scorer_{abs(hash(str(path.resolve())))}"
        loaded = sys.modules.get(mod_name)
        if loaded is None:
            file_spec = importlib.util.spec_from_file_location(mod_name, path)
            if file_spec is None or file_spec.loader is None:
                raise ConfigError(f"cannot import {target}")
            loaded = importlib.util.module_from_spec(file_spec)
            sys.modules[mod_name] = loaded
            try:
                file_spec.loader.exec_module(loaded)
            except Exception as e:
                del sys.modules[mod_name]
                raise ConfigError(f"importing {target} failed: {type(e).__name__}: {e}") from e
        module = loaded
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as e:
            raise ConfigError(
                f"cannot import '{target}' for scorer '{spec}': {e}",
                hint="put the module on PYTHONPATH, or write path/to/file.py:function",
            ) from e
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"'{target}' has no '{attr}' (scorer '{spec}')")
        obj = getattr(obj, part)
    return obj


def _n_positional(fn: Callable[..., Any]) -> int:
    """2 or 3: whether a user function is called with the sample too.

    It is when it takes ``*args``, or a third positional parameter that is required or named
    ``sample``; a third parameter with a default and another name is left to its default.
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 3
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 3
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 3 and (
        positional[2].default is positional[2].empty or positional[2].name == "sample"
    ):
        return 3
    return min(len(positional), 2)


def _custom(fn: Callable[..., Any], name: str, options: Mapping[str, Any]) -> Scorer:
    bound = functools.partial(fn, **options) if options else fn
    n = _n_positional(fn)
    if n < 2:
        raise ConfigError(
            f"scorer '{name}' must take (prediction, reference[, sample]); it takes {n} arguments"
        )

    def call(prediction: Any, reference: Any, sample: Sample) -> float:
        if n == 2:
            return bound(prediction, reference)
        return bound(prediction, reference, sample)

    return Scorer(
        name=name,
        fn=call,
        options=dict(options),
        scale=None,
        description=(getattr(fn, "__doc__", None) or "").strip().split("\n")[0],
    )


# --------------------------------------------------------------------------------------------
# Built-in scorers


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
        description=_DESCRIPTIONS["exact_match"],
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
        description=_DESCRIPTIONS["squad_exact_match"],
    )


def _token_f1() -> Scorer:
    return Scorer(
        "token_f1", lambda p, r, s: text.token_f1(p, r), description=_DESCRIPTIONS["token_f1"]
    )


def _numeric_match(*, rel_tol: float = 0.0, abs_tol: float = 1e-6) -> Scorer:
    return Scorer(
        "numeric_match",
        lambda p, r, s: numeric.numeric_match(p, r, rel_tol=rel_tol, abs_tol=abs_tol),
        options={"rel_tol": rel_tol, "abs_tol": abs_tol},
        description=_DESCRIPTIONS["numeric_match"],
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
        description=_DESCRIPTIONS["mc_acc"],
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
        description=_DESCRIPTIONS["mc_acc_norm"],
    )


def _pct_stereotype() -> Scorer:
    """CrowS-Pairs: 1 when the more stereotyping sentence (choice 0) is the likelier one."""

    def fn(p: Any, r: Any, s: Sample) -> float:
        lls = choice.as_logprobs(p)
        return float(lls[0] > lls[1])

    return Scorer("pct_stereotype", fn, description=_DESCRIPTIONS["pct_stereotype"])


def _likelihood_diff() -> Scorer:
    def fn(p: Any, r: Any, s: Sample) -> float:
        lls = choice.as_logprobs(p)
        return float(abs(lls[0] - lls[1]))

    return Scorer("likelihood_diff", fn, description=_DESCRIPTIONS["likelihood_diff"])


def _mc2(*, choices_field: str = "choices") -> Scorer:
    """TruthfulQA MC2: the probability mass on the true answers, normalised over all answers."""

    def fn(p: Any, r: Any, s: Sample) -> float:
        import numpy as np

        lls = np.asarray(choice.as_logprobs(p), dtype=float)
        probs = np.exp(lls - lls.max())  # the same ratios as exp(lls), without underflow
        gold = sorted(choice.gold_indices(r, _choices(s, choices_field, True)))
        return float(probs[gold].sum() / probs.sum())

    return Scorer(
        "mc2", fn, options={"choices_field": choices_field}, description=_DESCRIPTIONS["mc2"]
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
        description=_DESCRIPTIONS["accuracy"],
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
            description=_DESCRIPTIONS[metric],
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
        description=_DESCRIPTIONS["bleu"],
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
        description=_DESCRIPTIONS["chrf"],
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
            description=_DESCRIPTIONS[rouge_type],
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
        description=_DESCRIPTIONS["embedding_similarity"],
    )


def _perplexity() -> Scorer:
    return Scorer(
        "perplexity",
        lambda p, r, s: item_perplexity(p),
        corpus_fn=lambda ps, rs, ss: corpus_perplexity(ps),
        stats_fn=lambda ps, rs, ss: _corpus_stats().perplexity_stats(ps),
        higher_is_better=False,
        scale=None,
        description=_DESCRIPTIONS["perplexity"],
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


_DESCRIPTIONS = {
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

for _name, _factory in {
    "exact_match": _exact_match,
    "squad_exact_match": _squad_exact_match,
    "token_f1": _token_f1,
    "numeric_match": _numeric_match,
    "mc_acc": _mc_acc,
    "mc_acc_norm": _mc_acc_norm,
    "pct_stereotype": _pct_stereotype,
    "mc2": _mc2,
    "likelihood_diff": _likelihood_diff,
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
}.items():
    register_scorer(_name, _factory, _DESCRIPTIONS[_name])


__all__ = [
    "Scorer",
    "ScorerEntry",
    "describe_scorers",
    "get_scorer",
    "register_scorer",
    "scorer_names",
]
