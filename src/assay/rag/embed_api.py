"""``openai:MODEL[@URL]`` embedders: vectors from any OpenAI-compatible ``/v1/embeddings``
(OpenAI, vLLM, Ollama, ``assay serve``), through the ``openai`` backend's client, retries and
error messages.

Token counts are an estimate (words and punctuation marks): the server's tokenizer is not
available locally, and chunking only needs sizes well under the model's input limit.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.progress import progress_bar

if TYPE_CHECKING:
    from assay.models.openai_api import OpenAIBackend

API_INPUT_TOKENS = 8191
"""What OpenAI's embedding models read; local servers' models may read less (chunks are small)."""
REQUEST_TEXTS = 128
"""Texts per HTTP request."""
_TOKEN = re.compile(r"\w+|[^\w\s]")


def is_api_spec(spec: str | None) -> bool:
    return bool(spec) and str(spec).strip().startswith("openai:")


class OpenAIEmbedder:
    def __init__(self, spec: str, backend: OpenAIBackend | None = None) -> None:
        self.spec = spec.strip()
        self.name = self.spec
        self._backend = backend
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> OpenAIBackend:
        with self._lock:
            if self._backend is None:
                from assay.config import load_settings
                from assay.models.openai_api import load
                from assay.models.registry import BackendContext
                from assay.workspace import Workspace

                ctx = BackendContext(load_settings(), Workspace.find(), self.spec)
                self._backend = load(self.spec.removeprefix("openai:"), ctx)
            return self._backend

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode(["dimension"]).shape[1])
        return self._dim

    @property
    def max_tokens(self) -> int:
        return API_INPUT_TOKENS

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        backend = self.backend
        batches = [list(texts[i : i + REQUEST_TEXTS]) for i in range(0, len(texts), REQUEST_TEXTS)]
        bar = progress_bar(
            len(texts),
            f"embedding with {self.name}",
            "chunk",
            enabled=progress and len(batches) > 1,
        )

        def one(batch: list[str]) -> list[list[float]]:
            def call() -> Any:
                return backend.client.embeddings.create(
                    model=backend.model, input=batch, encoding_format="float"
                )

            reply = backend._retrying(call, "/embeddings")
            rows = sorted(reply.data, key=lambda d: d.index)
            if len(rows) != len(batch):
                from assay.errors import BackendError

                raise BackendError(
                    f"{backend.base_url}/embeddings returned {len(rows)} vectors for "
                    f"{len(batch)} texts"
                )
            bar.update(len(batch))
            return [list(r.embedding) for r in rows]

        try:
            rows = [vec for part in backend._map(one, batches) for vec in part]
        finally:
            bar.close()
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(t)) for t in texts]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]

    def __repr__(self) -> str:
        return f"OpenAIEmbedder({self.spec!r})"


__all__ = ["OpenAIEmbedder", "is_api_spec"]
