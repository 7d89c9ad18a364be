"""Built-in ``reference-recall`` items: topics drawn from the papers of a document collection.

Each document with a title becomes one item: its topic is the first full sentence of its
abstract (or of its text), so the model is not handed the title. The task asks for papers on
the topic; :mod:`assay.checks.recall` scores the references written.
"""

from __future__ import annotations

import re
from typing import Any

from assay.errors import UserError
from assay.evals.datasets import Dataset, from_rows

MAX_TOPIC_WORDS = 40


def topic_of(text: str, title: str | None) -> str:
    """The first sentence of at least eight words after an "Abstract" heading (or anywhere)."""
    m = re.search(r"\babstract\b[:.\s]*", text, re.I)
    body = text[m.end() :] if m else text
    for sentence in re.split(r"(?<=[.!?])\s+", " ".join(body.split())):
        words = sentence.split()
        if len(words) >= 8 and not (title and sentence.startswith(title)):
            return " ".join(words[:MAX_TOPIC_WORDS])
    return title or ""


def reference_recall(collection: str | None = None, workspace: Any = None) -> Dataset:
    """The items of ``reference-recall``: one per titled document of ``collection``."""
    from assay.rag.collection import Collection
    from assay.workspace import Workspace

    if not collection:
        raise UserError(
            "reference-recall needs a document collection",
            hint="--set dataset.options.collection=NAME (see `assay docs list`)",
        )
    col = Collection(workspace or Workspace.find(), collection)
    rows = []
    for doc in col.documents():
        if not doc.title:
            continue
        rows.append(
            {
                "id": str(doc.id),
                "topic": topic_of(col.document_text(doc.id), doc.title),
                "title": doc.title,
                "collection": collection,
            }
        )
    if not rows:
        raise UserError(
            f"collection '{collection}' has no document with a title to ask about",
            hint=f"see `assay docs list -c {collection}`",
        )
    return from_rows(
        rows,
        source="reference-recall",
        split="test",
        note=f"topics from the documents of collection '{collection}'",
        options={"collection": collection},
    )


__all__ = ["reference_recall", "topic_of"]
