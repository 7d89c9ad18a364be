"""The ``llm_judge`` scorer: a task scores each prediction with a judge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assay.errors import ConfigError
from assay.evals.judge.grading import Judge
from assay.evals.scorers.registry import Sample, Scorer
from assay.models.facade import Model


@dataclass(frozen=True)
class JudgeScorer(Scorer):
    """A :class:`Scorer` that carries its :class:`Judge` (for ``judge.stats`` and ``spec()``)."""

    judge: Judge | None = field(default=None, compare=False, repr=False)


def judge_scorer(
    *,
    model: str | Model = "default",
    rubric: str = "correctness",
    scale: Any = (1, 5),
    samples: int = 1,
    temperature: float | None = None,
    aggregate: Literal["median", "mean", "majority"] | None = None,
    criteria: str | Sequence[str] | None = None,
    max_retries: int = 1,
    max_tokens: int = 512,
    question_field: str = "question",
    context_field: str = "context",
    on_failure: Literal["zero", "error"] = "zero",
) -> JudgeScorer:
    """LLM-as-judge: a judge model grades each prediction with a rubric; the score is the
    verdict's value normalised to 0..1.

    ``model`` the judge's address or alias; ``rubric`` a bundled rubric name (correctness,
    faithfulness, helpfulness) or a ``.jinja`` path; ``scale`` e.g. [1, 5] or [fail, pass];
    ``samples`` > 1 for self-consistency at ``temperature`` (aggregated by ``aggregate``);
    ``criteria`` extra rubric criteria; ``question_field``/``context_field`` the sample fields
    given to the rubric as question and context (``input`` is tried when ``question_field`` is
    absent). The reference is the task's target. ``on_failure``: ``zero`` scores an item without
    a valid verdict as 0 and counts it in ``scorer.judge.stats`` (the default, see the module
    docstring for why), ``error`` raises :class:`JudgeError`.
    """
    if on_failure not in ("zero", "error"):
        raise ConfigError(f"on_failure must be 'zero' or 'error', not '{on_failure}'")
    judge = Judge(
        model,
        rubric,
        scale,
        criteria=criteria,
        samples=samples,
        temperature=temperature,
        aggregate=aggregate,
        max_retries=max_retries,
        max_tokens=max_tokens,
    )

    def item(prediction: Any, reference: Any, sample: Sample) -> dict[str, Any]:
        row = {str(k): v for k, v in sample.items()}
        question = row.get(question_field) if question_field in row else row.get("input")
        return {
            **row,
            "question": question,
            "answer": prediction,
            "reference": reference,
            "context": row.get(context_field),
        }

    def one(prediction: Any, reference: Any, sample: Sample) -> float:
        return judge.scores([item(prediction, reference, sample)], on_failure=on_failure)[0]

    def many(
        predictions: Sequence[Any], references: Sequence[Any], samples_: Sequence[Sample]
    ) -> list[float]:
        batch = [item(p, r, s) for p, r, s in zip(predictions, references, samples_, strict=True)]
        return judge.scores(batch, on_failure=on_failure) if batch else []

    options = {
        **{k: v for k, v in judge.spec().items() if k != "name"},
        "question_field": question_field,
        "context_field": context_field,
        "on_failure": on_failure,
    }
    return JudgeScorer(
        "llm_judge",
        one,
        options=options,
        batch_fn=many,
        scale=(0.0, 1.0),
        description="LLM-as-judge: a judge model grades each prediction with a rubric "
        f"({judge.rubric.name}, scale {judge.scale.spec()}), normalised to 0..1",
        judge=judge,
    )
