"""The ``run`` provider: a model trained with ``assay train``, addressed as ``run:<run-id>``.

``<run-id>`` names a folder ``<workspace>/models/<run-id>/`` holding a finished run (its
``assay_training.json`` says so). A fully finetuned causal LM is loaded from that folder; a LoRA
run is merged with its base model once into ``<run>/merged/`` (a plain model folder) and loaded
from there. Loading itself is the ``hf`` backend's. A classifier run loads as a
:class:`~assay.finetune.classifier_backend.ClassifierBackend`, whose "generation" is the predicted
class name (so ``assay eval`` scores it on a classification task like a prompted model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.finetune.runs import is_classifier_run, model_folder, resolve_run

if TYPE_CHECKING:
    from assay.models.registry import BackendContext


def load(name: str, ctx: BackendContext) -> Any:
    folder = resolve_run(name, ctx.workspace)
    if is_classifier_run(folder):
        from assay.finetune import classifier_backend

        return classifier_backend.load(folder, ctx.workspace, batch_size=ctx.settings.batch_size)
    from assay.models import hf

    return hf.load(str(model_folder(folder)), ctx)


__all__ = ["load"]
