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
"""

from __future__ import annotations

import json
import logging
import math
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, create_model

from assay.errors import BackendError, ConfigError, UserError
from assay.evals.agreement import AgreementReport, Level, Weights, agreement
from assay.evals.scorers.registry import Sample, Scorer
from assay.models.facade import Model
from assay.models.types import Generation, Message, Sampling
from assay.prompting.templates import PromptTemplate
from assay.stats import DEFAULT_RESAMPLES

log = logging.getLogger(__name__)

RUBRICS_DIR = Path(__file__).with_name("rubrics")
FIELDS = ("question", "answer", "reference", "context")
"""The item fields every rubric may use."""
ALIASES = {"input": "question", "prediction": "answer"}
DEFAULT_SAMPLING_TEMPERATURE = 0.7
AGGREGATES = ("median", "mean", "majority")

_REQUIRES = re.compile(r"\{#-?\s*requires\s*:\s*(.*?)\s*-?#\}", re.S)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)


class JudgeError(BackendError):
    """A judge could not produce a valid verdict where one was required (``on_failure: error``)."""


# --------------------------------------------------------------------------------------------
# Scale


@dataclass(frozen=True)
class Scale:
    """The values a verdict may take: integers ``low..high``, or labels ordered worst to best.

    Build with :meth:`parse`. For labels, ``low``/``high`` are the first and last positions.
    """

    low: int = 1
    high: int = 5
    labels: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: Any) -> Scale:
        """``(1, 5)``, ``[1, 5]``, ``"1-5"``, ``["fail", "pass"]`` or ``"pass/fail"``."""
        if isinstance(spec, Scale):
            return spec
        if isinstance(spec, str):
            text = spec.strip().lower()
            if text in ("pass/fail", "pass_fail", "fail/pass", "binary"):
                return cls.of_labels(["fail", "pass"])
            m = re.fullmatch(r"(-?\d+)\s*(?:-|\.\.|to)\s*(-?\d+)", text)
            if m:
                return cls.numeric(int(m.group(1)), int(m.group(2)))
            raise ConfigError(
                f"scale '{spec}' is not understood",
                hint="use e.g. [1, 5], '1-5', ['fail', 'pass'] (labels worst first) or 'pass/fail'",
            )
        try:
            seq = list(spec)
        except TypeError:
            raise ConfigError(
                f"scale must be a pair of integers or a list of labels, not {spec!r}"
            ) from None
        if len(seq) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in seq):
            return cls.numeric(seq[0], seq[1])
        if len(seq) >= 2 and all(isinstance(x, str) for x in seq):
            return cls.of_labels(seq)
        raise ConfigError(
            f"scale must be a pair of integers (low, high) or a list of labels, not {spec!r}",
            hint="e.g. [1, 5] or ['fail', 'pass'] (labels from worst to best)",
        )

    @classmethod
    def numeric(cls, low: int, high: int) -> Scale:
        if not low < high:
            raise ConfigError(f"scale ({low}, {high}): low must be less than high")
        if high - low > 100:
            raise ConfigError(f"scale ({low}, {high}) has more than 101 points")
        return cls(low=low, high=high)

    @classmethod
    def of_labels(cls, labels: Sequence[str]) -> Scale:
        clean = tuple(str(x).strip().lower() for x in labels)
        if len(clean) < 2 or len(set(clean)) != len(clean) or not all(clean):
            raise ConfigError(
                f"scale labels must be at least two distinct words, got {list(labels)}"
            )
        return cls(low=0, high=len(clean) - 1, labels=clean)

    @property
    def kind(self) -> Literal["numeric", "labels"]:
        return "labels" if self.labels else "numeric"

    @property
    def points(self) -> list[int | str]:
        if self.labels:
            return list(self.labels)
        return list(range(self.low, self.high + 1))

    def position(self, score: int | float | str) -> float:
        """Where a score sits on the scale: the number itself, or the label's index."""
        if self.labels:
            return float(self.labels.index(str(score)))
        return float(score)

    def score_at(self, position: float) -> int | float | str:
        """The score at a position (a float between points only for ``mean`` aggregates)."""
        if self.labels:
            return self.labels[int(position)]
        return int(position) if float(position).is_integer() else float(position)

    def normalise(self, position: float) -> float:
        return (position - self.low) / (self.high - self.low)

    def spec(self) -> list[int] | list[str]:
        return list(self.labels) if self.labels else [self.low, self.high]

    @property
    def hint(self) -> str:
        if self.labels:
            return "one of " + ", ".join(f'"{x}"' for x in self.labels)
        return f"an integer from {self.low} to {self.high}"

    def output_format(self) -> str:
        score = (
            "<" + " or ".join(f'"{x}"' for x in self.labels) + ">"
            if self.labels
            else f"<{self.hint}>"
        )
        return (
            '{"reasoning": "<your reasoning, written before you decide>", "score": ' + score + "}"
        )

    def template_vars(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "labels": list(self.labels),
            "points": self.points,
            "hint": self.hint,
        }

    @cached_property
    def schema(self) -> type[JudgeReply]:
        """The pydantic model a reply's JSON must validate against."""
        if self.labels:
            score_type: Any = Annotated[
                Literal[self.labels],
                BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
            ]
        else:
            score_type = Annotated[int, Field(ge=self.low, le=self.high), BeforeValidator(_no_bool)]
        return create_model("JudgeReply", __base__=JudgeReply, score=(score_type, ...))


class JudgeReply(BaseModel):
    """What a judge must reply: its reasoning, then a score on the scale (validated per scale)."""

    reasoning: str
    score: Any


def _no_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("the score must be a number, not true/false")
    return v


# --------------------------------------------------------------------------------------------
# Parsing a reply


class VerdictParseError(ValueError):
    """A reply that holds no valid verdict; the message is what the judge is told on a re-ask."""


def _scan_objects(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    i = 0
    while (j := text.find("{", i)) >= 0:
        try:
            obj, end = decoder.raw_decode(text, j)
        except ValueError:
            i = j + 1
            continue
        if isinstance(obj, dict):
            out.append(obj)
            i = end
        else:
            i = j + 1
    return out


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in a reply: those inside code fences first, then the rest in order."""
    found: list[dict[str, Any]] = []
    for m in _FENCE.finditer(text):
        found.extend(_scan_objects(m.group(1)))
    found.extend(_scan_objects(text))
    return found


def parse_verdict(text: str, scale: Scale | Any = (1, 5)) -> JudgeReply:
    """The validated ``{"reasoning", "score"}`` object in a reply, or :class:`VerdictParseError`.

    Keys are matched case-insensitively; extra keys are ignored.
    """
    scale = Scale.parse(scale)
    objects = json_objects(text)
    if not objects:
        raise VerdictParseError("the reply has no JSON object")
    lowered = [{str(k).strip().lower(): v for k, v in o.items()} for o in objects]
    chosen = next((o for o in lowered if "score" in o), lowered[0])
    try:
        return scale.schema.model_validate(chosen)
    except ValidationError as exc:
        raise VerdictParseError(_describe(exc, scale)) from None


def _describe(exc: ValidationError, scale: Scale) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "the object"
        if err["type"] == "missing":
            parts.append(f"the JSON object has no '{loc}'")
            continue
        msg = str(err["msg"]).removeprefix("Value error, ")
        got = json.dumps(err.get("input"), default=str)[:80]
        extra = f"; it must be {scale.hint}" if loc == "score" else ""
        parts.append(f"'{loc}' is {got}: {msg}{extra}")
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Rubrics


def rubric_names() -> list[str]:
    """The rubrics that ship with assay."""
    return sorted(p.stem for p in RUBRICS_DIR.glob("*.jinja"))


@dataclass(frozen=True)
class Rubric:
    """A judge prompt: a template plus the item fields it needs."""

    name: str
    template: PromptTemplate
    requires: frozenset[str]

    @classmethod
    def load(cls, spec: str | Path | PromptTemplate | Rubric) -> Rubric:
        """A bundled rubric by name, a ``.jinja`` file, or a template."""
        if isinstance(spec, Rubric):
            return spec
        if isinstance(spec, PromptTemplate):
            return cls(spec.name, spec, _requires(spec))
        text = str(spec)
        bundled = RUBRICS_DIR / f"{text}.jinja"
        path = Path(text).expanduser()
        if isinstance(spec, str) and re.fullmatch(r"[A-Za-z0-9_-]+", text) and bundled.is_file():
            template = PromptTemplate.from_file(bundled)
            return cls(text, template, _requires(template))
        if path.is_file():
            template = PromptTemplate.from_file(path)
            return cls(str(path), template, _requires(template))
        raise ConfigError(
            f"unknown rubric '{text}'",
            hint=f"bundled rubrics: {', '.join(rubric_names())}; or give the path of a .jinja file",
        )

    @property
    def sha256(self) -> str:
        return self.template.sha256


def _requires(template: PromptTemplate) -> frozenset[str]:
    m = _REQUIRES.search(template.source)
    if m:
        names = [n.strip() for n in m.group(1).replace(",", " ").split()]
        return frozenset(ALIASES.get(n, n) for n in names if n)
    used = {ALIASES.get(v, v) for v in template.variables}
    return frozenset(used & set(FIELDS))


# --------------------------------------------------------------------------------------------
# Results


class Verdict(BaseModel):
    """A valid verdict. ``score`` is on the judge's scale, ``value`` the same normalised to 0..1.

    With ``samples > 1``, ``score`` is the aggregate, ``sample_scores`` the valid samples' scores,
    ``agreement`` the share of them equal to the aggregate, and ``reasoning`` the reasoning of
    the first sample that gave the aggregate score (else of the first valid sample).
    """

    ok: Literal[True] = True
    score: int | float | str
    value: float
    reasoning: str
    raw: str
    """The judge's reply the reasoning came from."""
    attempts: int = 1
    """Model calls spent on this item (samples and re-asks)."""
    sample_scores: list[int | str] = Field(default_factory=list)
    n_failed_samples: int = 0
    agreement: float | None = None


class Failed(BaseModel):
    """No valid verdict for this item after every re-ask: the error and the last reply."""

    ok: Literal[False] = False
    error: str
    raw: str = ""
    attempts: int = 0
    score: None = None
    value: None = None


Outcome = Verdict | Failed


@dataclass
class JudgeStats:
    """Counts for one call, or (on ``Judge.stats``) for every call of a judge."""

    n_items: int = 0
    n_verdicts: int = 0
    n_failed: int = 0
    n_reasked: int = 0
    """Replies that could not be used and were asked again."""
    n_generations: int = 0
    """Replies generated (samples and re-asks; cache hits included)."""

    def add(self, other: JudgeStats) -> None:
        self.n_items += other.n_items
        self.n_verdicts += other.n_verdicts
        self.n_failed += other.n_failed
        self.n_reasked += other.n_reasked
        self.n_generations += other.n_generations

    @property
    def failure_rate(self) -> float:
        return self.n_failed / self.n_items if self.n_items else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "n_verdicts": self.n_verdicts,
            "n_failed": self.n_failed,
            "n_reasked": self.n_reasked,
            "n_generations": self.n_generations,
        }


@dataclass(frozen=True)
class JudgeResult:
    """One judge's verdicts on a list of items, with counts and (``samples > 1``) self-agreement."""

    judge: str
    verdicts: list[Outcome]
    stats: JudgeStats
    self_agreement: AgreementReport | None = None
    """Agreement among the k samples as if they were k raters (needs 2+ items)."""

    @property
    def n_failed(self) -> int:
        return self.stats.n_failed

    def values(self, failed: float | None = 0.0) -> list[float | None]:
        """Normalised values, ``failed`` in place of failed verdicts."""
        return [v.value if isinstance(v, Verdict) else failed for v in self.verdicts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "verdicts": [v.model_dump() for v in self.verdicts],
            "stats": self.stats.to_dict(),
            "self_agreement": None
            if self.self_agreement is None
            else self.self_agreement.to_dict(),
        }


# --------------------------------------------------------------------------------------------
# The judge


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


def _criteria(criteria: str | Sequence[str] | None) -> tuple[str, ...]:
    if criteria is None:
        return ()
    if isinstance(criteria, str):
        return (criteria.strip(),) if criteria.strip() else ()
    return tuple(str(c).strip() for c in criteria if str(c).strip())


def _as_items(items: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(items, Mapping):
        return [items]
    out = list(items)
    for i, item in enumerate(out):
        if not isinstance(item, Mapping):
            raise UserError(
                f"judge item {i} is a {type(item).__name__}, not a mapping",
                hint="give dicts with question, answer, reference and/or context",
            )
    return out


def _absent(value: Any, name: str) -> bool:
    if value is None:
        return True
    if name == "answer":
        return False  # an empty answer is still an answer to grade
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Sequence | Mapping):
        return len(value) == 0
    return False


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _reference_text(value: Any) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        refs = [_text(v) for v in value if _text(v)]
        if len(refs) == 1:
            return refs[0]
        return "Any of these answers is correct:\n" + "\n".join(f"- {r}" for r in refs)
    return _text(value)


def _context_text(value: Any) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        parts = [_text(v) for v in value if _text(v)]
        return "\n\n".join(f"[{i}] {p}" for i, p in enumerate(parts, 1))
    return _text(value)


def _aggregate(positions: list[float], how: str) -> float:
    if how == "mean":
        return math.fsum(positions) / len(positions)
    if how == "majority":
        counts = Counter(positions)
        top = max(counts.values())
        return float(statistics.median_low(sorted(p for p, c in counts.items() if c == top)))
    return float(statistics.median_low(positions))


# --------------------------------------------------------------------------------------------
# Several judges


@dataclass(frozen=True)
class PanelResult:
    """Several judges on the same items: their verdicts and how much they agree."""

    judges: tuple[str, ...]
    results: dict[str, JudgeResult]
    agreement: AgreementReport | None
    """None with fewer than two judges."""

    @property
    def verdicts(self) -> dict[str, list[Outcome]]:
        """Judge name -> one verdict per item."""
        return {name: self.results[name].verdicts for name in self.judges}

    def per_item(self) -> list[dict[str, Outcome]]:
        """Item by item: judge name -> verdict."""
        n = len(self.results[self.judges[0]].verdicts) if self.judges else 0
        return [{name: self.results[name].verdicts[i] for name in self.judges} for i in range(n)]

    def ratings(self) -> list[list[int | float | str | None]]:
        """Item by item, each judge's score (None for a failed verdict)."""
        return [[v.score for v in row.values()] for row in self.per_item()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "judges": list(self.judges),
            "results": {n: r.to_dict() for n, r in self.results.items()},
            "agreement": None if self.agreement is None else self.agreement.to_dict(),
        }


def judge_many(
    judges: Sequence[Judge],
    items: Sequence[Mapping[str, Any]],
    *,
    level: Level = "ordinal",
    weights: Weights = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PanelResult:
    """Run every judge on the same items, then measure inter-judge agreement.

    The judges must share one scale. Agreement is computed on scale positions (the score, or the
    label's index), failed verdicts being missing values: Krippendorff's alpha at ``level``
    (default ordinal) uses every item with two or more verdicts, Fleiss' kappa the items every
    judge rated, Cohen's kappa (exactly two judges, ``weights`` for ordinal scales) the items
    both rated. Judges addressed by the same model address share one loaded model.
    """
    judges = list(judges)
    if not judges:
        raise UserError("judge_many needs at least one judge")
    scales = {j.scale for j in judges}
    if len(scales) != 1:
        raise ConfigError(
            "judges on different scales cannot be compared: "
            + ", ".join(f"{j.name} {j.scale.spec()}" for j in judges),
            hint="give every judge the same scale",
        )
    batch = _as_items(items)
    names = _unique([j.name for j in judges])
    loaded: dict[str, Model] = {j.address: j._model for j in judges if j._model is not None}
    for j in judges:
        if j._model is None:
            if j.address not in loaded:
                loaded[j.address] = Model.load(j.address)
            j._model = loaded[j.address]
    results = {
        name: j.run(batch, n_resamples=n_resamples) for name, j in zip(names, judges, strict=True)
    }
    report = None
    if len(judges) >= 2 and len(batch) >= 1:
        scale = judges[0].scale
        table = [
            [
                None if not isinstance(v, Verdict) else scale.position(v.score)
                for v in (results[name].verdicts[i] for name in names)
            ]
            for i in range(len(batch))
        ]
        report = agreement(
            table,
            raters=names,
            level=level,
            weights=weights,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
        )
    return PanelResult(judges=tuple(names), results=results, agreement=report)


def _unique(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


# --------------------------------------------------------------------------------------------
# The llm_judge scorer


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
