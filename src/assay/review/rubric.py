"""Review rubrics: what a human reviewer may answer for an item, and what each answer means.

A rubric is a small YAML file, either labels or a numeric scale, each point with a description
shown to the reviewer::

    name: correct
    instructions: Is the model's answer correct, given the reference?
    labels:                      # worst first; a list of words, or word: description
      wrong: the final answer differs from the reference
      partly: part of it is right
      right: agrees with the reference
    ordered: true                # ordinal labels (agreement uses an ordinal distance)

    name: quality
    scale: [1, 5]
    descriptions: {1: useless, 3: acceptable, 5: excellent}

The LLM-judge rubrics (``correctness``, ``faithfulness``, ``helpfulness`` or a ``.jinja`` file,
see :mod:`assay.evals.judge`) load as review rubrics too: their 1-5 scale, with the template's
opening comment as the instructions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assay.config_errors import explain, valid_keys, yaml_key_lines, yaml_problem
from assay.errors import ConfigError, UserError

PREFERENCE = ("a", "b", "tie")
"""The answers of a pairwise review (which run's output is better), stored un-blinded."""


class RubricFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    instructions: str = ""
    labels: list[str] | dict[str, str] | None = None
    ordered: bool = False
    scale: list[int] | None = Field(default=None, min_length=2, max_length=2)
    descriptions: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> RubricFile:
        if (self.labels is None) == (self.scale is None):
            raise ValueError("give exactly one of 'labels' (words) or 'scale' ([low, high])")
        if self.labels is not None:
            names = list(self.labels)
            if len(names) < 2 or len({n.strip().lower() for n in names}) != len(names):
                raise ValueError("'labels' needs at least two distinct words")
            if len(names) > 9:
                raise ValueError("'labels' may have at most 9 words (one key each, 1-9)")
        if self.scale is not None:
            low, high = self.scale
            if not low < high or high - low > 9:
                raise ValueError("'scale' is [low, high] with low < high and at most 10 points")
        return self


class Rubric(BaseModel):
    """A loaded rubric: its points in order (worst first), their descriptions and keys."""

    name: str
    instructions: str = ""
    kind: str  # "labels" or "scale"
    points: list[str]
    descriptions: dict[str, str] = Field(default_factory=dict)
    level: str = "nominal"  # for agreement: nominal, ordinal or interval
    source: str = ""

    @property
    def keys(self) -> dict[str, str]:
        """Keyboard key -> point: the number itself on a 0-9 scale, else 1, 2, 3 ... in order."""
        if self.kind == "scale" and all(p.isdigit() and len(p) == 1 for p in self.points):
            return {p: p for p in self.points}
        return {str(i): p for i, p in enumerate(self.points, 1)}

    def check(self, value: str) -> str:
        """``value`` as one of the rubric's points, or a one-line error naming the choices."""
        text = str(value).strip()
        low = text.lower()
        for p in self.points:
            if p.lower() == low:
                return p
        raise UserError(
            f"'{value}' is not a label of rubric '{self.name}'",
            hint="choose one of: " + ", ".join(self.points),
        )

    def position(self, value: str) -> float:
        """0 for the worst point, 1 for the best: a score that averages into a run metric."""
        return self.points.index(value) / (len(self.points) - 1)

    def rating(self, value: str) -> Any:
        """The value as agreement statistics see it: the number on a scale, else the label."""
        return float(value) if self.kind == "scale" else value


def _from_file(data: RubricFile, source: str) -> Rubric:
    if data.scale is not None:
        low, high = data.scale
        points = [str(x) for x in range(low, high + 1)]
        described = {str(k): v for k, v in data.descriptions.items()}
        unknown = [k for k in described if k not in points]
        if unknown:
            raise ConfigError(
                f"{source}: descriptions for {', '.join(unknown)} are outside the scale {low}-{high}"
            )
        return Rubric(
            name=data.name,
            instructions=data.instructions,
            kind="scale",
            points=points,
            descriptions=described,
            level="interval",
            source=source,
        )
    labels = data.labels or []
    described = dict(labels) if isinstance(labels, dict) else {}
    return Rubric(
        name=data.name,
        instructions=data.instructions,
        kind="labels",
        points=[str(x).strip() for x in labels],
        descriptions={k.strip(): v for k, v in described.items()},
        level="ordinal" if data.ordered else "nominal",
        source=source,
    )


def _judge_rubric(spec: str) -> Rubric:
    """A judge rubric (bundled name or ``.jinja`` file) as a 1-5 review scale."""
    from assay.evals.judge import Rubric as JudgeRubric

    judge = JudgeRubric.load(spec)
    # The first comment that is not ``requires:`` says what the rubric is for.
    comments = re.findall(r"\{#\s*(.*?)\s*#\}", judge.template.source, re.S)
    intro = next((c for c in comments if not c.startswith("requires:")), "")
    instructions = " ".join(intro.split()).split(" Variables:")[0]
    name = Path(judge.name).stem
    return Rubric(
        name=name,
        instructions=instructions,
        kind="scale",
        points=[str(x) for x in range(1, 6)],
        descriptions={"1": "worst", "5": "best"},
        level="interval",
        source=f"judge rubric {judge.name}",
    )


def load_rubric(spec: str | Path) -> Rubric:
    """A rubric from a YAML file, or a judge rubric by name or ``.jinja`` path.

    A YAML file with errors fails with one line naming the file, the line and the key.
    """
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"rubric file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(yaml_problem(str(path), exc)) from None
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{path}: a rubric is a mapping with 'name' and 'labels' or 'scale'",
                hint="see `assay review create --help` for an example",
            )
        try:
            data = RubricFile.model_validate(raw)
        except ValidationError as exc:
            raise explain(exc, str(path), valid_keys(RubricFile), yaml_key_lines(text)) from None
        return _from_file(data, str(path))
    return _judge_rubric(str(spec))


def preference_rubric(base: Rubric) -> Rubric:
    """The rubric of a pairwise review: which output is better by ``base``'s criteria."""
    return Rubric(
        name=base.name,
        instructions=base.instructions,
        kind="preference",
        points=list(PREFERENCE),
        descriptions={"a": "the first output is better", "b": "the second", "tie": "neither"},
        level="nominal",
        source=base.source,
    )


__all__ = ["PREFERENCE", "Rubric", "load_rubric", "preference_rubric"]
