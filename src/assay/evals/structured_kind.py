"""The ``structured`` task kind: the model answers with JSON that must fit a schema, and each
field of the answer is scored against a gold field of the row.

    kind: structured
    template: "Abstract: {{ context }}\\nQuestion: {{ question }}"
    structured:
      json_schema: answer.schema.json       # or the schema inline; a path is relative to the YAML
      fields:                               # answer field -> how it is scored
        decision: exact                     # gold: the row field of the same name
        sections: {match: set_f1, gold: context_labels}
        dose_mg: {match: numeric, abs_tol: 0.5}
      max_attempts: 3                       # model calls per sample (re-asked with the error)

Generation goes through :func:`assay.prompting.structured.generate_structured` (constrained
decoding where the backend can, validation and re-asking everywhere). Metrics: ``schema_valid``
(the share of samples whose answer is valid against the schema), ``field.<name>`` per field and
``fields_mean`` (the mean field score per sample). An answer that is still invalid after the last
attempt is a recorded failure: flagged with its validation errors, counted among the run's
extraction failures, and scored 0 on every field (never a silent right or wrong).

Field matches: ``exact`` (after normalisation: case, whitespace, optionally punctuation and
articles), ``numeric`` (numbers within ``abs_tol``/``rel_tol``), ``set_f1`` (F1 between the sets
of normalised list items; a gold string is split on ``separator`` when one is given).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay.errors import ConfigError

if TYPE_CHECKING:
    from assay.evals.record import SampleRecord
    from assay.evals.scorers import Scorer
    from assay.evals.steps import PromptBuilder
    from assay.evals.task import TaskConfig
    from assay.models.facade import Model

Match = Literal["exact", "numeric", "set_f1"]
VALID_METRIC = "schema_valid"
MEAN_METRIC = "fields_mean"


class FieldScoring(BaseModel):
    """How one answer field is compared with its gold value."""

    model_config = ConfigDict(extra="forbid")

    match: Match = "exact"
    gold: str | None = None
    """The row field holding the gold value; default: the answer field's own name."""
    ignore_case: bool = True
    ignore_punctuation: bool = False
    ignore_articles: bool = False
    abs_tol: float = 1e-6
    """``numeric``: the absolute tolerance."""
    rel_tol: float = 0.0
    """``numeric``: the relative tolerance."""
    separator: str | None = None
    """``set_f1``: split a gold string into items on this (e.g. ``";"``)."""


class StructuredConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    json_schema: dict[str, Any] | str
    """The JSON Schema inline, or a ``.json``/``.yaml`` file (relative to the task file)."""
    fields: dict[str, FieldScoring] = Field(min_length=1)
    """Answer field (``a.b`` for nested ones) -> how it is scored; a match name alone is short
    for ``{match: NAME}``."""
    max_attempts: int = Field(default=3, ge=1)

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: {"match": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def gold_field(self, name: str) -> str:
        return self.fields[name].gold or name


# -- the schema ----------------------------------------------------------------------------------
def read_schema_file(path: Path) -> dict[str, Any]:
    """A JSON Schema from a ``.json`` or ``.yaml`` file (ConfigError naming the file if not)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the JSON Schema ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at byte offset "
            f"{exc.start})",
            hint="save the schema as UTF-8",
        ) from None
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable JSON Schema file ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a JSON Schema is a mapping (type, properties, ...)")
    return data


def inline_schema(data: dict[str, Any], task_file: Path) -> dict[str, Any]:
    """A raw task mapping with a ``structured.json_schema`` file path replaced by the schema it
    holds (the path taken relative to the task file), so the run records the schema itself."""
    block = data.get("structured")
    if not isinstance(block, dict) or not isinstance(block.get("json_schema"), str):
        return data
    path = Path(block["json_schema"]).expanduser()
    if not path.is_absolute():
        path = task_file.parent / path
    return {**data, "structured": {**block, "json_schema": read_schema_file(path)}}


def task_schema(task: TaskConfig) -> dict[str, Any]:
    """The task's checked schema (a file path given in Python is relative to the current
    directory); ConfigError if it is not a valid JSON Schema."""
    from assay.prompting.structured import load_schema

    config = _config(task)
    schema = config.json_schema
    if isinstance(schema, str):
        schema = read_schema_file(Path(schema).expanduser())
    checked = load_schema(schema)
    if not isinstance(checked.schema, dict):
        raise ConfigError(f"task '{task.name}': structured.json_schema must be a mapping")
    return checked.schema


def _config(task: TaskConfig) -> StructuredConfig:
    config = task.structured
    if config is None:
        raise ConfigError(
            f"task '{task.name}': kind 'structured' needs a 'structured' block",
            hint="add structured: {json_schema: ..., fields: {...}}",
        )
    return config


def gold_fields(task: TaskConfig) -> set[str]:
    """The row fields every sample needs (the gold values of the scored answer fields)."""
    config = _config(task)
    return {config.gold_field(name) for name in config.fields}


# -- scoring -------------------------------------------------------------------------------------
def answer_field(value: Any, path: str) -> Any:
    """``value["a"]["b"]`` for ``"a.b"`` (list items by number); None where there is none."""
    node = value
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _text(value: Any, spec: FieldScoring) -> str:
    from assay.evals.scorers.text import normalize_text

    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif isinstance(value, bool):
        value = "true" if value else "false"
    return normalize_text(
        value,
        ignore_case=spec.ignore_case,
        ignore_punctuation=spec.ignore_punctuation,
        ignore_articles=spec.ignore_articles,
        normalize_whitespace=True,
    )


def _items(value: Any, spec: FieldScoring) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        parts = value.split(spec.separator) if spec.separator is not None else [value]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        parts = [value]
    return {t for t in (_text(p, spec) for p in parts) if t}


def score_field(predicted: Any, gold: Any, spec: FieldScoring) -> float:
    """One answer field against its gold value: 1.0/0.0 for ``exact`` and ``numeric``, an F1
    in [0, 1] for ``set_f1``."""
    if spec.match == "numeric":
        from assay.evals.scorers.numeric import numeric_match

        if predicted is None or isinstance(predicted, bool):
            return 0.0
        return numeric_match(predicted, gold, rel_tol=spec.rel_tol, abs_tol=spec.abs_tol)
    if spec.match == "set_f1":
        pred, ref = _items(predicted, spec), _items(gold, spec)
        if not pred and not ref:
            return 1.0
        return 2 * len(pred & ref) / (len(pred) + len(ref))
    if predicted is None:
        return 0.0
    return float(_text(predicted, spec) == _text(gold, spec))


def structured_scorers(task: TaskConfig) -> list[Scorer]:
    """``schema_valid``, ``field.<name>`` for each scored field, ``fields_mean``, then any scorers
    the task lists (they get the answer and the gold mapping). An invalid answer's prediction
    is None."""
    from assay.evals.scorers import Scorer, get_scorer

    config = _config(task)

    def field_fn(name: str) -> Any:
        spec = config.fields[name]

        def fn(prediction: Any, reference: Any, sample: Any) -> float:
            if prediction is None:
                return 0.0
            return score_field(answer_field(prediction, name), reference.get(name), spec)

        return fn

    def mean_fn(prediction: Any, reference: Any, sample: Any) -> float:
        if prediction is None:
            return 0.0
        values = [field_fn(name)(prediction, reference, sample) for name in config.fields]
        return math.fsum(values) / len(values)

    scorers = [
        Scorer(
            VALID_METRIC,
            lambda p, r, s: float(p is not None),
            description="share of answers valid against the task's JSON Schema",
        ),
        *[
            Scorer(
                f"field.{name}",
                field_fn(name),
                options=config.fields[name].model_dump(),
                description=f"answer field '{name}' against row field "
                f"'{config.gold_field(name)}' ({config.fields[name].match})",
            )
            for name in config.fields
        ],
        Scorer(MEAN_METRIC, mean_fn, description="mean of the field scores of each answer"),
    ]
    scorers += [get_scorer(s.name, **s.options) for s in task.scorer_configs()]
    return scorers


# -- generation ----------------------------------------------------------------------------------
def solve_structured(
    task: TaskConfig,
    model: Model,
    prompts: PromptBuilder,
    batch: Sequence[tuple[str, dict[str, Any]]],
) -> list[SampleRecord]:
    """One record per row: the answer (None when invalid), its gold mapping, attempts, errors."""
    from assay.evals.kinds.base import sampling, show
    from assay.evals.record import SampleRecord
    from assay.prompting.structured import generate_structured, load_schema, schema_chat

    config = _config(task)
    schema = load_schema(task_schema(task))
    built = [prompts.prompt(row, rid) for rid, row in batch]
    results = generate_structured(
        model,
        built,
        schema,
        sampling=sampling(task, json_schema=False),  # the schema is the structured block's
        max_attempts=config.max_attempts,
    )
    out = []
    for (_, row), prompt, res in zip(batch, built, results, strict=True):
        value = res.json_value() if res.valid else None
        out.append(
            SampleRecord(
                input=show(schema_chat(prompt, schema)),  # as sent (first attempt)
                output=res.raw,
                extracted=value,
                extraction_ok=res.valid,
                extraction_error=None if res.valid else "; ".join(res.errors) or "invalid",
                prediction=value,
                target={name: row.get(config.gold_field(name)) for name in config.fields},
                attempts=res.attempts,
                validation_errors=list(res.errors),
                constrained=res.constrained,
                prompt_tokens=res.prompt_tokens,
                completion_tokens=res.completion_tokens,
                latency_s=res.latency_s,
            )
        )
    return out


__all__ = [
    "FieldScoring",
    "StructuredConfig",
    "answer_field",
    "gold_fields",
    "inline_schema",
    "score_field",
    "solve_structured",
    "structured_scorers",
    "task_schema",
]
