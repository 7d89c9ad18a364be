"""echo: replies with the last user message, transformed (echo:plain, echo:upper, echo:reverse).

A provider module has ``load(name, ctx)`` returning a backend: an object with the methods of
``assay.Backend``. Caching, retries, token counts and the call log come from assay's facade;
the backend only answers. It declares what it can do beyond generating (here: nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from assay.errors import ModelNotFoundError, UnsupportedOperationError
from assay.models.capabilities import Capabilities
from assay.models.protocol import apply_stop, render_plain_chat
from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Message,
    ModelInfo,
    RollingLoglikelihood,
)

TRANSFORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda text: text,
    "upper": str.upper,
    "reverse": lambda text: text[::-1],
}


class EchoBackend:
    provider = "echo"
    capabilities = Capabilities()

    def __init__(self, name: str) -> None:
        if name not in TRANSFORMS:
            raise ModelNotFoundError(
                f"echo has no model '{name}'", hint=f"one of: {', '.join(TRANSFORMS)}"
            )
        self.name = name
        self._transform = TRANSFORMS[name]

    def fingerprint(self) -> str:
        return "echo:" + hashlib.sha256(self.name.encode()).hexdigest()[:16]

    def context_length(self) -> int | None:
        return None

    def info(self) -> ModelInfo:
        return ModelInfo(
            address=f"echo:{self.name}",
            provider="echo",
            name=f"echo-{self.name}",
            fingerprint=self.fingerprint(),
            supports_loglikelihood=False,
            details={"transform": self.name},
        )

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        return render_plain_chat(messages, add_generation_prompt)

    def _answer(self, request: GenerateRequest) -> str:
        prompt = request.prompt
        if isinstance(prompt, str):
            last = prompt
        else:
            last = next((m.content for m in reversed(prompt) if m.role == "user"), "")
        text, _ = apply_stop(self._transform(last.strip()), request.sampling.stop)
        return text

    def generate(self, requests: Sequence[GenerateRequest], **_: Any) -> list[Generation]:
        out = []
        for request in requests:
            text = self._answer(request)
            prompt = (
                request.prompt
                if isinstance(request.prompt, str)
                else self.render_chat(request.prompt)
            )
            out.append(
                Generation(
                    text=text,
                    prompt_tokens=self.count_tokens(prompt),
                    completion_tokens=self.count_tokens(text),
                )
            )
        return out

    def stream(self, request: GenerateRequest) -> Iterator[str]:
        yield self._answer(request)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        raise UnsupportedOperationError("echo models give no log-likelihoods")

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingLoglikelihood]:
        raise UnsupportedOperationError("echo models give no log-likelihoods")


def load(name: str, ctx: Any) -> EchoBackend:
    return EchoBackend(name)
