"""The ``run`` provider: a model trained with ``assay train``, addressed as ``run:<run-id>``.

``<run-id>`` names a folder ``<workspace>/models/<run-id>/`` holding a finished run (its
``assay_training.json`` says so). A fully finetuned causal LM is loaded from that folder; a LoRA
run is merged with its base model once into ``<run>/merged/`` (a plain model folder) and loaded
from there. Loading itself is the ``hf`` backend's. A classifier run loads as a
:class:`~assay.finetune.classifier_backend.ClassifierBackend`, whose "generation" is the predicted
class name (so ``assay eval`` scores it on a classification task like a prompted model).

The provider's other hooks: ``card`` (:mod:`assay.finetune.provider_card`) and ``catalog`` (the
run folders of a workspace, for ``assay models``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.finetune.provider_card import run_card as card
from assay.finetune.runs import (
    CHECKPOINTS_DIR,
    is_classifier_run,
    model_folder,
    models_dir,
    read_record,
    resolve_run,
)
from assay.models.catalog import ModelEntry, path_size

if TYPE_CHECKING:
    from assay.models.registry import BackendContext
    from assay.workspace import Workspace


def load(name: str, ctx: BackendContext) -> Any:
    folder = resolve_run(name, ctx.workspace)
    if is_classifier_run(folder):
        from assay.finetune import classifier_backend

        return classifier_backend.load(folder, ctx.workspace, batch_size=ctx.settings.batch_size)
    from assay.models import hf

    return hf.load(str(model_folder(folder)), ctx)


def catalog(workspace: Workspace) -> list[ModelEntry]:
    """The folders under ``<workspace>/models/``: training runs (full models, classifiers and
    LoRA adapters alike) as ``run:<id>``, and model folders put there by hand as ``hf:<path>``."""
    root = models_dir(workspace)
    if not root.is_dir():
        return []
    entries = (_finetuned_entry(p) for p in sorted(root.iterdir()) if p.is_dir())
    return [e for e in entries if e is not None]


def _finetuned_entry(folder: Path) -> ModelEntry | None:
    entry = ModelEntry(
        name=folder.name,
        kind="finetuned",
        address=f"run:{folder.name}",
        path=str(folder),
        available=True,
        size_bytes=path_size(folder),
    )
    record = read_record(folder)
    if record is None and (folder / CHECKPOINTS_DIR).is_dir():
        # A run writes its record when training ends; until then it has checkpoints.
        entry.available, entry.status = False, "unfinished"
        entry.hint = "run the same `assay train` command again to resume it"
        return entry
    if record is None:
        if not (folder / "config.json").is_file():
            return None
        entry.address, entry.description = f"hf:{folder}", "a model folder, no training record"
        return entry
    if record.get("status") != "complete":
        entry.available, entry.status = False, str(record.get("status") or "unfinished")
    base = (record.get("base_model") or {}).get("name")
    adapter = (record.get("outputs") or {}).get("kind") == "adapter"
    entry.description = f"recipe {record.get('recipe')}" + ", LoRA adapter" * adapter
    entry.description += f", from {base}" if base else ""
    entry.details = {k: record.get(k) for k in ("recipe", "task", "finished", "metrics")}
    return entry


__all__ = ["card", "catalog", "load"]
