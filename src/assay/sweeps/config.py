"""The sweep file: one task (or several), a grid of axes, every cell on the same seeded items.

    name: pick-a-model
    task: gsm8k                      # or tasks: [gsm8k, my-task.yaml]
    limit: 100                       # the same seeded sample of items for every cell
    effect: 0.05                     # the smallest difference worth telling apart
    set: {generation.max_tokens: 64} # task overrides shared by every cell
    axes:
      model: [default, "openai:gpt-4o-mini"]
      precision: [fp32, bf16, int8]  # local hf: models only
      prompt:                        # named templates: wordings of the same instruction
        plain: "{{ question }}"
        careful: "Answer carefully. {{ question }}"
      shots: [0, 3]
      cot: [off, step_by_step]
      temperature: [0.0]
      max_tokens: [64]

Unknown keys and values are one-line errors naming the file, the line and the nearest valid
name, as for every other config file (:mod:`assay.config_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from assay.config_file import did_you_mean, read_yaml_mapping, validate
from assay.errors import ConfigError, UserError

PRECISIONS: dict[str, str] = {
    "auto": "auto",
    "fp32": "float32",
    "bf16": "bfloat16",
    "fp16": "float16",
    "int8": "int8",
}
"""A precision as the sweep names it -> the ``dtype`` setting the hf backend loads it with."""
COT_MODES = ("off", "step_by_step", "reason_then_answer")


def _one_of(value: str, valid: list[str] | tuple[str, ...], what: str) -> str:
    if value not in valid:
        near = did_you_mean(value, valid)
        raise ValueError(f"unknown {what} '{value}'; {near}valid: {', '.join(valid)}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Axes(_Strict):
    """The grid: every combination of the values listed is one cell."""

    model: list[str] = Field(default_factory=lambda: ["default"])
    """Model addresses or aliases, as ``-m`` takes them."""
    precision: list[str] = Field(default_factory=lambda: ["auto"])
    """Weight precision of local ``hf:`` models: fp32, bf16, fp16, int8 (dynamic quantisation,
    CPU) or auto; other models run as they are served, once."""
    prompt: dict[str, str] | str = Field(default_factory=dict)
    """Named templates (Jinja, as a task's ``template``): wordings of the same instruction, so
    the report can tell the spread due to the wording from the spread due to the items; or a
    YAML file of them (``assay sweep paraphrase`` writes one). Empty: the task's template."""
    shots: list[int] = Field(default_factory=list)
    """Few-shot examples per item (``fewshot.k``); empty: the task's."""
    cot: list[str] = Field(default_factory=list)
    """Chain of thought: off, step_by_step, reason_then_answer; empty: the task's."""
    temperature: list[float] = Field(default_factory=list)
    """Sampling temperature; empty: the task's."""
    max_tokens: list[int] = Field(default_factory=list)
    """New tokens at most per answer; empty: the task's."""

    @field_validator("model", "precision")
    @classmethod
    def _not_empty(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("is empty, so the grid has no cells: list at least one")
        return values

    @field_validator("precision")
    @classmethod
    def _precisions(cls, values: list[str]) -> list[str]:
        return [_one_of(v, list(PRECISIONS), "precision") for v in values]

    @field_validator("cot")
    @classmethod
    def _cots(cls, values: list[str]) -> list[str]:
        return [_one_of(v, COT_MODES, "chain-of-thought mode") for v in values]

    @field_validator("shots", "max_tokens")
    @classmethod
    def _counts(cls, values: list[int]) -> list[int]:
        for v in values:
            if v < 0:
                raise ValueError(f"must be 0 or more, got {v}")
        return values

    @field_validator("prompt")
    @classmethod
    def _prompts(cls, values: dict[str, str] | str) -> dict[str, str] | str:
        if isinstance(values, str):
            if not values.strip():
                raise ValueError("names no prompts file")
            return values
        for name, text in values.items():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"prompt '{name}' is empty")
        return values


class SweepConfig(_Strict):
    name: str = "sweep"
    """Shown in listings and reports (default: the file's name)."""
    task: str | None = None
    """A built-in task name or a task YAML file (relative to the sweep file)."""
    tasks: list[str] = Field(default_factory=list)
    """Several tasks, each swept over the same grid."""
    limit: int | None = Field(default=None, ge=1)
    """A seeded sample of this many items, the same for every cell."""
    seed: int | None = None
    """Seed of that sample, few-shot draws and sampling (default: the task's)."""
    set: dict[str, Any] = Field(default_factory=dict)
    """Task overrides shared by every cell, as ``--set`` takes them (``fewshot.method: fixed``)."""
    metric: str | None = None
    """The metric cells are ranked by (default: the task's first)."""
    effect: float = Field(default=0.05, gt=0)
    """The smallest difference worth telling apart: the sweep warns when its items are too few."""
    axes: Axes = Field(default_factory=Axes)
    source_file: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _one_task(self) -> SweepConfig:
        if (self.task is None) == (not self.tasks):
            raise ValueError("give exactly one of 'task' or 'tasks'")
        return self

    @property
    def task_names(self) -> list[str]:
        return [self.task] if self.task is not None else list(self.tasks)


def _check_models(config: SweepConfig, source: str, lines: dict[str, int]) -> None:
    """Every model address names a known provider or alias (a model that then fails to load is
    a failed cell, not a refused sweep)."""
    from assay.config import load_settings
    from assay.models.registry import PROVIDERS, resolve_alias, split_address
    from assay.workspace import Workspace

    settings = load_settings(Workspace.find().config_path)
    for i, address in enumerate(config.axes.model):
        try:
            split_address(resolve_alias(address, settings.aliases))
        except UserError as exc:
            line = lines.get(f"axes.model.{i}")
            at = f":{line}" if line else ""
            prefix = address.partition(":")[0] if ":" in address else address
            names = [*settings.aliases, *(f"{p}:" for p in PROVIDERS.names())]
            raise ConfigError(
                f"{source}{at}: axes.model.{i}: {exc.message}",
                hint=did_you_mean(prefix, names) + (exc.hint or ""),
            ) from None


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepConfig:
    """Read and check a sweep file (its tasks and model names included)."""
    from assay.config_file import apply_overrides

    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"{path} is a folder; a sweep is a YAML file", hint="see `assay sweep -h`"
        )
    if not path.exists():
        raise ConfigError(f"no sweep file {path}", hint="see `assay sweep -h` for an example")
    loaded = read_yaml_mapping(
        path,
        what="sweep file",
        shape="sweep settings (task, axes, ...)",
        empty="a sweep needs at least task: and axes:",
    )
    loaded.data.setdefault("name", path.stem)
    if overrides:
        apply_overrides(loaded.data, overrides, str(path), loaded.lines)
    config = validate(
        SweepConfig, loaded.data, str(path), lines=loaded.lines, hidden=["source_file"]
    )
    config.source_file = str(path)
    if isinstance(config.axes.prompt, str):
        from assay.sweeps.paraphrase import load_prompts

        line = loaded.lines.get("axes.prompt")
        where = f"{path}{':' + str(line) if line else ''}"
        config.axes.prompt = load_prompts(path.parent / config.axes.prompt, where)
    _check_models(config, str(path), loaded.lines)
    for i, name in enumerate(config.task_names):
        key = "task" if config.task is not None else f"tasks.{i}"
        _resolve_task(config, name, str(path), loaded.lines.get(key))
    return config


def _resolve_task(config: SweepConfig, name: str, source: str, line: int | None) -> Any:
    from assay.evals.task import load_task

    near = Path(config.source_file or ".").parent / name
    try:
        return load_task(str(near) if near.is_file() else name)
    except UserError as exc:
        at = f":{line}" if line else ""
        raise ConfigError(f"{source}{at}: {exc.message}", hint=exc.hint) from None


def resolve_task(config: SweepConfig, name: str) -> Any:
    """The :class:`~assay.evals.task.TaskConfig` ``name`` names (relative to the sweep file),
    with the sweep's shared overrides and seed applied."""
    task = _resolve_task(config, name, config.source_file or "sweep", None)
    changes = dict(config.set)
    if config.seed is not None:
        changes["seed"] = config.seed
    return task.with_overrides(**changes) if changes else task


__all__ = ["COT_MODES", "PRECISIONS", "Axes", "SweepConfig", "load_sweep", "resolve_task"]
