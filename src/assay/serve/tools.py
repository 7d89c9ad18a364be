"""``tools`` on ``/v1/chat/completions``: the served model chooses a tool by structured output.

The request's tools and its history (assistant ``tool_calls``, ``tool`` results) become the
same chat and the same per-step schema that :func:`assay.run_tools` uses for local models
(:func:`assay.prompting.tools.choose`), so a local model served here answers OpenAI clients with
``tool_calls`` (``finish_reason: "tool_calls"``) or with a text answer (``"stop"``).

``tool_choice``: ``"auto"`` (default) a call or an answer; ``"required"`` a call; ``"none"`` an
answer; ``{"type": "function", "function": {"name": N}}`` a call of ``N``. Not supported with
tools: ``stream`` and ``n`` > 1 (400).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assay.errors import ConfigError
from assay.models.types import Sampling
from assay.prompting.structured import load_schema
from assay.prompting.tools import ANSWER, Tool, choose, transcript_message
from assay.serve.schemas import ChatMessageIn, ChatRequest, OpenAIHTTPError

if TYPE_CHECKING:
    from assay.models.facade import Model


def parse_tools(raw: Sequence[dict[str, Any]]) -> list[Tool]:
    tools = []
    for i, item in enumerate(raw):
        fn = item.get("function") if isinstance(item, dict) else None
        if item.get("type", "function") != "function" or not isinstance(fn, dict):
            raise OpenAIHTTPError(400, f"tools[{i}] must be a function tool", param="tools")
        name = fn.get("name")
        if not isinstance(name, str) or not name or name == ANSWER:
            raise OpenAIHTTPError(
                400, f"tools[{i}].function.name is missing or invalid", param="tools"
            )
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise OpenAIHTTPError(
                400, f"tools[{i}].function.parameters must be an object", param="tools"
            )
        try:
            load_schema(params)
        except ConfigError as exc:
            raise OpenAIHTTPError(
                400, f"tools[{i}].function.parameters: {exc.message}", param="tools"
            ) from None
        tools.append(Tool(name, str(fn.get("description") or name), params))
    return tools


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content or ""


def transcript(messages: Sequence[ChatMessageIn]) -> list[dict[str, Any]]:
    """Request messages as transcript dicts, with each tool result named after its call."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        extra = m.model_extra or {}
        role = "system" if m.role == "developer" else m.role
        turn: dict[str, Any] = {"role": role, "content": _text(m.content)}
        calls = extra.get("tool_calls")
        if role == "assistant" and calls:
            turn["tool_calls"] = calls
            for call in calls:
                names[str(call.get("id"))] = str(call.get("function", {}).get("name", "tool"))
        if role == "tool":
            turn["name"] = extra.get("name") or names.get(str(extra.get("tool_call_id")), "tool")
        out.append(turn)
    return out


def _choice_options(tool_choice: Any, tools: list[Tool]) -> dict[str, Any]:
    if tool_choice in (None, "auto"):
        return {}
    if tool_choice == "none":
        return {"allow_calls": False}
    if tool_choice == "required":
        return {"allow_answer": False}
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if name in {t.name for t in tools}:
            return {"only": name}
    raise OpenAIHTTPError(400, f"tool_choice {tool_choice!r} is not supported", param="tool_choice")


def tool_completion(
    model: Model, body: ChatRequest, sampling: Sampling, head: dict[str, Any], fingerprint: str
) -> dict[str, Any]:
    """The whole ``chat.completion`` answer to a request with ``tools``."""
    if body.stream:
        raise OpenAIHTTPError(400, "stream is not supported with tools", param="stream")
    if body.n != 1:
        raise OpenAIHTTPError(400, "n must be 1 with tools", param="n")
    tools = parse_tools(body.tools or [])
    options = _choice_options(body.tool_choice, tools)
    chat = [transcript_message(t) for t in transcript(body.messages)]
    plain = sampling.model_copy(update={"json_schema": None})
    result = choose(model, chat, tools, sampling=plain, **options)
    message: dict[str, Any] = {"role": "assistant", "content": result.raw}
    finish = "stop"
    if result.valid:
        value = result.json_value()
        if value["tool"] == ANSWER:
            message["content"] = str(value["answer"])
        else:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {
                        "name": value["tool"],
                        "arguments": json.dumps(value["arguments"], ensure_ascii=False),
                    },
                }
            ]
            finish = "tool_calls"
    return {
        **head,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
        },
        "system_fingerprint": fingerprint,
    }


__all__ = ["parse_tools", "tool_completion", "transcript"]
