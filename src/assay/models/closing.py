"""The shortest way to finish a constrained JSON reply: a few tokens the grammar accepts.

A reply decoded under a JSON Schema must end as a complete document within ``max_tokens``. Near
the end of a row's budget :class:`~assay.models.constrain.JsonSchemaProcessor` asks how many
tokens it would take, from the text so far, to reach a state where the grammar accepts the
document (required keys written, strings, arrays and objects closed, ``minItems``/``minLength``/
number ranges met), and keeps that many in hand.

The path is found greedily, token by token, on the llguidance matcher itself, so every token
of it is checked against the grammar and rolled back afterwards:

1. tokens the grammar forces (a required key, ``": "``) are taken as they are;
2. otherwise the first of a ranked list of short tokens it accepts: inside a string the
   closing quote (then ``"}``, ``"]``, ...); elsewhere closers (``}]``, ``]``, ``}``, ...),
   then separators (``, "``, ``,``: a number ends rather than grows), then the smallest values
   (``""``, ``[]``, ``0``, ``null``), then openers;
3. otherwise (inside an enum value or a string with ``minLength``) the longest accepted token
   that opens nothing (no quote, bracket, brace, comma or colon in it).

After a path's first token the rest of it is still a path (the processor keeps it), so its
length drops by exactly one: that is what makes the budget check safe. The path is short, not
always the shortest possible; "the shortest valid reply" in messages means the one this search
finds from the start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import llguidance

_BRACKETS = ("}", "]")
_VALUES = ('""', "[]", "{}", *"0123456789", "null", "false", "true")
_SEPARATORS = (', "', ",", '":', ": ")
_OPEN = (' "', "[", "{", " ", '"')
_OPENERS = frozenset(b'"{}[],:\\')

PATH_LIMIT = 4096
"""Longest closing path looked for; a schema needing more is treated as never closing."""


def _closers(longest: int = 4) -> list[str]:
    """``}``/``]`` runs of 1..``longest``, longest first, each also after a closing quote:
    ``"}]}`` before ``}]}`` before ... before ``"`` (a quote after a bracket is never valid)."""
    runs = [""]
    level = [""]
    for _ in range(longest - 1):
        level = [s + c for s in level for c in _BRACKETS]
        runs += level
    out = {q + r for r in runs for q in ('"', "")} - {""}
    return sorted(out, key=lambda s: (-len(s), s))


def _fill_rank(data: bytes) -> int:
    """How much a token is preferred where no ranked token fits (an enum value, a key, a string
    under ``minLength``): longest words first, then other text; 0 for a token that opens or
    closes something, which is taken only when nothing else is allowed."""
    if not data or _OPENERS.intersection(data):
        return 0
    word = data.replace(b" ", b"").isalnum()
    return len(data) + (1000 if word else 100)


def string_state(data: bytes, inside: bool, escaped: bool) -> tuple[bool, bool]:
    """Whether JSON text is inside a string (and just after a backslash) once ``data`` follows."""
    for byte in data:
        if escaped:
            escaped = False
        elif inside and byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x22:  # quote
            inside = not inside
    return inside, escaped


class ClosingPaths:
    """Closing paths for one tokenizer: the ranked tokens and what each token's bytes are.

    ``decode_bytes(ids)`` gives tokens' bytes; ``single_token(text)`` gives the id of ``text``
    when it is one token of the vocabulary, else None.
    """

    def __init__(
        self, vocab_size: int, decode_bytes: Any, single_token: Any, eos_ids: Sequence[int]
    ) -> None:
        closers = _closers()

        def tokens(texts: Sequence[str]) -> list[int]:
            ids = [single_token(t) for t in texts]
            return list(dict.fromkeys(i for i in ids if i is not None))

        self._in_string = np.array(
            tokens([c for c in closers if c.startswith('"')]), dtype=np.int64
        )
        """Tokens that end a string, longest first."""
        self._structural = np.array(
            tokens(
                [*(c for c in closers if not c.startswith('"')), *_SEPARATORS, *_VALUES, *_OPEN]
            ),
            dtype=np.int64,
        )
        """Tokens between values, in order of preference."""
        self.token_bytes = [decode_bytes([t]) for t in range(vocab_size)]
        self._fill_rank = np.array([_fill_rank(b) for b in self.token_bytes], dtype=np.int32)
        self._fill_rank[list(eos_ids)] = -1
        """Preference of each token where no ranked token fits; -1: never (EOS)."""
        self.vocab_size = vocab_size
        self.eos_ids = list(eos_ids)

    def path(
        self,
        matcher: llguidance.LLMatcher,
        in_string: tuple[bool, bool] = (False, False),
        limit: int = PATH_LIMIT,
    ) -> list[int] | None:
        """Tokens that take ``matcher`` to an accepting state (``[]``: it is there already), or
        None when none is found within ``limit`` tokens. ``in_string``: whether the text so far
        ends inside a string (and after a backslash). ``matcher`` is left as it was."""
        taken: list[int] = []
        inside, escaped = in_string
        try:
            while not matcher.is_accepting():
                if len(taken) >= limit or matcher.is_error():
                    return None
                step = matcher.compute_ff_tokens()[: limit - len(taken)]
                if not step:
                    token = self._next(matcher, inside and not escaped)
                    step = [] if token is None else [token]
                if not step or matcher.try_consume_tokens(step) != len(step):
                    return None
                taken += step
                for token in step:
                    inside, escaped = string_state(self.token_bytes[token], inside, escaped)
            return taken
        finally:
            if taken:
                matcher.rollback(len(taken))

    def _next(self, matcher: llguidance.LLMatcher, inside: bool) -> int | None:
        if inside:  # most often a plain closing quote: cheaper to try than a whole mask
            for token in self._in_string[-1:]:
                if matcher.try_consume_tokens([int(token)]):
                    matcher.rollback(1)
                    return int(token)
        bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
        ranked = self._in_string if inside else self._structural
        ok = (bits[ranked >> 3] >> (ranked & 7)) & 1
        if ok.any():
            return int(ranked[int(ok.argmax())])
        allowed = np.flatnonzero(np.unpackbits(bits, bitorder="little")[: self.vocab_size])
        if not allowed.size:
            return None
        best = allowed[int(self._fill_rank[allowed].argmax())]
        return None if self._fill_rank[best] < 0 else int(best)


__all__ = ["PATH_LIMIT", "ClosingPaths"]
