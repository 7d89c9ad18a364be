"""Schema-constrained decoding for the ``hf`` backend, with llguidance.

llguidance compiles a JSON Schema to a grammar and, at each decoding step, computes the set of
tokens that keep the text a valid prefix of some schema-valid JSON (a bitmask, one bit per
token, in tens of microseconds). :class:`JsonSchemaProcessor` is a transformers
``LogitsProcessor`` that, for every row of a batch that has a schema:

1. advances that row's matcher with the token chosen at the previous step,
2. writes the row's allowed-token mask into one preallocated ``int32`` bitmask (all constrained
   rows in one call, across llguidance's threads), and
3. adds ``-inf`` to the logits of every other token. Once the JSON is complete the grammar
   allows only end-of-sequence, so the row stops there.

Rows without a schema, and rows that have finished, are left alone. Compiled grammars are cached
per schema; each row gets a copy of the compiled matcher. The JSON is compact on one line
(``", "`` and ``": "`` separators, no other whitespace), which keeps replies short and bounded.

See ``docs/design/structured-output.md`` for why llguidance.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import LogitsProcessor

if TYPE_CHECKING:
    import llguidance

JSON_OPTIONS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
}
"""How the constrained JSON is laid out (llguidance's JSON compile options)."""

_BIAS = np.array([-np.inf, 0.0], dtype=np.float32)
"""Logit bias for a forbidden (bit 0) and an allowed (bit 1) token."""


class SchemaCompiler:
    """An llguidance tokenizer for one model, and the matchers compiled from schemas for it.

    Building the tokenizer takes ~0.3 s, so it happens on first use. A schema that llguidance
    cannot compile strictly (an unimplemented keyword such as ``not``) is compiled leniently,
    ignoring those keywords: decoding is then held to a superset of the schema, and the caller
    validates the result. A schema that cannot be compiled at all gives ``None``.
    """

    def __init__(self, hf_tokenizer: Any, vocab_size: int, eos_ids: Sequence[int]) -> None:
        self._hf_tokenizer = hf_tokenizer
        self.vocab_size = vocab_size
        self.eos_ids = sorted(eos_ids)
        self._tokenizer: llguidance.LLTokenizer | None = None
        self._compiled: dict[str, llguidance.LLMatcher | None] = {}
        self._executor: llguidance.LLExecutor | None = None
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> llguidance.LLTokenizer:
        if self._tokenizer is None:
            import llguidance.hf

            self._tokenizer = llguidance.hf.from_tokenizer(
                self._hf_tokenizer,
                n_vocab=self.vocab_size,
                eos_token=self.eos_ids or None,
            )
        return self._tokenizer

    @property
    def executor(self) -> llguidance.LLExecutor:
        if self._executor is None:
            import llguidance

            self._executor = llguidance.LLExecutor()
        return self._executor

    def matcher(self, schema: str) -> llguidance.LLMatcher | None:
        """A fresh matcher for ``schema`` (canonical JSON text), or None if it cannot compile."""
        with self._lock:
            if schema not in self._compiled:
                self._compiled[schema] = self._compile(schema)
            compiled = self._compiled[schema]
        return None if compiled is None else compiled.deep_copy()

    def _compile(self, schema: str) -> llguidance.LLMatcher | None:
        import llguidance

        for lenient in (False, True):
            options: Any = {**JSON_OPTIONS, "lenient": lenient}
            try:
                grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, overrides=options)
            except ValueError:
                return None
            matcher = llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
            if not matcher.is_error():
                return matcher
        return None


class JsonSchemaProcessor(LogitsProcessor):
    """Masks each constrained row's logits to the tokens its schema allows next.

    ``matchers[i]`` is row ``i``'s matcher (None: unconstrained). ``finished(i)`` says whether
    row ``i`` has already ended (its later tokens are padding, not output).
    """

    def __init__(
        self,
        compiler: SchemaCompiler,
        matchers: Sequence[llguidance.LLMatcher | None],
        prompt_width: int,
        finished: Any,
    ) -> None:
        self.compiler = compiler
        self.matchers = list(matchers)
        self.prompt_width = prompt_width
        self.finished = finished
        self.rows = [i for i, m in enumerate(self.matchers) if m is not None]
        words = (compiler.vocab_size + 31) // 32
        self.bitmask = torch.zeros((len(self.rows), words), dtype=torch.int32)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import llguidance.torch

        step = input_ids.shape[1] - self.prompt_width
        active: list[tuple[int, Any]] = []  # (row, its matcher)
        last = input_ids[:, -1].tolist() if step > 0 else []
        for row in self.rows:
            matcher = self.matchers[row]
            if matcher is None or self.finished(row):
                continue
            if step > 0 and not matcher.consume_token(last[row]):
                # Cannot happen while the mask is applied; if it does, stop constraining the
                # row rather than mask everything (the caller validates the text anyway).
                self.matchers[row] = None
                continue
            active.append((row, matcher))
        if not active:
            return scores
        n = len(active)
        # Masks of the active rows into the first n rows of the bitmask, on llguidance's threads.
        llguidance.torch.fill_next_token_bitmask_par(
            self.compiler.executor, [(m, k) for k, (_, m) in enumerate(active)], self.bitmask
        )
        # Bits -> 0 / -inf, added to the logits: a lookup and one add are several times faster
        # on CPU than masked_fill with a vocabulary-sized boolean mask.
        bits = np.unpackbits(self.bitmask[:n].numpy().view(np.uint8), axis=-1, bitorder="little")
        vocab = scores.shape[-1]
        bias = torch.from_numpy(np.take(_BIAS, bits[:, :vocab]))
        if bias.shape[1] < vocab:  # logits beyond the tokenizer's vocabulary: never allowed
            bias = torch.nn.functional.pad(bias, (0, vocab - bias.shape[1]), value=float("-inf"))
        rows = torch.tensor([row for row, _ in active], device=scores.device)
        scores.index_add_(0, rows, bias.to(device=scores.device, dtype=scores.dtype))
        return scores


__all__ = ["JSON_OPTIONS", "JsonSchemaProcessor", "SchemaCompiler"]
