"""The :class:`Judge`: a model that grades items with a rubric on a scale (see the package docstring
for sampling, aggregation, re-asks and failures)."""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assay.errors import ConfigError, UserError
from assay.evals.agreement import AgreementReport, agreement
from assay.evals.judge.items import (
    _absent,
    _as_items,
    _context_text,
    _criteria,
    _reference_text,
    _text,
)
from assay.evals.judge.reply import VerdictParseError, parse_verdict
from assay.evals.judge.results import Failed, JudgeError, JudgeResult, JudgeStats, Outcome, Verdict
from assay.evals.judge.rubric import ALIASES, Rubric
from assay.evals.judge.scale import JudgeReply, Scale
from assay.models.facade import Model
from assay.models.types import Generation, Message, Sampling
from assay.prompting.templates import PromptTemplate
from assay.stats import DEFAULT_RESAMPLES

log = logging.getLogger(__name__)

DEFAULT_SAMPLING_TEMPERATURE = 0.7
AGGREGATES = ("median", "mean", "majority")


@dataclass
class _Slot:
    """One sample of one item while it is being asked (and re-asked)."""

    chat: list[Message]
    reply: str = ""
    parsed: JudgeReply | None = None
    error: str = ""
    retryable: bool = True
    attempts: int = 0


class Judge:
    """A model that grades items with a rubric on a scale.

    ``model`` is an address or alias (loaded on first use) or a loaded
    :class:`~assay.models.facade.Model`. ``criteria`` adds rubric criteria (a string or a list).
    See the module docstring for sampling, aggregation, re-asks and failures.
    """

    def __init__(
        self,
        model: str | Model = "default",
        rubric: str | Path | PromptTemplate | Rubric = "correctness",
        scale: Any = (1, 5),
        *,
        criteria: str | Sequence[str] | None = None,
        samples: int = 1,
        temperature: float | None = None,
        aggregate: Literal["median", "mean", "majority"] | None = None,
        max_retries: int = 1,
        max_tokens: int = 512,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        self.scale = Scale.parse(scale)
        self.rubric = Rubric.load(rubric)
        if samples < 1:
            raise ConfigError(f"samples must be at least 1, got {samples}")
        if temperature is None:
            temperature = 0.0 if samples == 1 else DEFAULT_SAMPLING_TEMPERATURE
        if samples > 1 and temperature == 0.0:
            raise ConfigError(
                f"samples={samples} at temperature 0 would draw the same verdict {samples} times",
                hint="give a temperature above 0 (e.g. 0.7) for self-consistency",
            )
        if aggregate is None:
            aggregate = "majority" if self.scale.labels else "median"
        if aggregate not in AGGREGATES:
            raise ConfigError(
                f"unknown aggregate '{aggregate}'", hint=f"use one of {', '.join(AGGREGATES)}"
            )
        if aggregate == "mean" and self.scale.labels:
            raise ConfigError("a mean of labels is not a label: use 'majority' or 'median'")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {max_retries}")
        self.criteria = _criteria(criteria)
        self.samples = samples
        self.temperature = float(temperature)
        self.aggregate = aggregate
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.seed = seed
        self.sampling = Sampling(
            max_tokens=max_tokens, temperature=self.temperature, seed=seed, n=samples
        )
        self._model = model if isinstance(model, Model) else None
        self.address = model.address if isinstance(model, Model) else str(model)
        self.name = name or f"{self.address}/{Path(self.rubric.name).stem}"
        self.stats = JudgeStats()

    def __repr__(self) -> str:
        return f"Judge({self.name!r}, scale={self.scale.spec()}, samples={self.samples})"

    @property
    def model(self) -> Model:
        if self._model is None:
            self._model = Model.load(self.address)
        return self._model

    def spec(self) -> dict[str, Any]:
        """Everything that determines the verdicts, for a run record."""
        return {
            "name": self.name,
            "model": self.address,
            "rubric": self.rubric.name,
            "rubric_sha256": self.rubric.sha256,
            "scale": self.scale.spec(),
            "criteria": list(self.criteria),
            "samples": self.samples,
            "temperature": self.temperature,
            "aggregate": self.aggregate,
            "max_retries": self.max_retries,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }

    # -- prompts -------------------------------------------------------------------------------
    def variables(self, item: Mapping[str, Any], index: int = 0) -> dict[str, Any]:
        """The template variables for one item (raises :class:`UserError` if a needed field is
        missing)."""
        values: dict[str, Any] = {str(k): v for k, v in item.items()}
        for alias, canonical in ALIASES.items():
            if values.get(canonical) is None and values.get(alias) is not None:
                values[canonical] = values[alias]
        missing = [f for f in sorted(self.rubric.requires) if _absent(values.get(f), f)]
        if missing:
            raise UserError(
                f"judge '{self.name}': item {index} has no {', '.join(missing)}, which the rubric "
                f"'{self.rubric.name}' needs",
                hint="items are mappings with question (or input), answer (or prediction), "
                "reference and context",
            )
        values["question"] = _text(values.get("question"))
        values["answer"] = _text(values.get("answer"))
        values["reference"] = _reference_text(values.get("reference"))
        values["context"] = _context_text(values.get("context"))
        for alias, canonical in ALIASES.items():
            values[alias] = values[canonical]
        values["criteria"] = list(self.criteria)
        values["scale"] = self.scale.template_vars()
        values["output_format"] = self.scale.output_format()
        return values

    def prompt(self, item: Mapping[str, Any], index: int = 0) -> list[Message]:
        """The chat the judge model is asked for one item."""
        return self.rubric.template.render(self.variables(item, index))

    def _reask(self, error: str) -> str:
        return (
            f"Your reply could not be used: {error}.\n"
            "Reply again with only the JSON object, in exactly this format:\n"
            f"{self.scale.output_format()}"
        )

    def _too_long(self, chat: list[Message]) -> str | None:
        limit = self.model.context_length
        if limit is None:
            return None
        n = self.model.count_tokens(self.model.render_chat(chat))
        if n >= limit:
            return f"the judge prompt is {n} tokens, more than the judge model's context of {limit}"
        return None

    # -- judging -------------------------------------------------------------------------------
    def judge(self, items: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Outcome]:
        """One :class:`Verdict` or :class:`Failed` per item, in order."""
        return self.run(items).verdicts

    def run(
        self,
        items: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        n_resamples: int = DEFAULT_RESAMPLES,
    ) -> JudgeResult:
        """Judge the items (one batched model call per round of asking); see the module docs."""
        batch = _as_items(items)
        chats = [self.prompt(item, i) for i, item in enumerate(batch)]
        stats = JudgeStats(n_items=len(batch))
        slots = [[_Slot(list(chat)) for _ in range(self.samples)] for chat in chats]

        first: list[int] = []
        for i, chat in enumerate(chats):
            problem = self._too_long(chat)
            if problem is None:
                first.append(i)
            else:
                for slot in slots[i]:
                    slot.error, slot.retryable = problem, False
        if first:
            gens = self.model.generate([chats[i] for i in first], self.sampling)
            stats.n_generations += len(gens)
            for gen in gens:
                self._take(slots[first[gen.prompt_index]][gen.sample_index], gen)

        retry_sampling = self.sampling.model_copy(update={"n": 1})
        for _ in range(self.max_retries):
            pending = [s for row in slots for s in row if s.parsed is None and s.retryable]
            if not pending:
                break
            stats.n_reasked += len(pending)
            asking = []
            for slot in pending:
                slot.chat = [
                    *slot.chat,
                    Message(role="assistant", content=slot.reply),
                    Message(role="user", content=self._reask(slot.error)),
                ]
                problem = self._too_long(slot.chat)
                if problem is None:
                    asking.append(slot)
                else:
                    slot.error, slot.retryable = f"{slot.error}; re-asking failed: {problem}", False
            if asking:
                gens = self.model.generate([s.chat for s in asking], retry_sampling)
                stats.n_generations += len(gens)
                for slot, gen in zip(asking, gens, strict=True):
                    self._take(slot, gen)

        verdicts = [self._verdict(row) for row in slots]
        stats.n_failed = sum(1 for v in verdicts if isinstance(v, Failed))
        stats.n_verdicts = len(verdicts) - stats.n_failed
        self.stats.add(stats)
        if stats.n_failed:
            log.warning(
                "judge %s: %d of %d items got no valid verdict (after %d re-ask(s)); "
                "they are recorded as failed",
                self.name,
                stats.n_failed,
                stats.n_items,
                self.max_retries,
            )
        return JudgeResult(
            judge=self.name,
            verdicts=verdicts,
            stats=stats,
            self_agreement=self._self_agreement(slots, n_resamples),
        )

    def _take(self, slot: _Slot, gen: Generation) -> None:
        slot.attempts += 1
        slot.reply = gen.text
        try:
            slot.parsed = parse_verdict(gen.text, self.scale)
            slot.error = ""
        except VerdictParseError as exc:
            slot.error = str(exc)
            if gen.finish_reason == "length":
                slot.error += f" (the reply was cut off at max_tokens={self.max_tokens})"

    def _verdict(self, row: list[_Slot]) -> Outcome:
        attempts = sum(s.attempts for s in row)
        valid = [s for s in row if s.parsed is not None]
        if not valid:
            return Failed(error=row[0].error, raw=row[0].reply, attempts=attempts)
        scores = [s.parsed.score for s in valid if s.parsed is not None]
        positions = [self.scale.position(x) for x in scores]
        position = _aggregate(positions, self.aggregate)
        source = next((s for s, p in zip(valid, positions, strict=True) if p == position), valid[0])
        return Verdict(
            score=self.scale.score_at(position),
            value=self.scale.normalise(position),
            reasoning=source.parsed.reasoning if source.parsed is not None else "",
            raw=source.reply,
            attempts=attempts,
            sample_scores=scores if self.samples > 1 else [],
            n_failed_samples=len(row) - len(valid),
            agreement=(
                sum(1 for p in positions if p == position) / len(positions)
                if self.samples > 1
                else None
            ),
        )

    def _self_agreement(self, slots: list[list[_Slot]], n_resamples: int) -> AgreementReport | None:
        if self.samples < 2 or len(slots) < 2:
            return None
        table = [
            [None if s.parsed is None else self.scale.position(s.parsed.score) for s in row]
            for row in slots
        ]
        if sum(1 for row in table if sum(x is not None for x in row) >= 2) < 2:
            return None
        return agreement(
            table,
            raters=[f"sample {i + 1}" for i in range(self.samples)],
            level="ordinal",
            n_resamples=n_resamples,
            seed=self.seed,
        )

    def scores(
        self,
        items: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        on_failure: Literal["zero", "error"] = "zero",
    ) -> list[float]:
        """Normalised values (0..1) for the items; failed verdicts score 0 or raise."""
        result = self.run(items)
        if on_failure == "error" and result.n_failed:
            first = next(v for v in result.verdicts if isinstance(v, Failed))
            raise JudgeError(
                f"judge '{self.name}': {result.n_failed} of {len(result.verdicts)} item(s) got no "
                f"valid verdict; first error: {first.error}",
                hint="raise max_retries or max_tokens, use a stronger judge model, "
                "or set on_failure: zero to score them 0",
            )
        return [v.value if isinstance(v, Verdict) else 0.0 for v in result.verdicts]


def _aggregate(positions: list[float], how: str) -> float:
    if how == "mean":
        return math.fsum(positions) / len(positions)
    if how == "majority":
        counts = Counter(positions)
        top = max(counts.values())
        return float(statistics.median_low(sorted(p for p, c in counts.items() if c == top)))
    return float(statistics.median_low(positions))
