"""The ``run`` provider: a model trained with ``assay train``, addressed as ``run:<run-id>``.

``<run-id>`` names a folder ``<workspace>/models/<run-id>/`` holding a finished run (its
``assay_training.json`` says so). A fully finetuned causal LM is loaded from that folder; a LoRA
run is merged with its base model once into ``<run>/merged/`` (a plain model folder) and loaded
from there. Loading itself is the ``hf`` backend's. Classifier runs are not text generators: use
``assay.finetune.predict``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.finetune.runs import model_folder, resolve_run

if TYPE_CHECKING:
    from assay.models.registry import BackendContext


def load(name: str, ctx: BackendContext) -> Any:
    folder = model_folder(resolve_run(name, ctx.workspace))
    from assay.models import hf

    return hf.load(str(folder), ctx)


__all__ = ["load"]
