"""The tokens that many scoring contexts start with, run once and kept as a key/value cache.

Few-shot evaluation puts the same examples (and instruction) in front of every question: with
three PubMedQA abstracts as examples that is ~900 of every context's ~1,200 tokens. A causal
model's keys and values for those tokens do not depend on what follows, so the backend runs them
once, keeps their cache here, and runs each context's own tokens over it. The cache survives
between calls (an evaluation sends a few questions per call), and a later batch that shares only
part of it uses that part (the first ``m`` positions of a causal cache are the cache of the first
``m`` tokens) and extends it with a pass over the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

MIN_TOKENS = 32
"""A shared prefix shorter than this is not worth a pass of its own."""

Layers = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer ``(keys, values)``, each ``[1, heads, tokens, dim]``."""


def common_length(sequences: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all ``sequences`` have in common."""
    if not sequences:
        return 0
    first, n = sequences[0], min(len(s) for s in sequences)
    for seq in sequences[1:]:
        i = 0
        while i < n and seq[i] == first[i]:
            i += 1
        n = i
    return n


@dataclass(frozen=True)
class Plan:
    """Use ``length`` prefix tokens; the first ``cached`` of them are in the cache already."""

    length: int
    cached: int


@dataclass
class PrefixCache:
    tokens: tuple[int, ...] = ()
    layers: Layers = field(default_factory=list)

    def plan(self, contexts: Sequence[Sequence[int]]) -> Plan | None:
        """What prefix the contexts of one scoring batch should run over, or ``None``.

        Every context keeps at least its last token out of the prefix (its logits score the
        first continuation token). A single context only uses what is cached: a prefix of its
        own would cost a pass and save nothing. Nor is the cache extended by a few tokens.
        """
        if not contexts:
            return None
        limit = min(len(c) for c in contexts) - 1
        shared = min(common_length(contexts), limit)
        cached = min(common_length([self.tokens, contexts[0][:shared]]), shared)
        if cached >= MIN_TOKENS and (len(contexts) == 1 or shared - cached < MIN_TOKENS):
            return Plan(cached, cached)  # a few more shared tokens are not worth a pass
        if len(contexts) == 1 or shared < MIN_TOKENS:
            return None
        return Plan(shared, cached)

    def head(self, length: int) -> Layers:
        """The cache of the first ``length`` cached tokens (views, not copies)."""
        return [(k[:, :, :length], v[:, :, :length]) for k, v in self.layers]

    def keep(self, tokens: Sequence[int], layers: Layers) -> None:
        self.tokens = tuple(tokens)
        self.layers = layers
