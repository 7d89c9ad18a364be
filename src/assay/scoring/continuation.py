"""The log-probability of each token of a continuation after a context, with the ``top_k``
tokens the model found most likely at each position.

The model scores ``context + continuation`` token by token; the continuation's tokens are those
that start at or after the end of the context, once the context's trailing whitespace has moved
into the continuation (as lm-evaluation-harness does, so ``"The capital is"`` + ``" Paris"`` and
``"The capital is "`` + ``"Paris"`` both score the token ``" Paris"``). A continuation that starts
inside a token has that token scored whole.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import UnsupportedOperationError, UserError
from assay.scoring.common import PerToken, scoring_model

if TYPE_CHECKING:
    from assay.models.facade import Model


@dataclass(frozen=True)
class Alternative:
    token: str
    logprob: float


@dataclass(frozen=True)
class ScoredToken:
    position: int
    """Index of the token in the continuation, from 0."""
    token: str
    logprob: float
    top: tuple[Alternative, ...]
    """The most likely tokens at this position, most likely first."""

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)

    @property
    def is_top(self) -> bool:
        """The model's most likely token here is this one (greedy decoding would pick it)."""
        return bool(self.top) and self.top[0].token == self.token


@dataclass(frozen=True)
class ContinuationScore(PerToken):
    model: str
    """The model as it was named (an alias such as ``default``, or an address)."""
    address: str
    context: str
    continuation: str
    tokens: tuple[ScoredToken, ...]

    @property
    def logprob(self) -> float:
        return sum(t.logprob for t in self.tokens)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def is_greedy(self) -> bool:
        """Every token was the model's most likely one."""
        return all(t.is_top for t in self.tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "address": self.address,
            "context": self.context,
            "continuation": self.continuation,
            "logprob": self.logprob,
            "n_tokens": self.n_tokens,
            "perplexity": self.perplexity,
            "is_greedy": self.is_greedy,
            "tokens": [asdict(t) for t in self.tokens],
        }


def score_continuation(
    model: Model | str, context: str, continuation: str, *, top_k: int = 5
) -> ContinuationScore:
    """Per-token log-probabilities of ``continuation`` after ``context`` under ``model``, each
    with the ``top_k`` most likely tokens at its position.

        >>> s = assay.score_continuation("default", "The capital of France is", " Paris")  # doctest: +SKIP
        >>> [(t.token, t.logprob, t.top[0].token) for t in s.tokens]                          # doctest: +SKIP
    """
    if top_k < 0:
        raise UserError(f"top_k must be 0 or more, got {top_k}")
    if not continuation:
        raise UserError("the continuation is empty: give the text to score after the context")
    boundary = len(context.rstrip())
    if boundary == 0:
        raise UserError(
            "the context is empty: the continuation's first token has nothing before it "
            "to be predicted from",
            hint="give a context, or score the whole text's perplexity instead",
        )
    loaded = scoring_model(model)
    scores = loaded.prompt_logprobs([context + continuation], top=top_k)[0].tokens
    chosen = [t for t in scores if t.offset >= boundary] or scores[-1:]
    tokens = []
    for position, t in enumerate(chosen):
        if t.logprob is None:
            raise UnsupportedOperationError(
                f"{loaded.address} gave no log-probability for the token {t.token!r}"
            )
        ranked = sorted(t.top.items(), key=lambda kv: -kv[1])[:top_k]
        top = tuple(Alternative(tok, lp) for tok, lp in ranked)
        tokens.append(ScoredToken(position, t.token, t.logprob, top))
    name = model if isinstance(model, str) else loaded.address
    return ContinuationScore(name, loaded.address, context, continuation, tuple(tokens))


__all__ = ["Alternative", "ContinuationScore", "ScoredToken", "score_continuation"]
