"""The cells of a sweep: every combination of its axes, each an ordinary evaluation run.

Precision only means something for local ``hf:`` models; other models (API, llama.cpp, scripted)
get one cell per combination of the other axes, marked ``served``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from assay.errors import ConfigError
from assay.sweeps.config import PRECISIONS, SweepConfig

SERVED = "served"
"""The precision of a model that is not loaded here (API, llama.cpp, scripted)."""


@dataclass(frozen=True)
class Cell:
    index: int
    task: str
    model: str
    precision: str
    prompt: str | None = None
    """The name of the prompt (a key of ``axes.prompt``); None: the task's template."""
    template: str | None = None
    shots: int | None = None
    cot: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    varying: tuple[str, ...] = field(default=(), compare=False)
    """The axes with more than one value: what the label shows."""

    def axes(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "model": self.model,
            "precision": self.precision,
            "prompt": self.prompt,
            "shots": self.shots,
            "cot": self.cot,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    @property
    def label(self) -> str:
        shown = [
            k
            for k in self.varying
            if k != "model" and not (k == "precision" and self.precision == SERVED)
        ]
        parts = [self.model] if "model" in self.varying or not shown else []
        parts += [f"{k}={self.axes()[k]}" for k in shown]
        return " ".join(parts)

    def overrides(self) -> dict[str, Any]:
        """The task keys this cell sets."""
        out: dict[str, Any] = {}
        if self.template is not None:
            out["template"] = self.template
        if self.shots is not None:
            out["fewshot.k"] = self.shots
        if self.cot is not None:
            out["cot"] = self.cot
        if self.temperature is not None:
            out["generation.temperature"] = self.temperature
        if self.max_tokens is not None:
            out["generation.max_tokens"] = self.max_tokens
        return out

    def dtype(self) -> str | None:
        """The ``dtype`` setting this cell loads its model with (None: as served)."""
        return None if self.precision == SERVED else PRECISIONS[self.precision]


def is_local(address: str) -> bool:
    """Models whose precision the sweep chooses: ``hf:`` (transformers) models."""
    from assay.config import load_settings
    from assay.models.registry import resolve_alias
    from assay.workspace import Workspace

    settings = load_settings(Workspace.find().config_path)
    return resolve_alias(address, settings.aliases).startswith(("hf:", "run:"))


def expand(config: SweepConfig) -> list[Cell]:
    """Every cell of the grid, in a stable order (tasks, then models, then the other axes)."""
    axes = config.axes
    named = axes.prompt if isinstance(axes.prompt, dict) else {}  # a file is read by load_sweep
    prompts: list[tuple[str | None, str | None]] = list(named.items()) or [(None, None)]
    others: dict[str, list[Any]] = {
        "shots": list(axes.shots) or [None],
        "cot": list(axes.cot) or [None],
        "temperature": list(axes.temperature) or [None],
        "max_tokens": list(axes.max_tokens) or [None],
    }
    varying = tuple(
        name
        for name, n in [
            ("task", len(config.task_names)),
            ("model", len(axes.model)),
            ("precision", len(axes.precision)),
            ("prompt", len(prompts)),
            *((k, len(v)) for k, v in others.items()),
        ]
        if n > 1
    )
    cells: list[Cell] = []
    seen: set[tuple[Any, ...]] = set()
    for task, model in itertools.product(config.task_names, axes.model):
        precisions = axes.precision if is_local(model) else [SERVED]
        for precision, (prompt, template), shots, cot, temp, max_tokens in itertools.product(
            precisions, prompts, *others.values()
        ):
            key = (task, model, precision, prompt, shots, cot, temp, max_tokens)
            if key in seen:
                continue
            seen.add(key)
            cells.append(
                Cell(
                    len(cells),
                    task,
                    model,
                    precision,
                    prompt,
                    template,
                    shots,
                    cot,
                    temp,
                    max_tokens,
                    varying,
                )
            )
    if not cells:
        raise ConfigError(f"{config.source_file or 'sweep'}: the grid is empty: no cell to run")
    return cells


__all__ = ["SERVED", "Cell", "expand", "is_local"]
