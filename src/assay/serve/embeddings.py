"""``POST /v1/embeddings`` for ``assay serve``: an embedding model beside the served LLM.

The embedder (the bundled all-MiniLM-L6-v2 unless told otherwise) is loaded on the first
request, so serving a chat model costs nothing extra until someone asks for vectors. Vectors
are returned as floats or, as the ``openai`` SDK asks by default, as base64 of little-endian
float32.
"""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Any

from pydantic import Field

from assay.serve.schemas import OpenAIHTTPError, _Body

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assay.rag.embed import Embedder

MAX_INPUTS = 2048
"""OpenAI's limit on texts per request."""


class EmbeddingRequest(_Body):
    model: str | None = None
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: str = "float"
    dimensions: int | None = Field(None, ge=1)


class _LazyEmbedder:
    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    def get(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from assay.rag.embed import load_embedder

                self._embedder = load_embedder(self.spec)
            return self._embedder


def add_embeddings_route(app: FastAPI, spec: str) -> None:
    """Answer ``/v1/embeddings`` with the embedder ``spec`` (``default`` or ``st:PATH``)."""
    from assay.rag.embed import canonical_name

    lazy = _LazyEmbedder(spec)
    name = canonical_name(spec)
    short = name.removeprefix("st:").split("/")[-1]
    accepted = {n.lower() for n in (name, short, spec, "default")}
    app.state.embedder = name

    @app.post("/v1/embeddings")
    def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
        asked = body.model
        if asked is not None and asked.lower() not in accepted and canonical_name(asked) != name:
            raise OpenAIHTTPError(
                404,
                f"this server embeds with '{name}', not '{body.model}'",
                param="model",
                code="model_not_found",
            )
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts or not all(isinstance(t, str) for t in texts):
            raise OpenAIHTTPError(
                400, "input must be a string or a non-empty list of strings", param="input"
            )
        if len(texts) > MAX_INPUTS:
            raise OpenAIHTTPError(400, f"at most {MAX_INPUTS} inputs per request", param="input")
        if body.encoding_format not in ("float", "base64"):
            raise OpenAIHTTPError(
                400, "encoding_format must be 'float' or 'base64'", param="encoding_format"
            )
        embedder = lazy.get()
        if body.dimensions is not None and body.dimensions != embedder.dim:
            raise OpenAIHTTPError(
                400,
                f"{name} has {embedder.dim} dimensions; it cannot give {body.dimensions}",
                param="dimensions",
            )
        strs = [str(t) for t in texts]
        vectors = embedder.encode(strs)
        n_tokens = sum(embedder.count_tokens(strs))
        data = []
        for i, vec in enumerate(vectors):
            value: Any = (
                base64.b64encode(vec.astype("<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else [float(x) for x in vec]
            )
            data.append({"object": "embedding", "index": i, "embedding": value})
        return {
            "object": "list",
            "data": data,
            "model": name,
            "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
        }


__all__ = ["EmbeddingRequest", "add_embeddings_route"]
