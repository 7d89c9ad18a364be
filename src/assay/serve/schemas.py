"""Request bodies of the OpenAI-compatible API, and its JSON error format.

Unknown fields are accepted and ignored (clients send many optional OpenAI parameters), so a
request only fails for values assay cannot honour.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from assay.errors import (
    AssayError,
    BackendError,
    ContextLengthError,
    ModelNotFoundError,
    SamplingError,
    ServerUnreachableError,
    TransientBackendError,
    UnsupportedOperationError,
    UserError,
)
from assay.unicode_input import lone_surrogate_path

MAX_N = 128
MAX_LOGPROBS = 20


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        # JSON may escape an unpaired surrogate ("\ud800"), which no tokenizer can encode.
        where = lone_surrogate_path(data)
        if where is not None:
            raise PydanticCustomError(
                "unicode", "{where}: an unpaired surrogate is not valid Unicode", {"where": where}
            )
        return data


class StreamOptions(_Body):
    include_usage: bool = False


class ChatMessageIn(_Body):
    role: str
    content: str | list[dict[str, Any]] | None = None


class JsonSchemaFormat(_Body):
    name: str | None = None
    schema_: dict[str, Any] | bool | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Body):
    """OpenAI's ``response_format``: ``text``, ``json_object`` or ``json_schema``."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchemaFormat | None = None


class _Sampled(_Body):
    model: str | None = None
    temperature: float | None = None
    """Omitted means 1.0, as in OpenAI's API; send 0 for greedy decoding."""
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    """``json_schema`` / ``json_object``: the reply is decoded under the schema (local models)."""


class ChatRequest(_Sampled):
    messages: list[ChatMessageIn] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    """Function tools: the model answers with ``tool_calls`` or text (see ``serve/tools.py``)."""
    tool_choice: str | dict[str, Any] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)


class CompletionRequest(_Sampled):
    prompt: str | list[str]
    max_tokens: int | None = Field(None, ge=0)
    """Omitted means 16, as in OpenAI's legacy API; 0 with ``echo`` scores the prompt only."""
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)


class TokenizeRequest(_Body):
    model: str | None = None
    prompt: str | None = None
    text: str | None = None
    content: str | None = None
    """llama.cpp server's name for the text."""


class OpenAIHTTPError(Exception):
    """An error answered in OpenAI's format: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


_SAMPLING_NAMES = ("max_tokens", "temperature", "top_p", "seed", "stop", "n")


def from_assay_error(exc: AssayError) -> OpenAIHTTPError:
    """The HTTP answer for an assay error raised while serving a request."""
    text = str(exc)
    if isinstance(exc, ContextLengthError):
        return OpenAIHTTPError(
            400,
            f"This model's maximum context length is {exc.context_length} tokens. "
            f"However, you requested {exc.n_tokens} tokens. ({text})",
            code="context_length_exceeded",
            param="messages",
        )
    if isinstance(exc, SamplingError):
        param = next((p for p in _SAMPLING_NAMES if exc.message.startswith(p)), None)
        return OpenAIHTTPError(400, text, code="invalid_value", param=param)
    if isinstance(exc, ModelNotFoundError):
        return OpenAIHTTPError(404, text, code="model_not_found", param="model")
    if isinstance(exc, UnsupportedOperationError):
        return OpenAIHTTPError(400, text, code="unsupported")
    if isinstance(exc, UserError):
        return OpenAIHTTPError(400, text)
    if isinstance(exc, TransientBackendError):
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(0, round(exc.retry_after)))
        return OpenAIHTTPError(503, text, type="server_error", headers=headers)
    if isinstance(exc, ServerUnreachableError):
        return OpenAIHTTPError(502, text, type="server_error")
    if isinstance(exc, BackendError):
        return OpenAIHTTPError(500, text, type="server_error")
    return OpenAIHTTPError(500, text, type="server_error")


__all__ = [
    "ChatMessageIn",
    "ChatRequest",
    "CompletionRequest",
    "JsonSchemaFormat",
    "OpenAIHTTPError",
    "ResponseFormat",
    "StreamOptions",
    "TokenizeRequest",
    "from_assay_error",
]
