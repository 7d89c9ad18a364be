"""LLM-as-judge: a model grades answers with a rubric, and says why.

A :class:`Judge` is three things: a model address, a rubric (a Jinja :class:`PromptTemplate`)
and a scale. The rubric is rendered for each item, the judge model replies with a JSON object
``{"reasoning": "...", "score": ...}``, and the reply is validated against the scale::

    judge = Judge("default", rubric="correctness", scale=(1, 5))
    verdicts = judge.judge([{"question": "2+2?", "answer": "4", "reference": "4"}])
    verdicts[0].score, verdicts[0].value, verdicts[0].reasoning
    # (5, 1.0, 'The candidate gives 4, the same as the reference.')

Items are mappings with ``question`` (or ``input``), ``answer`` (or ``prediction``),
``reference`` and ``context``; a rubric declares which of them it needs in a
``{# requires: ... #}`` comment, and any other keys of the item are passed to the template too.

Rubrics
    ``correctness`` (answer against a reference answer), ``faithfulness`` (is every claim
    supported by the given context) and ``helpfulness`` (no reference) ship with assay in
    ``assay/evals/rubrics/``; any ``.jinja`` file works the same way. Templates receive
    ``question``/``answer``/``reference``/``context`` (and the aliases ``input``/``prediction``),
    ``criteria`` (a list of extra criteria, possibly empty), ``scale`` (``kind``, ``low``,
    ``high``, ``labels``, ``points``, ``hint``) and ``output_format`` (the JSON to reply with).
    A rubric without a ``requires`` comment needs every one of the four fields it mentions.

Scales
    ``(1, 5)`` or ``"1-5"``: integers from low to high. ``["fail", "pass"]``: labels ordered
    from worst to best (``"pass/fail"`` is a shorthand for exactly that). Every verdict has a
    ``value`` normalised to 0..1: (score - low) / (high - low), or the label's position / (number
    of labels - 1).

Replies that cannot be used
    The JSON is looked for in code fences first, then anywhere in the reply (the first object
    with a ``score`` key, else the first object). A reply with no JSON, or one that fails
    validation (score off the scale, reasoning missing), is asked again with the error appended,
    up to ``max_retries`` times (default once). If it is still invalid the item gets a
    :class:`Failed` record with the error and the raw reply: never a silent score. Counts are in
    :class:`JudgeStats` (per call and cumulative on ``Judge.stats``).

Determinism and self-consistency
    By default a judge decodes greedily (temperature 0, seed 0), so its verdicts are reproducible
    and cached by the model facade like any other generation. ``samples=k`` draws k verdicts per
    item at ``temperature`` (default 0.7, each sample with its own seed, cached as k entries),
    aggregates them (``median`` of scores by default, the lower median when k is even so the
    verdict stays on the scale; ``mean``; or ``majority``, ties going to the lower median of the
    tied scores), and reports how much the judge agrees with itself: per verdict the share of
    samples equal to the aggregate, and for the whole call an :class:`AgreementReport` with the
    samples as raters (Krippendorff's alpha and friends, with bootstrap intervals).

Several judges
    :func:`judge_many` runs a panel of judges on the same items and reports agreement between
    them: percent agreement, Cohen's kappa (two judges; ``weights="quadratic"`` for ordinal
    scales), Fleiss' kappa and Krippendorff's alpha (ordinal by default; failed verdicts are
    missing values), each with a bootstrap interval over items (see
    :mod:`assay.evals.agreement`).

The ``llm_judge`` scorer
    ``scorers: [{name: llm_judge, options: {model: default, rubric: correctness}}]`` in a task
    scores each prediction with a judge (see :func:`judge_scorer` for the options). The
    per-item float is the verdict's normalised value. A failed verdict scores 0 by default
    (``on_failure: zero``): a NaN would poison every mean and interval, and dropping the item
    would silently shrink and bias the sample; scoring it as wrong is the conservative choice,
    the same one the runner makes for failed answer extractions. Failures are counted on
    ``scorer.judge.stats`` and logged as a warning. ``on_failure: error`` raises
    :class:`JudgeError` instead.

Modules: ``scale``, ``reply`` (reading a verdict), ``rubric``, ``items`` (item fields as rubric
text), ``results``, ``grading`` (the :class:`Judge`), ``panel`` (:func:`judge_many`), ``scorer``.
"""

from __future__ import annotations

from assay.evals.judge.grading import Judge
from assay.evals.judge.panel import PanelResult, judge_many
from assay.evals.judge.reply import VerdictParseError, json_objects, parse_verdict
from assay.evals.judge.results import Failed, JudgeError, JudgeResult, JudgeStats, Outcome, Verdict
from assay.evals.judge.rubric import ALIASES, FIELDS, Rubric, rubric_names
from assay.evals.judge.scale import JudgeReply, Scale
from assay.evals.judge.scorer import JudgeScorer, judge_scorer

__all__ = [
    "ALIASES",
    "FIELDS",
    "Failed",
    "Judge",
    "JudgeError",
    "JudgeReply",
    "JudgeResult",
    "JudgeScorer",
    "JudgeStats",
    "Outcome",
    "PanelResult",
    "Rubric",
    "Scale",
    "Verdict",
    "VerdictParseError",
    "json_objects",
    "judge_many",
    "judge_scorer",
    "parse_verdict",
    "rubric_names",
]
