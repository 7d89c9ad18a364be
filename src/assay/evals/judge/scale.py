"""The scale of a judge: integers ``low..high`` or labels ordered worst to best, and the reply it
validates."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, create_model

from assay.errors import ConfigError


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
