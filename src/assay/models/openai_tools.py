"""Tool calling through an OpenAI-compatible server: the ``tools`` parameter and ``tool_calls``.

Kept apart from the backend's text generation: one request per call, with the backend's own
client, sampling parameters and retries (``OpenAIBackend``), and one ``tools`` row in the
workspace call log with its tokens, latency and cost. Messages are OpenAI-style dicts, so a
transcript holds assistant ``tool_calls`` and ``tool`` turns with their ``tool_call_id``.
Tool calls are not cached: tools act on the world, and their results may change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import UnsupportedOperationError
from assay.models.types import GenerateRequest, Message, Sampling

if TYPE_CHECKING:
    from assay.models.facade import Model


@dataclass(frozen=True)
class ApiToolCall:
    id: str
    name: str
    arguments: str
    """The JSON text the server sent (it may not parse; the tool loop reports that)."""

    def parsed_arguments(self) -> Any:
        try:
            return json.loads(self.arguments or "{}")
        except ValueError:
            return self.arguments


@dataclass
class ApiToolReply:
    content: str | None
    tool_calls: list[ApiToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


def chat_with_tools(
    model: Model,
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]],
    *,
    sampling: Sampling | None = None,
    tool_choice: str | dict[str, Any] = "auto",
) -> ApiToolReply:
    """One ``/chat/completions`` request with ``tools``; the reply's text and tool calls."""
    from assay.models.openai_api import OpenAIBackend

    backend = model.backend
    if not isinstance(backend, OpenAIBackend):
        raise UnsupportedOperationError(
            f"{model.address} is not an OpenAI-compatible model; local models call tools "
            "through structured output",
            hint="use assay.run_tools(..., mode='structured')",
        )
    sampling = sampling or Sampling()
    probe = GenerateRequest(prompt=(Message(role="user", content=""),), sampling=sampling)
    params = backend._params(probe)
    start = time.perf_counter()
    error: str | None = None
    reply = ApiToolReply(content=None)
    try:
        create: Any = backend.client.chat.completions.create
        completion = backend._retrying(
            lambda: create(
                messages=list(messages), tools=list(tools), tool_choice=tool_choice, **params
            ),
            "/chat/completions",
        )
        choice = completion.choices[0]
        calls = [
            ApiToolCall(c.id, c.function.name, c.function.arguments or "")
            for c in (choice.message.tool_calls or [])
            if getattr(c, "function", None) is not None
        ]
        usage = completion.usage
        reply = ApiToolReply(
            content=choice.message.content,
            tool_calls=calls,
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=time.perf_counter() - start,
        )
        return reply
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        model._log(
            "tools",
            1,
            reply.prompt_tokens,
            reply.completion_tokens,
            time.perf_counter() - start,
            0,
            error,
            json.dumps(list(messages)[-1:], default=str),
            cost=model.cost(reply.prompt_tokens, reply.completion_tokens),
        )


__all__ = ["ApiToolCall", "ApiToolReply", "chat_with_tools"]
