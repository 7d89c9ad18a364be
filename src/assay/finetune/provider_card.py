"""The card of a model trained with ``assay train`` (``run:<run-id>``), read from files only.

A run folder holds one of three things, and the card describes what ``run:<id>`` would load:

- a full model (full finetuning, or a classifier): the run folder itself;
- a LoRA adapter already merged (``lora.merge: true`` or an earlier load): ``<run>/merged/``;
- a LoRA adapter not merged yet: the base model named in the run record, plus the adapter (its
  rank, targets and parameters are read from ``adapter_config.json`` and the adapter's
  safetensors header); the first load merges them into ``<run>/merged/``.

The training record (recipe, base model, final metrics) goes into ``metadata["training"]`` and a
note; ``path`` is always the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ModelNotFoundError
from assay.models.memory import format_bytes, format_count

if TYPE_CHECKING:
    from assay.models.card import ModelCard
    from assay.workspace import Workspace

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_INSTRUCTION_RECIPES = ("sft", "dpo")
"""Recipes that train on prompts and responses: the result follows instructions."""


def run_card(name: str, *, address: str, resolved: str, workspace: Workspace) -> ModelCard:
    from assay.finetune.runs import MERGED_DIR, read_record, resolve_run
    from assay.models.card import _folder_card, _folder_files

    folder = resolve_run(name, workspace)
    record = read_record(folder) or {}
    base_path = (record.get("base_model") or {}).get("path")
    adapter = (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").is_file()
    if not adapter:
        target = folder
    elif (folder / MERGED_DIR / "config.json").is_file():
        target = folder / MERGED_DIR
    elif base_path and (Path(base_path) / "config.json").is_file():
        target = Path(base_path)
    else:
        raise ModelNotFoundError(
            f"the base model of the LoRA run '{folder.name}' is gone: {base_path}",
            hint="its run record (assay_training.json) names the base model it was trained on; "
            "restore that folder",
        )

    recipe = record.get("recipe")
    evidence = (
        [(1, True, f"trained to answer prompts (recipe {recipe})")]
        if recipe in _INSTRUCTION_RECIPES
        else []
    )
    card = _folder_card(
        target, address=address, resolved=resolved, provider="run", evidence=evidence
    )
    card.name = folder.name
    card.path = str(folder)
    training = _training_summary(record)
    card.metadata["training"] = training
    card.notes.insert(0, _training_note(training))
    if adapter:
        lora = _adapter_summary(folder)
        card.metadata["adapter"] = lora
        card.notes.insert(1, _adapter_note(lora, merged=target == folder / MERGED_DIR))
        if target != folder / MERGED_DIR:
            # What is on disk for this run is the adapter; the shape and memory are the base's.
            card.files = _folder_files(folder)
            card.size_bytes = sum(f.bytes for f in card.files)
            card.parameters_source = f"the base model's, {card.parameters_source}"
    return card


def _training_summary(record: dict[str, Any]) -> dict[str, Any]:
    base = record.get("base_model") or {}
    return {
        "recipe": record.get("recipe"),
        "task": record.get("task"),
        "base_model": base.get("name"),
        "base_path": base.get("path"),
        "finished": record.get("finished"),
        "metrics": record.get("metrics") or {},
        "labels": record.get("labels"),
    }


def _training_note(training: dict[str, Any]) -> str:
    note = f"trained with assay train (recipe {training['recipe']}) from {training['base_model']}"
    if training.get("finished"):
        note += f", finished {training['finished']}"
    metrics = training.get("metrics") or {}
    shown = [f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, int | float)]
    if shown:
        note += f"; final {', '.join(shown[:4])}"
    labels = training.get("labels")
    if isinstance(labels, list) and labels:
        note += f"; labels {', '.join(str(x) for x in labels[:8])}" + (", ..." * (len(labels) > 8))
    return note


def _adapter_summary(folder: Path) -> dict[str, Any]:
    from assay.models.card import read_safetensors_header

    try:
        cfg = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    cfg = cfg if isinstance(cfg, dict) else {}
    parameters = None
    weights = folder / ADAPTER_WEIGHTS
    if weights.is_file():
        parameters = 0
        for key, info in read_safetensors_header(weights).items():
            if key != "__metadata__" and isinstance(info, dict):
                n = 1
                for d in info.get("shape", []):
                    n *= int(d)
                parameters += n
    targets = cfg.get("target_modules")
    return {
        "type": cfg.get("peft_type", "LORA"),
        "r": cfg.get("r"),
        "alpha": cfg.get("lora_alpha"),
        "target_modules": sorted(targets) if isinstance(targets, list) else targets,
        "parameters": parameters,
        "size_bytes": weights.stat().st_size if weights.is_file() else None,
    }


def _adapter_note(lora: dict[str, Any], *, merged: bool) -> str:
    targets = lora["target_modules"]
    on = ", ".join(targets) if isinstance(targets, list) else str(targets)
    note = f"a LoRA adapter (r={lora['r']}, alpha={lora['alpha']}, on {on}"
    if lora["parameters"] is not None:
        note += f"; {format_count(lora['parameters'])} parameters"
    if lora["size_bytes"] is not None:
        note += f", {format_bytes(lora['size_bytes'])}"
    note += "); "
    if merged:
        return note + "merged with its base model into merged/"
    return note + "the first load merges it with the base model into merged/"


__all__ = ["run_card"]
