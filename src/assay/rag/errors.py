"""Errors raised by the retrieval subsystem; all are :class:`assay.errors.UserError` subclasses.

UserError
├── DocumentError           one input file cannot be ingested (the rest of a batch goes on)
├── CollectionError         unknown or empty collection, or a document reference that matches none
└── EmbedderMismatchError   querying a collection with a model other than the one that indexed it
"""

from __future__ import annotations

from assay.errors import UserError


class DocumentError(UserError):
    """A file that cannot be read as a document; ``message`` is one line naming the reason."""


class CollectionError(UserError):
    pass


class EmbedderMismatchError(UserError):
    def __init__(self, collection: str, recorded: str, requested: str) -> None:
        super().__init__(
            f"collection '{collection}' was embedded with {recorded}; this query uses {requested}",
            hint=f"query with --embedder {recorded}, or index the documents into a new collection",
        )
        self.recorded = recorded
        self.requested = requested


__all__ = ["CollectionError", "DocumentError", "EmbedderMismatchError"]
