"""Schema-constrained decoding for the ``hf`` backend, with llguidance.

llguidance compiles a JSON Schema to a grammar and, at each decoding step, computes the set of
tokens that keep the text a valid prefix of some schema-valid JSON (a bitmask, one bit per
token, in tens of microseconds). :class:`JsonSchemaProcessor` is a transformers
``LogitsProcessor`` that, for every row of a batch that has a schema:

1. advances that row's matcher with the token chosen at the previous step,
2. writes the row's allowed-token mask into one preallocated ``int32`` bitmask (all constrained
   rows in one call, across llguidance's threads), and
3. adds ``-inf`` to the logits of every other token. Once the JSON is complete the grammar
   allows only end-of-sequence, so the row stops there;
4. keeps the reply able to finish within the row's ``max_tokens`` (see :class:`_Budget`), and
   ends an array whose new item repeats an earlier one verbatim instead of continuing it (see
   :mod:`assay.models.json_items`).

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

from assay.errors import SamplingError
from assay.models.closing import ClosingPaths, string_state
from assay.models.json_items import JsonItems

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

JUMP = 12
"""Tokens one unchecked token is assumed to add, at most, to what closing the reply takes (a
token such as ``[{"`` opens an item whose required keys must then be written). Within this
many tokens of the budget every chosen token is checked exactly."""
TRIES = 4
_QUOTING = {0x22, 0x5C}  # quote, backslash
"""Candidates checked per step, best first, before the closing path is forced."""


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
        self._shortest: dict[str, int | None] = {}
        self._executor: llguidance.LLExecutor | None = None
        self._closing: ClosingPaths | None = None
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

    @property
    def closing(self) -> ClosingPaths:
        if self._closing is None:
            tokenizer = self.tokenizer

            def single_token(text: str) -> int | None:
                ids = tokenizer.tokenize_str(text)
                return ids[0] if len(ids) == 1 else None

            self._closing = ClosingPaths(
                self.vocab_size, tokenizer.decode_bytes, single_token, self.eos_ids
            )
        return self._closing

    def shortest(self, schema: str) -> int | None:
        """Tokens in the shortest reply valid against ``schema`` that the closing search finds
        (see :mod:`assay.models.closing`); None if it cannot compile or finds none."""
        with self._lock:
            known = schema in self._shortest
        if not known:
            matcher = self.matcher(schema)
            path = None if matcher is None else self.closing.path(matcher)
            with self._lock:
                self._shortest[schema] = None if path is None else len(path)
        return self._shortest[schema]

    def check_budget(self, schema: str, max_tokens: int) -> None:
        """Raise :class:`SamplingError` when no reply valid against ``schema`` fits in
        ``max_tokens`` tokens."""
        shortest = self.shortest(schema)
        if shortest is not None and max_tokens < shortest:
            raise SamplingError(
                f"max_tokens={max_tokens} is too small for the JSON Schema: its shortest valid "
                f"reply takes {shortest} tokens with this model's tokenizer",
                hint=f"raise max_tokens (--max-tokens) to at least {shortest}; a real answer needs more",
            )

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


class _Budget:
    """One row's budget: how many tokens closing its reply takes, and its arrays' items.

    ``path`` is the closing path from the text so far when known (see
    :mod:`assay.models.closing`); ``bound`` is an upper bound on its length, raised by
    :data:`JUMP` for each unchecked token that is not plain string content.
    """

    def __init__(self, cap: int, greedy: bool) -> None:
        self.cap = cap
        self.greedy = greedy
        self.items = JsonItems()
        self.path: list[int] | None = None
        self.bound = 0
        self.known: dict[int, list[int]] = {}
        """Closing paths checked at the last step, by the token they follow."""
        self.lost = False
        """No closing path could be found (far over budget, or a schema that never closes)."""
        self.ending: int | None = None
        """Depth of an array being closed because its last item repeats an earlier one."""

    def advance(self, token: int, data: bytes) -> None:
        if token in self.known:
            self.path = self.known[token]
        elif self.path and self.path[0] == token:
            self.path = self.path[1:]
        else:
            # Plain text inside a string changes nothing about what is open; anything else may.
            content = self.items.inside and not self.items.escaped and not _QUOTING & set(data)
            self.path = None
            self.bound += 0 if content else JUMP
        if self.path is not None:
            self.bound = len(self.path)
        self.known = {}
        self.items.feed(data)


class JsonSchemaProcessor(LogitsProcessor):
    """Masks each constrained row's logits to the tokens its schema allows next.

    ``matchers[i]`` is row ``i``'s matcher (None: unconstrained). ``finished(i)`` says whether
    row ``i`` has already ended (its later tokens are padding, not output). ``caps[i]`` is row
    ``i``'s ``max_tokens``; ``greedy``: rows take their best token (else they are sampled).

    **Budget.** Near the end of a row's budget, the token it would take is checked: after it,
    the closing path (the tokens that finish the document) must still fit in what is left. If
    it does not, the next best is checked, and after :data:`TRIES` the closing path's first
    token is forced. Greedy rows check their best token; sampled rows keep only the checked
    ones among their :data:`TRIES` best (plus the closing token). Far from the end nothing is
    checked: the bound on the closing path is refreshed (computed exactly) only when it comes
    within reach. So a reply always ends as complete JSON within ``max_tokens`` as long as it
    started with room for the shortest one (see :meth:`SchemaCompiler.check_budget`).

    **Repetition.** When the best token would put a comma after an array item that repeats an
    earlier item of the same array (verbatim), or the item just ended so, the closing path is
    followed until that array is closed; then the reply goes on as the model likes.
    """

    def __init__(
        self,
        compiler: SchemaCompiler,
        matchers: Sequence[llguidance.LLMatcher | None],
        prompt_width: int,
        finished: Any,
        caps: Sequence[int] | None = None,
        greedy: bool = True,
    ) -> None:
        self.compiler = compiler
        self.matchers = list(matchers)
        self.prompt_width = prompt_width
        self.finished = finished
        self.rows = [i for i, m in enumerate(self.matchers) if m is not None]
        words = (compiler.vocab_size + 31) // 32
        self.bitmask = torch.zeros((len(self.rows), words), dtype=torch.int32)
        self.closing = compiler.closing
        self.budgets = {
            row: _Budget(caps[row] if caps is not None else 1 << 30, greedy) for row in self.rows
        }

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import llguidance.torch

        step = input_ids.shape[1] - self.prompt_width
        active: list[tuple[int, Any]] = []  # (row, its matcher)
        last = input_ids[:, -1].tolist() if step > 0 else []
        for row in self.rows:
            matcher = self.matchers[row]
            if matcher is None or self.finished(row):
                continue
            if step > 0:
                if not matcher.consume_token(last[row]):
                    # Cannot happen while the mask is applied; if it does, stop constraining
                    # the row rather than mask everything (the caller validates the text).
                    self.matchers[row] = None
                    continue
                self.budgets[row].advance(last[row], self.closing.token_bytes[last[row]])
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
        for row, matcher in active:
            self._keep_room(matcher, self.budgets[row], scores[row], step)
        return scores

    def _keep_room(self, matcher: Any, budget: _Budget, row: torch.Tensor, step: int) -> None:
        """Narrow one row's logits (in place) to tokens that leave room to close the reply and
        do not continue an array past a repeated item."""
        left = budget.cap - step  # tokens still to come, this one included
        best = int(row.argmax())
        if budget.ending is None:
            budget.ending = budget.items.at_repeat()
            if budget.ending is None:
                budget.ending = budget.items.repeats(self.closing.token_bytes[best])
        if budget.ending is not None and len(budget.items.frames) <= budget.ending:
            budget.ending = None  # that array is closed
        if budget.lost:
            return
        near = left - 1 - budget.bound < JUMP
        if (near or budget.ending is not None) and budget.path is None:
            budget.path = self.closing.path(matcher, budget.items.in_string, limit=2 * left + 64)
            if budget.path is None:  # no way to close found: leave the row to the grammar
                budget.lost = True
                return
            budget.bound = len(budget.path)
            near = left - 1 - budget.bound < JUMP
        if budget.ending is not None and budget.path:
            self._only(row, budget.path[:1])  # close the repeating array the shortest way
            return
        if not near:
            return
        passed: list[int] = []
        for token in torch.topk(row, min(TRIES, row.shape[0])).indices.tolist():
            if not bool(torch.isfinite(row[token])):
                break
            if self._fits(matcher, budget, token, left):
                passed.append(token)
                if budget.greedy:
                    break
        keep = passed[:1] if budget.greedy else passed
        if budget.path is not None and (not keep or not budget.greedy):
            # The closing path's next token; end-of-sequence once the document is complete.
            closer = budget.path[:1] or self.closing.eos_ids[:1]
            keep = list(dict.fromkeys([*keep, *closer]))
        self._only(row, keep)

    @staticmethod
    def _only(row: torch.Tensor, keep: list[int]) -> None:
        """Forbid every token but ``keep`` (allowed ones keep their logits)."""
        if not keep:
            return
        values = row[keep].clone()
        values[~torch.isfinite(values)] = 0.0
        row.fill_(float("-inf"))
        row[keep] = values

    def _fits(self, matcher: Any, budget: _Budget, token: int, left: int) -> bool:
        """Whether ``token`` neither continues an array past a repeated item nor leaves too
        little room (of ``left`` tokens, itself included) to close the reply."""
        data = self.closing.token_bytes[token]
        if budget.items.repeats(data) is not None:
            return False
        if budget.path is not None and budget.path[:1] == [token]:
            return True
        if token in self.closing.eos_ids:
            return bool(matcher.is_accepting())
        if not matcher.try_consume_tokens([token]):
            return False
        try:
            after = self.closing.path(
                matcher, string_state(data, *budget.items.in_string), limit=left - 1
            )
        finally:
            matcher.rollback(1)
        if after is None:
            return False
        budget.known[token] = after
        return True


__all__ = ["JSON_OPTIONS", "JsonSchemaProcessor", "SchemaCompiler"]
