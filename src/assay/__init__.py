"""assay: put a language model to work on a research task and come out with a result you can defend.

    >>> import assay
    >>> model = assay.load("default")          # SmolLM2-135M-Instruct, bundled, offline
    >>> model.complete("Why is the sky blue?", max_tokens=64)

The public API is listed in ``__all__``; names are imported on first use so ``import assay``
stays light (no torch until a model is loaded).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from assay.version import __version__

_EXPORTS: dict[str, str] = {
    "load": "assay.models.facade",
    "Model": "assay.models.facade",
    "Sampling": "assay.models.types",
    "Message": "assay.models.types",
    "Image": "assay.models.images",
    "load_image": "assay.models.images",
    "Generation": "assay.models.types",
    "Loglikelihood": "assay.models.types",
    "RollingLoglikelihood": "assay.models.types",
    "ModelInfo": "assay.models.types",
    "Backend": "assay.models.protocol",
    "FakeBackend": "assay.models.fake",
    "model_card": "assay.models.card",
    "installed_plugins": "assay.extensions",
    "Settings": "assay.config",
    "load_settings": "assay.config",
    "Workspace": "assay.workspace",
    "serve": "assay.serve.app",
    "run": "assay.reports.display",
    "compare": "assay.reports.display",
    "evaluate": "assay.reports.evaluate",
    "Collection": "assay.rag.collection",
    "train": "assay.finetune",
    "score": "assay.scoring",
    "score_continuation": "assay.scoring",
    "compare_perplexity": "assay.scoring",
    "ask": "assay.rag.answer",
    "check_faithfulness": "assay.rag.faithfulness",
    "check_contamination": "assay.checks.contamination",
    "check_citations": "assay.checks.citations",
    "check_stereotype": "assay.checks.runners",
    "check_all": "assay.checks.runners",
    "CheckResult": "assay.checks.record",
    "synthesize_qa": "assay.rag.synthetic",
    "calibrate_abstention": "assay.rag.calibrate",
    "Conversation": "assay.prompting.conversation",
    "ConversationSummary": "assay.prompting.summary",
    "Tool": "assay.prompting.tools",
    "tool": "assay.prompting.tools",
    "run_tools": "assay.prompting.tools",
    "structured": "assay.prompting.structured",
    "StructuredResult": "assay.prompting.structured",
}

__all__ = ["__version__", "errors", *_EXPORTS]

if TYPE_CHECKING:
    from assay import errors
    from assay.checks.citations import check_citations
    from assay.checks.contamination import check_contamination
    from assay.checks.record import CheckResult
    from assay.checks.runners import check_all, check_stereotype
    from assay.config import Settings, load_settings
    from assay.extensions import installed_plugins
    from assay.finetune import train
    from assay.models.card import model_card
    from assay.models.facade import Model, load
    from assay.models.fake import FakeBackend
    from assay.models.images import Image, load_image
    from assay.models.protocol import Backend
    from assay.models.types import (
        Generation,
        Loglikelihood,
        Message,
        ModelInfo,
        RollingLoglikelihood,
        Sampling,
    )
    from assay.prompting.conversation import Conversation
    from assay.prompting.structured import StructuredResult, structured
    from assay.prompting.summary import ConversationSummary
    from assay.prompting.tools import Tool, run_tools, tool
    from assay.rag.answer import ask
    from assay.rag.calibrate import calibrate_abstention
    from assay.rag.collection import Collection
    from assay.rag.faithfulness import check_faithfulness
    from assay.rag.synthetic import synthesize_qa
    from assay.reports.display import compare, run
    from assay.reports.evaluate import evaluate
    from assay.scoring import compare_perplexity, score, score_continuation
    from assay.serve.app import serve
    from assay.workspace import Workspace


def __dir__() -> list[str]:
    # Lazy exports are not in globals() until first use; list them so tab completion and
    # dir(assay) in a notebook show the public API.
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("assay.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
