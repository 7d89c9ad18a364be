"""The one small protocol every backend implements.

Backends do the model work and nothing else. Batching across calls, the response cache, retries,
token/cost accounting and the call log live once, in :class:`assay.models.facade.Model`.
Every method takes a batch so backends can use it; ``generate`` receives one-sample requests
(the facade expands ``n`` samples into separate, separately seeded and cached requests).
A backend declares what it can do beyond generating in ``capabilities``
(:class:`~assay.models.capabilities.Capabilities`: log-likelihood, prompt log-probabilities,
constrained decoding, tool calls, ...), and callers ask ``Model.capabilities``. One that can tell
when each request of a batch is done declares ``reports_finished`` and takes
``generate(requests, on_finished=fn)``, calling ``fn(index, generation)`` for each as it
finishes; the facade caches those at once (see :mod:`assay.models.facade`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Message,
    ModelInfo,
    RollingLoglikelihood,
)

OnFinished = Callable[[int, Generation], None]
"""``generate``'s optional ``on_finished``: called with a request's index and its generation."""


@runtime_checkable
class Backend(Protocol):
    provider: str
    name: str

    def fingerprint(self) -> str:
        """sha256 of the weights for local models; the served model id for APIs."""
        ...

    def context_length(self) -> int | None: ...

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]: ...

    def stream(self, request: GenerateRequest) -> Iterator[str]:
        """Yield text pieces of one greedy/sampled completion as they are decoded."""
        ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]: ...

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingLoglikelihood]: ...

    def count_tokens(self, text: str) -> int: ...

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The exact text the model sees for a chat (its chat template, or the plain format)."""
        ...

    def info(self) -> ModelInfo: ...


PLAIN_CHAT_FORMAT = "{role}: {content}\n"
"""Documented fallback for models without a chat template: one ``Role: content`` line per turn,
then ``Assistant:`` when a reply is wanted."""


def render_plain_chat(messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
    text = "".join(
        PLAIN_CHAT_FORMAT.format(role=m.role.capitalize(), content=m.content) for m in messages
    )
    return text + ("Assistant:" if add_generation_prompt else "")


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop sequence. Returns the text and whether a stop was hit."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut], cut < len(text)


__all__ = ["PLAIN_CHAT_FORMAT", "Backend", "OnFinished", "apply_stop", "render_plain_chat"]
