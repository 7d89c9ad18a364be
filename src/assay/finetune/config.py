"""Typed training configs: a YAML file, then ``key=value`` overrides with dotted keys.

Every recipe has one config class (in its own file) built from the shared pieces below. Loading
goes: read the YAML mapping → apply overrides (``optim.learning_rate=1e-4``; values are parsed as
YAML scalars, so ``true``, ``3``, ``[a, b]`` and ``null`` work) → find the recipe named by
``recipe:`` → validate with that recipe's class. An unknown key is refused with the nearest valid
key; a wrong value names the key, the source (file or override) and what was expected.
Relative file paths in a YAML file are relative to that file's folder; in an override, to the
folder the command runs in.

The **config hash** identifies what a run computes: every field except those that cannot change
the numbers (``run_id``, ``progress``, ``device`` and the ``checkpoint`` section). A run resumed
from a checkpoint must have the same hash; :func:`config_diff` shows what changed when it does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assay.config_errors import valid_keys
from assay.config_file import (
    ConfigText,
    apply_overrides,
    parse_overrides,
    read_yaml_mapping,
    validate,
)
from assay.errors import ConfigError
from assay.plugins import Registry

RECIPES: Registry[Any] = Registry("recipe", group="assay.recipes")
"""Recipe name → module holding ``Config`` (a :class:`RecipeConfig`) and ``run(config, env)``,
imported on first use; plugins add theirs (``assay.recipes``)."""
for _recipe in ("classifier", "causal_lm", "sft", "dpo"):
    RECIPES.register_lazy(_recipe, f"assay.finetune.recipes.{_recipe}")

NON_SEMANTIC: tuple[str, ...] = ("run_id", "progress", "device", "checkpoint")
"""Top-level fields left out of the config hash: they never change what is computed."""

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OptimConfig(Strict):
    """How to optimise: steps, batch, learning rate and its schedule, clipping, precision."""

    epochs: float = Field(default=1.0, gt=0)
    """Passes over the training data; ignored when ``max_steps`` is set."""
    max_steps: int | None = Field(default=None, ge=1)
    """Optimizer steps to take (overrides ``epochs``)."""
    batch_size: int = Field(default=8, ge=1)
    """Examples per micro-batch on each process."""
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    """Micro-batches per optimizer step (the effective batch is this times ``batch_size``
    times the processes)."""
    learning_rate: float = Field(default=5e-5, gt=0)
    """The peak learning rate (AdamW), reached after warmup."""
    weight_decay: float = Field(default=0.0, ge=0)
    """AdamW weight decay (not applied to biases and norms)."""
    adam_beta1: float = Field(default=0.9, ge=0, lt=1)
    adam_beta2: float = Field(default=0.999, ge=0, lt=1)
    adam_epsilon: float = Field(default=1e-8, gt=0)
    lr_schedule: Literal["linear", "cosine", "constant"] = "linear"
    """Decay after warmup: linear to 0, cosine to 0, or constant."""
    warmup_steps: int | None = Field(default=None, ge=0)
    """Steps of linear warmup from 0; overrides ``warmup_ratio``."""
    warmup_ratio: float = Field(default=0.0, ge=0, le=1)
    """Fraction of the steps spent warming up, when ``warmup_steps`` is not given."""
    max_grad_norm: float | None = Field(default=1.0, gt=0)
    """Clip the gradient norm to this; ``null`` for no clipping."""
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    """Autocast precision (fp16 and bf16 need a GPU that supports them)."""


class EvalConfig(Strict):
    """Evaluation on the validation set during training, and early stopping."""

    every_steps: int | None = Field(default=None, ge=1)
    """Evaluate every N optimizer steps; ``null``: once per epoch (and always at the end)."""
    at_start: bool = True
    """Evaluate the base model before the first step too (step 0), so the curves show the gain.
    It is a baseline only: it never counts as the best step nor towards early stopping."""
    metric: str | None = None
    """The metric that decides early stopping and the best step (recipe default when null)."""
    early_stopping_patience: int | None = Field(default=None, ge=1)
    """Stop after this many evaluations without improvement; ``null``: never stop early."""
    min_delta: float = Field(default=0.0, ge=0)
    """The smallest change of the metric that counts as an improvement."""
    restore_best: bool = True
    """With early stopping, save the weights of the best evaluation rather than the last."""
    max_examples: int | None = Field(default=None, ge=1)
    """Evaluate on at most this many validation examples (the first ones, in a fixed order)."""
    batch_size: int | None = Field(default=None, ge=1)


class CheckpointConfig(Strict):
    """Resumable checkpoints (model, optimizer, scheduler, RNG and data position)."""

    every_steps: int | None = Field(default=None, ge=1)
    """Write a checkpoint every N optimizer steps; ``null``: none (a killed run starts over)."""
    keep: int = Field(default=2, ge=1)
    """How many of the newest checkpoints to keep."""
    keep_after_training: bool = False
    """Keep the checkpoints once training has finished (they hold optimizer state: large)."""


class DataConfig(Strict):
    """Where examples come from and how they are cleaned before training."""

    train: str
    """A .jsonl/.json/.csv/.tsv file (a .txt file for raw text), or ``builtin:<name>/<split>``."""
    validation: str | None = None
    """Validation examples; when null, ``validation_fraction`` of the training file is held out."""
    validation_fraction: float = Field(default=0.1, ge=0, lt=1)
    """Share of the training examples held out for validation when ``validation`` is null."""
    limit: int | None = Field(default=None, ge=1)
    """Use at most this many training examples (a seeded sample, taken before the split)."""
    dedup: bool = True
    """Remove exact duplicate examples before the split (so none sits on both sides)."""
    leakage_check: list[str] = Field(default_factory=list)
    """Evaluation datasets (files or ``builtin:<name>/<split>``) to check for n-gram overlap."""
    leakage_ngram: int = Field(default=13, ge=1)
    """Words per n-gram in the leakage check."""
    fail_on_leakage: bool = False
    """Refuse to train when any evaluation item overlaps the training data (default: warn)."""


class LoraConfig(Strict):
    """Low-rank adapters (peft). ``quantize: 4bit`` is QLoRA and needs CUDA + bitsandbytes."""

    enabled: bool = False
    """Train LoRA adapters instead of all the weights."""
    r: int = Field(default=8, ge=1)
    """The adapters' rank."""
    alpha: int = Field(default=16, ge=1)
    """Scaling of the adapters' output (``alpha / r``)."""
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])
    """Names of the linear layers to adapt (the last part of the module name), or ``all-linear``."""
    quantize: Literal["none", "4bit"] = "none"
    """Load the base model in 4 bits (QLoRA; CUDA and bitsandbytes)."""
    merge: bool = False
    """Also write the merged model (base + adapter) as a plain model folder, ``merged/``."""


class RecipeConfig(Strict):
    """What every recipe has. Recipes subclass it and add ``data`` and their own fields."""

    recipe: str
    """The recipe's name (``classifier``, ``causal_lm``, ``sft``, ``dpo``)."""
    run_id: str | None = None
    """Folder name under ``<workspace>/models/``; default: the config file's name."""
    model: str
    """The base model: a folder, ``package:<module>/<path>``, ``run:<id>`` or a known name."""
    seed: int = 0
    """Seeds the data order, the split, dropout and the head's initialisation."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Where to train; auto picks CUDA, then MPS, then the CPU (Accelerate decides when launched
    with it)."""
    progress: bool = True
    """Show a progress bar and data summaries (``--quiet`` turns them off)."""
    optim: OptimConfig = Field(default_factory=OptimConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)

    @model_validator(mode="after")
    def _check_run_id(self) -> RecipeConfig:
        if self.run_id is not None and not _RUN_ID.match(self.run_id):
            raise ValueError(
                f"run_id '{self.run_id}' must be letters, digits, '.', '_' or '-' "
                "(it names a folder)"
            )
        return self

    def semantic_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for key in NON_SEMANTIC:
            data.pop(key, None)
        return data

    def config_hash(self) -> str:
        return _hash(self.semantic_dict())


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Loading


def read_config_file(path: str | Path) -> ConfigText:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"no such config file: {p}")
    return read_yaml_mapping(p, empty="it needs at least recipe:, model: and data.train:")


def recipe_module(name: str) -> Any:
    return RECIPES.get(name)


def load_config(
    source: str | Path | dict[str, Any] | RecipeConfig,
    overrides: list[str] | tuple[str, ...] | dict[str, Any] | None = None,
) -> RecipeConfig:
    """A validated recipe config from a YAML file, a mapping or a config, plus overrides."""
    if isinstance(source, RecipeConfig):
        if not overrides:
            return source
        data: dict[str, Any] = source.model_dump(mode="json")
        lines: dict[str, int] = {}
        name = "config"
        stem: str | None = source.run_id
    elif isinstance(source, dict):
        data, name, stem, lines = dict(source), "config", None, {}
    else:
        loaded = read_config_file(source)
        data, lines = loaded.data, loaded.lines
        name, stem = str(source), Path(source).stem
        _resolve_paths(data, Path(source).expanduser().resolve().parent)
    # Overrides come from the command line, so a relative path in one stays relative to the
    # folder the command runs in.
    apply_overrides(data, parse_overrides(overrides), lines=lines)
    recipe = data.get("recipe")
    if recipe is None:
        raise ConfigError(f"{name}: 'recipe' is required", hint=f"one of: {', '.join(RECIPES)}")
    cls: type[RecipeConfig] = recipe_module(str(recipe)).Config
    config = validate(cls, data, name, lines=lines)
    if config.run_id is None:
        run_id = _slug(stem) if stem else f"{config.recipe}-{config.config_hash()[:8]}"
        config = config.model_copy(update={"run_id": run_id})
    return config


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+_-]+:")  # builtin:, package:, run:, hf: (not C:)


def _resolve_paths(data: dict[str, Any], folder: Path) -> None:
    """Make the file paths a config file names relative to its own folder, as written.

    Data files (``data.train``, ``data.validation``, ``data.leakage_check``) are always paths
    unless they name a scheme (``builtin:``); ``model`` is a path only when it looks like one
    (``./``, ``../``) or such a file or folder exists, since it is more often a name.
    """

    def resolve(value: Any, *, always: bool) -> Any:
        if not isinstance(value, str) or not value or _SCHEME.match(value):
            return value
        path = Path(value).expanduser()
        if path.is_absolute():
            return value
        looks_like_path = value.startswith(("./", "../", ".\\", "..\\"))
        if always or looks_like_path or (folder / path).exists():
            return os.path.normpath(folder / path)
        return value

    section = data.get("data")
    if isinstance(section, dict):
        for key in ("train", "validation"):
            if key in section:
                section[key] = resolve(section[key], always=True)
        checks = section.get("leakage_check")
        if isinstance(checks, list):
            section["leakage_check"] = [resolve(v, always=True) for v in checks]
    if "model" in data:
        data["model"] = resolve(data["model"], always=False)


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "run"
    return slug[:100]


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Lines ``key: old → new`` for every dotted key whose value differs."""
    a, b = flatten(old), flatten(new)
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            lines.append(f"{key}: {a.get(key, '<unset>')!r} → {b.get(key, '<unset>')!r}")
    return lines


__all__ = [
    "NON_SEMANTIC",
    "RECIPES",
    "CheckpointConfig",
    "DataConfig",
    "EvalConfig",
    "LoraConfig",
    "OptimConfig",
    "RecipeConfig",
    "config_diff",
    "flatten",
    "load_config",
    "parse_overrides",
    "read_config_file",
    "recipe_module",
    "valid_keys",
]
