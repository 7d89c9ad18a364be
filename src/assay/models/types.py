"""The data that crosses the backend protocol: requests, sampling settings and results.

Plain pydantic models so they hash, serialise into the cache and the call log, and validate
user-supplied sampling values with one clear error.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay.errors import SamplingError


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant", "tool"]
    content: str


Prompt = str | list[Message]
"""A prompt is raw text (sent as-is) or a chat (rendered through the model's chat template)."""


def as_messages(raw: list[dict[str, str]] | list[Message]) -> list[Message]:
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in raw]


class Sampling(BaseModel):
    """How to decode. Defaults are greedy, which is what evaluation wants."""

    model_config = ConfigDict(frozen=True)

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    logprobs: bool = False

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens(cls, v: int) -> int:
        if v < 1:
            raise SamplingError(f"max_tokens must be at least 1, got {v}")
        return v

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, v: float) -> float:
        if not 0.0 <= v <= 5.0:
            raise SamplingError(
                f"temperature must be between 0 and 5, got {v}", hint="0 means greedy decoding"
            )
        return v

    @field_validator("top_p")
    @classmethod
    def _top_p(cls, v: float) -> float:
        if not 0.0 < v <= 1.0:
            raise SamplingError(f"top_p must be in (0, 1], got {v}")
        return v

    @field_validator("n")
    @classmethod
    def _n(cls, v: int) -> int:
        if v < 1:
            raise SamplingError(f"n (samples per prompt) must be at least 1, got {v}")
        return v

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def for_sample(self, index: int) -> Sampling:
        """Settings for the ``index``-th of ``n`` samples: one sample, its own seed.

        Seeds are offset per sample so that sampled outputs differ and each one is reproducible
        (and cached) on its own.
        """
        seed = None if self.seed is None else self.seed + index
        return self.model_copy(update={"n": 1, "seed": seed})


class GenerateRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt: str | tuple[Message, ...]
    sampling: Sampling = Field(default_factory=Sampling)

    @property
    def is_chat(self) -> bool:
        return not isinstance(self.prompt, str)

    def key(self) -> str:
        return stable_hash(self.model_dump(mode="json"))


class TokenLogprob(BaseModel):
    token: str
    logprob: float


class Generation(BaseModel):
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["stop", "length"] = "stop"
    logprobs: list[TokenLogprob] | None = None
    cached: bool = False
    latency_s: float = 0.0
    cost: float = 0.0
    prompt_index: int = 0
    sample_index: int = 0


class LoglikelihoodRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    context: str
    continuation: str


class Loglikelihood(BaseModel):
    logprob: float
    is_greedy: bool
    n_tokens: int = 0


class RollingLoglikelihood(BaseModel):
    logprob: float
    n_tokens: int

    @property
    def perplexity(self) -> float:
        import math

        return math.exp(-self.logprob / max(self.n_tokens, 1))


class TokenScore(BaseModel):
    """One prompt token with its log-probability given everything before it.

    Backends that can score a prompt token by token (``prompt_logprobs``) let the HTTP server
    answer ``/v1/completions`` with ``echo`` + ``logprobs``, so log-likelihood works remotely.
    """

    token: str
    offset: int
    """Character offset of the token's text in the prompt."""
    logprob: float | None
    """None for the first token, which has nothing before it to be predicted from."""
    top: dict[str, float] = Field(default_factory=dict)
    """The most likely tokens at this position with their log-probabilities."""


class ModelInfo(BaseModel):
    """What a backend can say about itself quickly (the full card lives in ``assay.models.card``)."""

    address: str
    provider: str
    name: str
    fingerprint: str
    context_length: int | None = None
    chat_template: bool = False
    supports_loglikelihood: bool = True
    details: dict[str, Any] = Field(default_factory=dict)


def stable_hash(obj: Any) -> str:
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()
