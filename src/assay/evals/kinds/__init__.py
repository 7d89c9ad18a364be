"""Task kinds: one module per kind (``generate``, ``multiple_choice``, ``perplexity``,
``structured``), each a :class:`TaskKind`; :func:`register_kind` adds one. Retrieval is not a
kind but a step that wraps any of them (:class:`assay.evals.retrieval_step.RetrievalStep`)."""

from assay.evals.kinds.base import (
    Batch,
    KindContext,
    Record,
    TaskKind,
    get_kind,
    kind_names,
    register_kind,
    unregister_kind,
)

__all__ = [
    "Batch",
    "KindContext",
    "Record",
    "TaskKind",
    "get_kind",
    "kind_names",
    "register_kind",
    "unregister_kind",
]
