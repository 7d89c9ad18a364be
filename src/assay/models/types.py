"""The data that crosses the backend protocol: requests, sampling settings and results.

Plain pydantic models so they hash, serialise into the cache and the call log, and validate
user-supplied sampling values with one clear error.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from assay.errors import SamplingError
from assay.models.images import Image, as_images


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    images: tuple[Image, ...] = ()
    """Images shown with this turn (paths, bytes or :class:`~assay.models.images.Image`); only
    backends with the ``images`` capability take them."""

    @field_validator("images", mode="before")
    @classmethod
    def _images(cls, v: Any) -> tuple[Image, ...]:
        return as_images(v)

    @model_serializer(mode="wrap")
    def _drop_no_images(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # A text-only turn dumps as it did before images existed: cache keys stay the same.
        data: dict[str, Any] = handler(self)
        if not data.get("images"):
            data.pop("images", None)
        return data


Prompt = str | list[Message]
"""A prompt is raw text (sent as-is) or a chat (rendered through the model's chat template)."""


def as_messages(raw: list[dict[str, Any]] | list[Message]) -> list[Message]:
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
    json_schema: str | None = None
    """A JSON Schema the reply must satisfy, as compact JSON text (see :func:`canonical_schema`), so
    it hashes into the cache key and shows in the call log. Local backends decode under it;
    backends that cannot constrain ignore it (``assay.prompting.structured`` validates)."""

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

    @field_validator("json_schema", mode="before")
    @classmethod
    def _json_schema(cls, v: Any) -> str | None:
        return None if v is None else canonical_schema(v)

    @model_serializer(mode="wrap")
    def _drop_unset_schema(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # Without a schema the dump (and so every cache key and output file made before the
        # field existed) stays as it was.
        data: dict[str, Any] = handler(self)
        if data.get("json_schema") is None:
            data.pop("json_schema", None)
        return data

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


def canonical_schema(schema: Any) -> str:
    """A JSON Schema (text or parsed) as compact JSON text, after checking it is one.

    Raises :class:`SamplingError` naming the problem: text that is not JSON, or a value that
    is not a valid schema under its own ``$schema`` draft (the latest draft when none is named).
    """
    if isinstance(schema, bytes):
        schema = schema.decode("utf-8", errors="replace")
    if isinstance(schema, str):
        # Every Sampling rebuilt from a dump passes the same text again: check it once.
        return _canonical_text(schema)
    return _canonical_value(schema)


@functools.lru_cache(maxsize=256)
def _canonical_text(text: str) -> str:
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise SamplingError(f"json_schema is not JSON: {exc}") from None
    return _canonical_value(schema)


def _local_refs(node: Any, where: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every ``$ref`` into the schema itself (``#/...``), with where it is."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            yield (*where, "$ref"), ref
        for key, value in node.items():
            if key not in ("const", "enum", "default", "examples"):  # values, not subschemas
                yield from _local_refs(value, (*where, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _local_refs(value, (*where, str(i)))


def _resolves(schema: Any, ref: str) -> bool:
    """Whether a ``#/a/b`` JSON pointer names a part of ``schema`` (``#`` is the whole)."""
    node = schema
    pointer = ref[1:]
    if not pointer:
        return True
    if not pointer.startswith("/"):
        return True  # an anchor (``#name``): left to the validator
    for raw in pointer[1:].split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _canonical_value(schema: Any) -> str:
    if not isinstance(schema, dict | bool):
        raise SamplingError(
            f"json_schema must be a JSON object (a JSON Schema), not {type(schema).__name__}"
        )
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise SamplingError(
            f"json_schema is not a valid JSON Schema at {where}: {exc.message}"
        ) from None
    for path, ref in _local_refs(schema, ()):
        if not _resolves(schema, ref):
            raise SamplingError(
                f"json_schema is not a valid JSON Schema at {'/'.join(path)}: "
                f"$ref {ref!r} points to nothing in the schema"
            )
    # Keys keep their order: the order of properties is the order the model writes them in.
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


class GenerateRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt: str | tuple[Message, ...]
    sampling: Sampling = Field(default_factory=Sampling)

    @property
    def is_chat(self) -> bool:
        return not isinstance(self.prompt, str)

    @property
    def images(self) -> list[Image]:
        """The images of the prompt's turns, in order."""
        return [] if isinstance(self.prompt, str) else [i for m in self.prompt for i in m.images]

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
    constrained: bool = False
    """Decoding was held to the request's ``json_schema`` (a grammar or a server's structured
    output mode), so the text is valid JSON for it unless cut off by ``max_tokens``."""
    cached: bool = False
    latency_s: float = 0.0
    cost: float = 0.0
    prompt_index: int = 0
    sample_index: int = 0
    image_tokens: int = 0
    """Of ``prompt_tokens``, those the images took (where the model or provider says)."""

    @model_serializer(mode="wrap")
    def _drop_no_image_tokens(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # Text-only generations dump as they did before images existed.
        data: dict[str, Any] = handler(self)
        if not data.get("image_tokens"):
            data.pop("image_tokens", None)
        return data


class LoglikelihoodRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    context: str
    continuation: str


class Loglikelihood(BaseModel):
    logprob: float
    is_greedy: bool
    n_tokens: int = 0
    """Tokens of the continuation."""
    context_tokens: int = 0
    """Tokens of the context the continuation was scored after (for token accounting)."""

    @property
    def prompt_tokens(self) -> int:
        """Tokens the model read to score this: context and continuation."""
        return self.context_tokens + self.n_tokens


class RollingLoglikelihood(BaseModel):
    logprob: float
    n_tokens: int

    @property
    def perplexity(self) -> float:
        import math

        return math.exp(-self.logprob / max(self.n_tokens, 1))

    @property
    def prompt_tokens(self) -> int:
        """Tokens the model read to score this: the whole text."""
        return self.n_tokens


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


class PromptScores(BaseModel):
    """A text's tokens, each scored given the tokens before it (see :class:`TokenScore`)."""

    tokens: list[TokenScore]

    @property
    def prompt_tokens(self) -> int:
        """Tokens the model read to score this (for token accounting)."""
        return len(self.tokens)


class TokenDistributions(BaseModel):
    """A text scored token by token with what Min-K%++ needs: for each token after the first,
    its log-probability given the tokens before it, and the mean and standard deviation of the
    log-probability of the next token under the model's own distribution at that position
    (mu = sum_z p(z) log p(z), sigma^2 = sum_z p(z) (log p(z) - mu)^2, over the vocabulary)."""

    logprobs: list[float]
    means: list[float]
    stds: list[float]

    @property
    def prompt_tokens(self) -> int:
        return len(self.logprobs) + 1


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
