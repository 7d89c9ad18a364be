"""What every scoring entry point needs first: a loaded model that gives log-probabilities."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

from assay.errors import UnsupportedOperationError

if TYPE_CHECKING:
    from assay.models.facade import Model


class _Scored(Protocol):
    @property
    def logprob(self) -> float: ...

    @property
    def n_tokens(self) -> int: ...


class PerToken:
    """Perplexity from a total log-likelihood and its token count (``logprob``, ``n_tokens``,
    fields or properties of the class this is mixed into)."""

    @property
    def log_perplexity(self: _Scored) -> float:
        """The mean negative log-likelihood per token."""
        return -self.logprob / self.n_tokens

    @property
    def perplexity(self: _Scored) -> float:
        return math.exp(-self.logprob / self.n_tokens)


def scoring_model(model: Model | str) -> Model:
    """``model`` (or the model at that address), refused at once when it gives no
    log-probabilities, rather than after it has been asked for every text."""
    from assay.models.facade import Model, load

    loaded = model if isinstance(model, Model) else load(model)
    if not loaded.capabilities.loglikelihood:
        hint = (
            "script them with 'loglikelihoods:' in a fake:SCRIPT.yaml, or score a local model "
            "(default, hf:PATH)"
            if loaded.backend.provider == "fake"
            else "score a language model that gives log-probabilities: a local one (default, "
            "hf:PATH, gguf:FILE.gguf) or a server that echoes them (vLLM, assay serve)"
        )
        raise UnsupportedOperationError(
            f"{loaded.address} gives no log-probabilities, so it cannot score texts", hint=hint
        )
    return loaded


__all__ = ["PerToken", "scoring_model"]
