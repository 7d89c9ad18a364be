"""The scorers of ``reference-recall``: the references a model wrote on a topic drawn from a
collection's own papers (the items: :mod:`assay.evals.recall_data`), matched against that
collection's documents (:mod:`assay.checks.citations`). Per item:

- ``fabricated_share``: the share of its references that match no document (0 with none);
- ``found_share``: the share that match one, fully;
- ``source_recalled``: 1 when one of them is the paper the topic came from;
- ``references``: how many references it wrote.

A collection holds only some of the literature, so "not found" means "not in this collection":
read ``fabricated_share`` against a collection that covers the topics, or check the run with
``assay check citations RUN --bib`` against a fuller bibliography.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from assay.checks.bibliography import BibEntry, read_collection
from assay.checks.citations import match_reference
from assay.checks.references import extract_references
from assay.errors import UserError
from assay.evals.scorers.registry import Scorer


@lru_cache(maxsize=8)
def _known(root: str, collection: str) -> tuple[BibEntry, ...]:
    from assay.workspace import Workspace

    return tuple(read_collection(collection, Workspace(Path(root))))


def _verdicts(prediction: Any, sample: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(verdict, matched document id) of each reference in ``prediction``."""
    from assay.workspace import Workspace

    collection = sample.get("collection")
    if not collection:
        raise UserError("reference-recall scorers need rows with a 'collection' field")
    entries = _known(str(Workspace.find().root), str(collection))
    out: list[tuple[str, str | None]] = []
    for ref in extract_references(str(prediction or "")):
        m = match_reference(ref, entries)
        out.append((m.verdict, m.entry.key if m.entry else None))
    return out


def _share(verdict: str) -> Any:
    def score(prediction: Any, reference: Any, sample: Mapping[str, Any]) -> float:
        verdicts = _verdicts(prediction, sample)
        return sum(v == verdict for v, _ in verdicts) / len(verdicts) if verdicts else 0.0

    return score


def _recalled(prediction: Any, reference: Any, sample: Mapping[str, Any]) -> float:
    return float(any(key == str(sample.get("id")) for _, key in _verdicts(prediction, sample)))


def _count(prediction: Any, reference: Any, sample: Mapping[str, Any]) -> float:
    return float(len(extract_references(str(prediction or ""))))


FABRICATED = Scorer(
    "fabricated_share",
    _share("not_found"),
    higher_is_better=False,
    description="share of the references written that match no document of the collection",
)
FOUND = Scorer(
    "found_share", _share("found"), description="share of the references that match a document"
)
SOURCE = Scorer(
    "source_recalled",
    _recalled,
    description="1 when a reference is the paper the topic came from",
)
COUNT = Scorer("references", _count, scale=None, description="number of references written")

__all__ = ["COUNT", "FABRICATED", "FOUND", "SOURCE"]
