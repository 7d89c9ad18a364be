"""OpenAI request bodies into assay values (messages, sampling, a schema), and assay results into
the response's parts (usage, log-probabilities, token lists, the system fingerprint)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, cast

from assay.errors import ContextLengthError, SamplingError, UnsupportedOperationError
from assay.models.facade import Model
from assay.models.images import Detail, Image, ImageError, decode_data_url, load_image
from assay.models.types import (
    Generation,
    Message,
    Sampling,
    TokenScore,
    canonical_schema,
    stable_hash,
)
from assay.serve.schemas import ChatMessageIn, ChatRequest, CompletionRequest, OpenAIHTTPError
from assay.serve.served import ServedModel

ROLES = {"system", "user", "assistant", "tool", "developer"}
DEFAULT_CHAT_MAX_TOKENS = 256
DEFAULT_COMPLETION_MAX_TOKENS = 16


def _messages(raw: Sequence[ChatMessageIn]) -> list[Message]:
    out = []
    for i, m in enumerate(raw):
        if m.role not in ROLES:
            raise OpenAIHTTPError(
                400, f"messages[{i}].role '{m.role}' is not one of {sorted(ROLES)}"
            )
        content = m.content
        images: list[Image] = []
        if isinstance(content, list):
            parts = []
            for j, part in enumerate(content):
                kind = part.get("type")
                if kind == "image_url":
                    images.append(_image(part, f"messages[{i}].content[{j}]"))
                    continue
                if kind != "text":
                    raise OpenAIHTTPError(
                        400,
                        f"messages[{i}].content[{j}]: content parts are text or image_url, "
                        f"not '{kind}'",
                        param="messages",
                    )
                parts.append(str(part.get("text", "")))
            content = "".join(parts)
        role = "system" if m.role == "developer" else m.role
        out.append(Message(role=role, content=content or "", images=tuple(images)))  # type: ignore[arg-type]
    return out


def _image(part: dict[str, Any], where: str) -> Image:
    """An ``image_url`` content part's image: a base64 data URL (no URL is fetched)."""
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    detail = spec.get("detail", "auto") if isinstance(spec, dict) else "auto"
    if not isinstance(url, str) or not url:
        raise OpenAIHTTPError(400, f"{where}: image_url needs a url", param="messages")
    if detail not in ("auto", "low", "high"):
        raise OpenAIHTTPError(
            400, f"{where}: detail is auto, low or high, not '{detail}'", param="messages"
        )
    try:
        # Only the bytes in the request: never a path on this machine, never a fetch.
        return load_image(decode_data_url(url), detail=cast(Detail, detail))
    except ImageError as exc:
        raise OpenAIHTTPError(400, f"{where}: {exc}", param="messages") from None


def _sampling(
    body: ChatRequest | CompletionRequest, max_tokens: int, logprobs: bool = False
) -> Sampling:
    temperature = 1.0 if body.temperature is None else body.temperature
    seed = body.seed
    if seed is None and temperature > 0:
        seed = secrets.randbelow(2**31)
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    return Sampling(
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        seed=seed,
        stop=stop,
        n=body.n,
        logprobs=logprobs,
        json_schema=_response_schema(body),
    )


def _response_schema(body: ChatRequest | CompletionRequest) -> str | None:
    """The JSON Schema asked for by ``response_format`` (compact text), or None."""
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return canonical_schema({"type": "object"})
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise OpenAIHTTPError(
            400,
            "response_format of type json_schema needs json_schema.schema",
            param="response_format",
        )
    try:
        return canonical_schema(fmt.json_schema.schema_)
    except SamplingError as exc:
        raise OpenAIHTTPError(
            400, f"response_format: {exc.message}", param="response_format"
        ) from None


def _usage(prompt_tokens: int, completion_tokens: int, image_tokens: int = 0) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if image_tokens:
        usage["prompt_tokens_details"] = {"image_tokens": image_tokens}
    return usage


def _chat_logprobs(gen: Generation) -> dict[str, Any] | None:
    if gen.logprobs is None:
        return None
    return {
        "content": [
            {
                "token": t.token,
                "logprob": t.logprob,
                "bytes": list(t.token.encode()),
                "top_logprobs": [],
            }
            for t in gen.logprobs
        ]
    }


def _completion_logprobs(
    prompt_scores: list[TokenScore] | None, gen: Generation | None, start: int
) -> dict[str, Any]:
    """OpenAI's legacy ``logprobs`` object; offsets index the returned ``text``."""
    tokens: list[str] = []
    values: list[float | None] = []
    tops: list[dict[str, float] | None] = []
    offsets: list[int] = []
    for s in prompt_scores or []:
        tokens.append(s.token)
        values.append(s.logprob)
        tops.append(None if s.logprob is None else dict(s.top))
        offsets.append(s.offset)
    offset = start
    for t in (gen.logprobs or []) if gen is not None else []:
        tokens.append(t.token)
        values.append(t.logprob)
        tops.append({})
        offsets.append(offset)
        offset += len(t.token)
    return {
        "tokens": tokens,
        "token_logprobs": values,
        "top_logprobs": tops,
        "text_offset": offsets,
    }


def _system_fingerprint(served: ServedModel) -> str:
    return "fp_" + stable_hash(served.model.fingerprint)[:12]


def _token_list(model: Model, text: str) -> list[int] | list[str] | None:
    """Token ids from the backend's ``tokenize``/``encode`` method or its ``tokenizer``; None when
    it has none of these (``count`` is always there, from ``count_tokens``)."""
    backend = model.backend
    for method in ("tokenize", "encode"):
        tokenize = getattr(backend, method, None)
        if callable(tokenize):
            return list(tokenize(text))
    tokenizer = getattr(backend, "tokenizer", None)
    encode = getattr(tokenizer, "encode", None)
    if callable(encode):
        try:
            return list(encode(text, add_special_tokens=False))
        except TypeError:
            return list(encode(text))
    return None


def _score_prompts(model: Model, prompts: list[str], top: int) -> list[list[TokenScore]]:
    score = getattr(model.backend, "prompt_logprobs", None)
    if not callable(score):
        raise UnsupportedOperationError(
            f"the {model.backend.provider} backend cannot score prompt tokens, "
            "so echo with logprobs is not available for this model"
        )
    limit = model.context_length
    if limit is not None:
        for prompt in prompts:
            n = model.count_tokens(prompt)
            if n > limit:
                raise ContextLengthError(n, limit)
    result: list[list[TokenScore]] = score(prompts, top)
    return result
