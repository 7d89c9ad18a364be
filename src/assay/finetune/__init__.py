"""Finetuning: recipes (readable training loops with typed configs) and the helpers they share.

    >>> import assay
    >>> result = assay.train("examples/finetune/classifier-bbc.yaml", ["optim.epochs=1"])
    >>> result.address                      # 'run:classifier-bbc', loadable like any model

Recipes: ``classifier`` (a head on an encoder), ``causal_lm`` (continued pretraining on raw
text), ``sft`` (prompt/response or chat data, loss on responses only), ``dpo`` (preference
pairs). LoRA (peft) for the causal-LM recipes. Runs are written to
``<workspace>/models/<run-id>/`` with checkpoints that resume exactly; see ``docs/finetuning.md``.

Names are imported on first use, so ``import assay.finetune`` does not import torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.finetune.config import RECIPES, RecipeConfig, load_config

if TYPE_CHECKING:
    from assay.finetune.lora import merge_adapter
    from assay.finetune.probe import memorisation_probe
    from assay.finetune.recipes.classifier import predict, predict_proba
    from assay.finetune.runs import list_runs
    from assay.finetune.session import TrainResult
    from assay.workspace import Workspace

_LAZY: dict[str, str] = {
    "TrainResult": "assay.finetune.session",
    "predict": "assay.finetune.recipes.classifier",
    "predict_proba": "assay.finetune.recipes.classifier",
    "merge_adapter": "assay.finetune.lora",
    "list_runs": "assay.finetune.runs",
    "memorisation_probe": "assay.finetune.probe",
}


def train(
    config: str | Path | dict[str, Any] | RecipeConfig,
    overrides: list[str] | tuple[str, ...] | dict[str, Any] | None = None,
    *,
    workspace: Workspace | None = None,
    fresh: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train with a recipe: ``config`` is a YAML file, a mapping or a config object;
    ``overrides`` are ``key=value`` strings (or a ``{dotted.key: value}`` mapping).

    A run with checkpoints resumes from the latest one (the config must be unchanged; the error
    shows what changed). A finished run with the same config is not trained again: its result is
    returned. ``fresh=True`` discards the run's checkpoints and outputs and starts over. A run
    that fails before its first checkpoint leaves no run folder behind.
    """
    # The config first: a mistake in it is reported before torch is imported (seconds).
    cfg = load_config(config, overrides)

    from assay.errors import ConfigError
    from assay.finetune import checkpoint as ckpt
    from assay.finetune.config import config_diff, recipe_module
    from assay.finetune.restart import discard_unfinished, refuse_changed_config
    from assay.finetune.runs import read_record, run_dir
    from assay.finetune.session import Environment, TrainResult
    from assay.workspace import Workspace

    ws = workspace or Workspace.find()
    assert cfg.run_id is not None
    folder = run_dir(ws, cfg.run_id)
    if not fresh:
        record = read_record(folder)
        if record and record.get("status") == "complete":
            if record.get("config_hash") == cfg.config_hash():
                if not quiet:
                    import sys

                    print(
                        f"run {cfg.run_id} already finished with this config: {folder} "
                        "(--fresh trains it again)",
                        file=sys.stderr,
                    )
                return TrainResult(cfg.run_id, folder, record.get("metrics", {}), record)
            old = {k: v for k, v in (record.get("config") or {}).items()}
            diff = config_diff(_semantic(old), cfg.semantic_dict())
            raise ConfigError(
                f"run '{cfg.run_id}' already finished with a different config:\n  "
                + "\n  ".join(diff or ["(the configs differ)"]),
                hint="choose another run_id=, or pass --fresh to replace it",
            )
        latest = ckpt.latest(folder)
        if latest is not None:
            refuse_changed_config(ckpt.read_state(latest), cfg, latest)
    module = recipe_module(cfg.recipe)
    try:
        result: TrainResult = module.run(cfg, Environment(workspace=ws, fresh=fresh, quiet=quiet))
    except BaseException:
        discard_unfinished(folder)  # no empty run folder; checkpoints to resume from are kept
        raise
    return result


def _semantic(config: dict[str, Any]) -> dict[str, Any]:
    from assay.finetune.config import NON_SEMANTIC

    return {k: v for k, v in config.items() if k not in NON_SEMANTIC}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.finetune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "RECIPES",
    "RecipeConfig",
    "TrainResult",
    "list_runs",
    "load_config",
    "memorisation_probe",
    "merge_adapter",
    "predict",
    "predict_proba",
    "train",
]
