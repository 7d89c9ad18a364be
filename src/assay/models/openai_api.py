"""``openai:MODEL[@BASE_URL]``: any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp
server, ``assay serve``) through the official ``openai`` SDK.

Where the server is:
    ``openai:MODEL@http://host:port/v1`` > ``openai.base_url`` in the settings (or the
    ``OPENAI_BASE_URL`` environment variable) > the official OpenAI endpoint. A URL given without
    a path gets ``/v1`` appended.

The key:
    read from the environment variable named by ``openai.api_key_env`` (``OPENAI_API_KEY``).
    The official endpoint needs one; local servers usually do not, so a placeholder is sent.

Requests:
    String prompts go to ``/v1/completions``, chats to ``/v1/chat/completions``. The SDK's own
    retries are off: each HTTP request is wrapped in :func:`assay.models.retry.with_retries`
    (429 honouring ``Retry-After``, 5xx and timeouts are retried with backoff), and a batch is
    sent over a thread pool of ``openai.max_concurrency`` requests. A request that still fails
    after its retries (or past ``openai.retry_budget_s``) raises
    :class:`~assay.errors.BackendError` (not transient), so the facade does not retry the whole
    batch on top. A refused connection is not retried: the server is not running, and waiting
    would only delay saying so.

Images:
    a turn with images is sent as content parts (its text, then one ``image_url`` part per
    image: a base64 ``data:`` URL and the image's ``detail``; see
    :mod:`assay.models.openai_messages`). Whether the served model reads images only the server
    knows; a server that refuses them answers 400, reported as its message. Where the usage
    reports ``prompt_tokens_details.image_tokens``, a generation's ``image_tokens`` says so
    (they are already in ``prompt_tokens``, and priced with them).

Timeouts:
    opening a connection, and the quick requests (``GET /models``, ``POST /tokenize``), wait
    ``openai.connect_timeout_s``; generation and scoring wait ``openai.timeout_s`` for the
    answer (when streaming, for each next piece), so a long generation is not cut short. A
    request that gets no answer at all (a timeout, a dropped connection) counts towards a
    circuit breaker (:class:`assay.models.retry.CircuitBreaker`): a server that has never
    answered fails at the first, one that stops answering after two in a row, and then every
    request fails at once with one line, instead of after each retry of each request.

Log-likelihood:
    scored through ``/v1/completions`` with ``echo=True, logprobs=1, max_tokens=0`` (or
    ``max_tokens=1`` where 0 is rejected, ignoring the generated token): the server returns the
    prompt's tokens with their log-probabilities and character offsets, and the continuation's
    tokens are those starting at or after the end of the context (after moving the context's
    trailing whitespace into the continuation, as lm-evaluation-harness does). A continuation
    token is greedy when it equals the top-1 alternative the server reports. Chat-only servers
    cannot do this and raise :class:`~assay.errors.UnsupportedOperationError`.

    The text is tokenised once, as a whole, by the server. Local backends tokenise context and
    continuation the same way, so results agree when the continuation starts on a token
    boundary (for instance with a space).

    ``loglikelihood_rolling`` sends each whole text in one request and sums every token's
    log-probability except the first (which has nothing before it to be predicted from). Local
    backends instead score the text in context-sized windows and predict the first token from a
    beginning-of-text token, so remote totals have one token less and the text must fit the
    server's context.

Structured output:
    a request whose sampling has a ``json_schema`` is sent (streamed or not) with
    ``response_format={"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``
    (OpenAI, vLLM, llama.cpp server and ``assay serve`` decode under it), and its generation is
    marked ``constrained``. A server that refuses it (HTTP 4xx naming ``response_format`` or
    ``json_schema``) is asked again without it, and that schema is not offered to it again;
    :mod:`assay.prompting.structured` validates the text either way and re-asks when it is not
    valid. A server that accepts the field but ignores it cannot be told apart here; validation
    catches what it gets wrong.

Token counts:
    ``POST /tokenize`` on the server root (vLLM, llama.cpp server and ``assay serve`` have one);
    where it is missing, an approximation of one token per four characters is used.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import openai

from assay.errors import (
    AssayError,
    BackendError,
    ContextLengthError,
    MissingAPIKeyError,
    ModelNotFoundError,
    NoAnswerError,
    SamplingError,
    ServerUnreachableError,
    TransientBackendError,
    UnsupportedOperationError,
    UserError,
)
from assay.models.capabilities import Capabilities
from assay.models.openai_messages import api_messages, image_tokens
from assay.models.protocol import OnFinished, render_plain_chat
from assay.models.retry import CircuitBreaker, RetryPolicy, with_retries
from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Message,
    ModelInfo,
    RollingLoglikelihood,
    TokenLogprob,
    TokenScore,
)

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionChunk

    from assay.config import OpenAISettings
    from assay.models.registry import BackendContext

T = TypeVar("T")

OFFICIAL_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_API_KEY = "no-key"
"""Sent to servers other than OpenAI when no key is set: the SDK requires some key."""
CHARS_PER_TOKEN = 4
"""The token-count approximation where the server has no ``/tokenize``."""
CONTEXT_LENGTH_FIELDS = ("context_length", "max_model_len", "context_window", "max_context_length")
SAMPLING_PARAMS = {
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "stop",
}


def split_name(name: str) -> tuple[str, str | None]:
    """``MODEL@URL`` -> (MODEL, URL); ``MODEL`` -> (MODEL, None)."""
    model, sep, url = name.partition("@")
    if not sep:
        return model, None
    if not model or not url:
        raise ModelNotFoundError(
            f"'openai:{name}' is not MODEL@BASE_URL",
            hint="e.g. openai:my-model@http://127.0.0.1:8000/v1",
        )
    return model, url


def normalise_base_url(url: str) -> str:
    """Add a scheme where missing, ``/v1`` where there is no path, and drop a trailing slash."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def is_official(base_url: str) -> bool:
    return urlsplit(base_url).hostname == urlsplit(OFFICIAL_BASE_URL).hostname


def server_root(base_url: str) -> str:
    """The server's root URL, where non-OpenAI endpoints such as ``/tokenize`` live."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if "detail" in body:
            return str(body["detail"])
    return exc.message


def _error_field(exc: openai.APIStatusError, field: str) -> str | None:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get(field) is not None:
            return str(inner[field])
    value = getattr(exc, field, None)
    return None if value is None else str(value)


_CONTEXT_PATTERNS = (
    # OpenAI, vLLM and assay serve: "maximum context length is 2048 tokens. However, you requested 3000 tokens"
    re.compile(r"maximum context length is (?P<limit>\d+) tokens.*?(?P<n>\d+) tokens", re.S),
    # assay's own message: "prompt is 3000 tokens, 952 more than the model's context of 2048"
    re.compile(r"is (?P<n>\d+) tokens.*?context of (?P<limit>\d+)", re.S),
)


def _context_error(message: str, code: str | None) -> ContextLengthError | None:
    for pattern in _CONTEXT_PATTERNS:
        found = pattern.search(message)
        if found:
            return ContextLengthError(int(found["n"]), int(found["limit"]))
    if code == "context_length_exceeded":
        # The server did not say by how much: keep its words.
        err = ContextLengthError(0, 0)
        err.message = message
        err.args = (message,)
        return err
    return None


def _in_chain(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` or one of its causes is of a class named one of ``names``."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if type(seen).__name__ in names:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_refused(exc: BaseException) -> bool:
    """Whether a connection error means nothing answered (refused, unknown host)."""
    return _in_chain(exc, "ConnectionRefusedError", "ConnectError")


class OpenAIBackend:
    provider = "openai"

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str,
        settings: OpenAISettings,
        *,
        api_key_env: str = "OPENAI_API_KEY",
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.name = f"{model}@{base_url}"
        self.api_key_env = api_key_env
        self.max_concurrency = max(1, settings.max_concurrency)
        self.policy = RetryPolicy(
            max_retries=settings.max_retries,
            budget_s=settings.retry_budget_s,
            base_delay_s=settings.retry_base_delay_s,
        )
        self.timeout_s = settings.timeout_s
        self.connect_timeout_s = settings.connect_timeout_s
        self.quick_timeout = openai.Timeout(settings.connect_timeout_s)
        """For requests a live server answers at once (``/models``, ``/tokenize``)."""
        self.breaker = CircuitBreaker(
            base_url,
            threshold=settings.breaker_threshold,
            hint="is the server up, and not stuck or overloaded? check its log; a slow server "
            "needs larger openai.connect_timeout_s / openai.timeout_s in the settings",
        )
        self.client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=openai.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
        )
        self.retries = 0
        """How many requests were retried so far (all threads together)."""
        self._sleep: Callable[[float], None] = time.sleep
        self._lock = threading.Lock()
        self._entry: dict[str, Any] | None = None
        self._entry_loaded = False
        # OpenAI itself has no /tokenize; local servers usually do (learnt on first use).
        self._tokenize_ok: bool | None = False if is_official(base_url) else None
        self._token_counts: dict[str, int] = {}
        self._zero_tokens_ok = True
        self._scoring_error: UnsupportedOperationError | None = None
        self._refused_schemas: set[str] = set()
        """Schemas this server refused as ``response_format``: sent without it from then on."""

    # -- identity ------------------------------------------------------------------------------
    def _model_entry(self) -> dict[str, Any] | None:
        """This model's entry in ``GET /v1/models`` (cached), or None if the server lists none."""
        if self._entry_loaded:
            return self._entry

        def fetch() -> list[dict[str, Any]]:
            return [
                m.model_dump() for m in self.client.models.list(timeout=self.quick_timeout).data
            ]

        try:
            entries = self._retrying(fetch, "/models", self.connect_timeout_s)
        except MissingAPIKeyError:
            raise
        except UserError:
            entries = []  # no /v1/models on this server: nothing to learn from it
        found = next((e for e in entries if e.get("id") == self.model), None)
        with self._lock:
            self._entry, self._entry_loaded = found, True
        return found

    def fingerprint(self) -> str:
        entry = self._model_entry() or {}
        fp = f"openai:{self.base_url}#{entry.get('id', self.model)}"
        if entry.get("assay_fingerprint"):
            fp += f"#{entry['assay_fingerprint']}"
        return fp

    def context_length(self) -> int | None:
        entry = self._model_entry() or {}
        for key in CONTEXT_LENGTH_FIELDS:
            value = entry.get(key)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def info(self) -> ModelInfo:
        entry = self._model_entry() or {}
        return ModelInfo(
            address=f"openai:{self.name}",
            provider="openai",
            name=self.model,
            fingerprint=self.fingerprint(),
            context_length=self.context_length(),
            chat_template=True,
            supports_loglikelihood=self.capabilities.loglikelihood,
            details={
                "base_url": self.base_url,
                "owned_by": entry.get("owned_by"),
                "listed": bool(entry),
                "max_concurrency": self.max_concurrency,
                "tokenize_endpoint": self._tokenize_ok,
                "chat_template_applied_by": "the server",
            },
        )

    # -- text ----------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens by the server's ``POST /tokenize``; ``ceil(len/4)`` where there is none."""
        if not text:
            return 0
        cached = self._token_counts.get(text)
        if cached is not None:
            return cached
        if self._tokenize_ok is not False:
            count = self._tokenize(text)
            if count is not None:
                if len(self._token_counts) > 4096:
                    self._token_counts.clear()
                self._token_counts[text] = count
                return count
        return self._approx_tokens(text)

    @staticmethod
    def _approx_tokens(text: str) -> int:
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def _tokenize(self, text: str) -> int | None:
        url = server_root(self.base_url) + "/tokenize"
        # vLLM reads "prompt", llama.cpp server "content"; assay serve takes either.
        body = {"model": self.model, "prompt": text, "content": text, "add_special_tokens": False}

        def call() -> Any:
            return self.client.post(
                url, cast_to=object, body=body, options={"timeout": self.quick_timeout}
            )

        try:
            data = self._retrying(call, "/tokenize", self.connect_timeout_s)
        except (UserError, BackendError) as exc:
            if isinstance(exc, ServerUnreachableError | MissingAPIKeyError):
                raise
            self._tokenize_ok = False
            return None
        count = data.get("count") if isinstance(data, dict) else None
        if count is None and isinstance(data, dict) and isinstance(data.get("tokens"), list):
            count = len(data["tokens"])
        if not isinstance(count, int):
            self._tokenize_ok = False
            return None
        self._tokenize_ok = True
        return count

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The plain format: the server applies the model's own chat template, unseen here."""
        return render_plain_chat(messages, add_generation_prompt)

    # -- generation ----------------------------------------------------------------------------
    def _params(
        self, request: GenerateRequest, fmt: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        s = request.sampling
        params: dict[str, Any] = {
            "model": self.model,
            "temperature": s.temperature,
            "top_p": s.top_p,
        }
        if request.is_chat and is_official(self.base_url):
            params["max_completion_tokens"] = s.max_tokens
        else:
            params["max_tokens"] = s.max_tokens
        if s.seed is not None:
            params["seed"] = s.seed
        if s.stop:
            params["stop"] = list(s.stop)
        if fmt is not None and isinstance(request.prompt, str):
            # Not a field of the client's completions call; servers read it from the body.
            params["extra_body"] = {"response_format": fmt}
        elif fmt is not None:
            params["response_format"] = fmt
        return params

    def _format(self, request: GenerateRequest) -> dict[str, Any] | None:
        """``response_format`` for the request's schema, unless this server refused it."""
        schema = request.sampling.json_schema
        if schema is None or schema in self._refused_schemas:
            return None
        return response_format(schema)

    def _refused(self, request: GenerateRequest, exc: UserError) -> bool:
        """Whether ``exc`` is the server refusing ``response_format`` (then remembered)."""
        lowered = exc.message.lower()
        if "response_format" not in lowered and "json_schema" not in lowered:
            return False
        with self._lock:
            self._refused_schemas.add(request.sampling.json_schema or "")
        return True

    def _generate_one(self, request: GenerateRequest) -> Generation:
        fmt = self._format(request)
        if fmt is None:
            return self._send(request, None)
        try:
            return self._send(request, fmt)
        except UserError as exc:
            if not self._refused(request, exc):
                raise
            return self._send(request, None)

    def _send(self, request: GenerateRequest, fmt: dict[str, Any] | None) -> Generation:
        start = time.perf_counter()
        params = self._params(request, fmt)
        logprobs: list[TokenLogprob] | None = None
        if isinstance(request.prompt, str):
            prompt = request.prompt
            if request.sampling.logprobs:
                params["logprobs"] = 1
            completion = self._retrying(
                lambda: self.client.completions.create(prompt=prompt, **params), "/completions"
            )
            choice = completion.choices[0]
            text, finish, usage, prompt_text = (
                choice.text,
                choice.finish_reason,
                completion.usage,
                prompt,
            )
            lp = choice.logprobs
            if lp is not None and lp.tokens is not None and lp.token_logprobs is not None:
                logprobs = [
                    TokenLogprob(token=t, logprob=v)
                    for t, v in zip(lp.tokens, lp.token_logprobs, strict=False)
                    if v is not None
                ]
        else:
            messages = api_messages(request.prompt)
            if request.sampling.logprobs:
                params["logprobs"] = True
            chat = self._retrying(
                lambda: self.client.chat.completions.create(messages=messages, **params),  # type: ignore[arg-type]
                "/chat/completions",
            )
            chat_choice = chat.choices[0]
            text = chat_choice.message.content or ""
            finish, usage = chat_choice.finish_reason, chat.usage
            prompt_text = render_plain_chat(request.prompt)
            if chat_choice.logprobs is not None and chat_choice.logprobs.content is not None:
                logprobs = [
                    TokenLogprob(token=c.token, logprob=c.logprob)
                    for c in chat_choice.logprobs.content
                ]
        return Generation(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else self._approx_tokens(prompt_text),
            completion_tokens=usage.completion_tokens if usage else self._approx_tokens(text),
            finish_reason="length" if finish == "length" else "stop",
            logprobs=logprobs,
            constrained=fmt is not None,
            image_tokens=image_tokens(usage) if request.images else 0,
            latency_s=time.perf_counter() - start,
        )

    @property
    def capabilities(self) -> Capabilities:
        """Log-likelihood until the server has refused to echo prompt log-probabilities."""
        return Capabilities(
            loglikelihood=self._scoring_error is None,
            prompt_logprobs=True,
            tools=True,
            # Whether the served model reads images only the server knows: it refuses if not.
            images=True,
            reports_finished=True,
        )

    def generate(
        self,
        requests: Sequence[GenerateRequest],
        on_finished: OnFinished | None = None,
    ) -> list[Generation]:
        return self._map(self._generate_one, requests, on_finished)

    def stream(self, request: GenerateRequest) -> Iterator[str]:
        fmt = self._format(request)
        try:
            # A refusal comes when the stream opens, before any text.
            pieces = self._open_stream(request, fmt)
        except UserError as exc:
            if fmt is None or not self._refused(request, exc):
                raise
            pieces = self._open_stream(request, None)
        yield from pieces

    def _open_stream(self, request: GenerateRequest, fmt: dict[str, Any] | None) -> Iterator[str]:
        """Send the streaming request now (errors raise here); iterate the result for text."""
        params = self._params(request, fmt)
        if isinstance(request.prompt, str):
            prompt = request.prompt
            completions = self._retrying(
                lambda: self.client.completions.create(prompt=prompt, stream=True, **params),
                "/completions",
            )
            return self._texts(
                completions, "/completions", lambda c: c.choices[0].text if c.choices else None
            )
        messages = api_messages(request.prompt)
        chunks = cast(
            "openai.Stream[ChatCompletionChunk]",
            self._retrying(
                lambda: self.client.chat.completions.create(
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    **params,
                ),
                "/chat/completions",
            ),
        )
        return self._texts(
            chunks, "/chat/completions", lambda c: c.choices[0].delta.content if c.choices else None
        )

    def _texts(self, stream: Any, path: str, text_of: Callable[[Any], str | None]) -> Iterator[str]:
        try:
            for chunk in stream:
                text = text_of(chunk)
                if text:
                    yield text
        except openai.APIError as exc:
            raise self._map_error(exc, path) from exc
        finally:
            stream.close()

    # -- scoring -------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return self._map(self._loglikelihood_one, requests)

    def _loglikelihood_one(self, request: LoglikelihoodRequest) -> Loglikelihood:
        context, continuation = request.context, request.continuation
        # lm-evaluation-harness: the context's trailing whitespace belongs to the continuation.
        stripped = context.rstrip()
        continuation = context[len(stripped) :] + continuation
        context = stripped
        if not context:
            raise UnsupportedOperationError(
                "log-likelihood with an empty context cannot be scored over the OpenAI API: "
                "the first token has nothing before it",
                hint="give a context, even a short one",
            )
        text = context + continuation
        tokens = self._prompt_tokens(text)
        boundary = len(context)
        chosen = [t for t in tokens if t[3] >= boundary]
        if not chosen and continuation:
            # The continuation lies inside the last token: score that token.
            chosen = tokens[-1:]
        logprob = 0.0
        greedy = True
        for token, value, top, _ in chosen:
            if value is None:
                raise UnsupportedOperationError(
                    f"{self.model} at {self.base_url} returned no log-probability for '{token}'"
                )
            logprob += value
            best = max(top, key=lambda k: top[k]) if top else None
            greedy = greedy and best == token
        return Loglikelihood(
            logprob=logprob,
            is_greedy=greedy,
            n_tokens=len(chosen),
            context_tokens=len(tokens) - len(chosen),
        )

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingLoglikelihood]:
        def one(text: str) -> RollingLoglikelihood:
            if not text:
                return RollingLoglikelihood(logprob=0.0, n_tokens=0)
            scored = [v for _, v, _, _ in self._prompt_tokens(text) if v is not None]
            return RollingLoglikelihood(logprob=float(sum(scored)), n_tokens=len(scored))

        return self._map(one, texts)

    def prompt_logprobs(self, texts: Sequence[str], top: int = 1) -> list[list[TokenScore]]:
        """Each text's tokens as the server echoes them, with their log-probabilities (the first
        has none) and the ``top`` alternatives the server reports (OpenAI allows at most 5)."""

        def one(text: str) -> list[TokenScore]:
            if not text:
                return []
            return [
                TokenScore(token=token, offset=offset, logprob=value, top=alternatives)
                for token, value, alternatives, offset in self._prompt_tokens(text, top)
            ]

        return self._map(one, texts)

    def _unsupported(self, what: str) -> UnsupportedOperationError:
        err = UnsupportedOperationError(
            f"log-likelihood needs a completions endpoint with echo and logprobs; "
            f"{self.model} at {self.base_url} {what}",
            hint="serve the model with vLLM or `assay serve`, or load it locally (hf:, gguf:)",
        )
        self._scoring_error = err
        return err

    def _prompt_tokens(
        self, text: str, n_top: int = 1
    ) -> list[tuple[str, float | None, dict[str, float], int]]:
        """The prompt's tokens as (text, logprob, ``n_top`` alternatives, character offset)."""
        if self._scoring_error is not None:
            raise self._scoring_error

        def call(max_tokens: int) -> Any:
            return self.client.completions.create(
                model=self.model,
                prompt=text,
                echo=True,
                logprobs=max(1, n_top),
                max_tokens=max_tokens,
                temperature=0.0,
            )

        def attempt() -> Any:
            try:
                return call(0 if self._zero_tokens_ok else 1)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                mapped = self._map_error(exc, "/completions")
                if isinstance(mapped, ContextLengthError):
                    raise mapped from exc
                if not self._zero_tokens_ok:
                    raise self._unsupported(f"does not score prompts ({_error_text(exc)})") from exc
            except openai.NotFoundError as exc:
                mapped = self._map_error(exc, "/completions")
                if isinstance(mapped, ModelNotFoundError):
                    raise mapped from exc
                raise self._unsupported("is chat-only (no /v1/completions)") from exc
            # max_tokens=0 was rejected: ask for one token and ignore it.
            self._zero_tokens_ok = False
            try:
                return call(1)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                raise self._unsupported(f"does not score prompts ({_error_text(exc)})") from exc

        completion = self._retrying(attempt, "/completions")
        choice = completion.choices[0] if completion.choices else None
        lp = choice.logprobs if choice is not None else None
        if (
            choice is None
            or lp is None
            or lp.tokens is None
            or lp.token_logprobs is None
            or lp.text_offset is None
            or not choice.text.startswith(text)
        ):
            raise self._unsupported("is chat-only (it did not echo the prompt with logprobs)")
        tops = lp.top_logprobs or [None] * len(lp.tokens)
        out = []
        for token, value, top, offset in zip(
            lp.tokens, lp.token_logprobs, tops, lp.text_offset, strict=False
        ):
            if offset >= len(text):
                break  # a generated token (the max_tokens=1 fallback), not part of the prompt
            out.append((token, value, dict(top or {}), offset))
        if not out:
            raise self._unsupported("returned no prompt tokens")
        return out

    # -- HTTP plumbing -------------------------------------------------------------------------
    def _map(
        self,
        fn: Callable[[Any], T],
        items: Sequence[Any],
        on_done: Callable[[int, T], None] | None = None,
    ) -> list[T]:
        """Run ``fn`` over a batch with at most ``max_concurrency`` requests in flight;
        ``on_done(index, result)`` is called (in this thread) as each result arrives."""
        report = on_done or (lambda k, out: None)
        if len(items) <= 1 or self.max_concurrency == 1:
            results = []
            for k, item in enumerate(items):
                results.append(fn(item))
                report(k, results[-1])
            return results
        found: dict[int, T] = {}
        error: Exception | None = None
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items)))
        try:
            futures = {pool.submit(fn, item): k for k, item in enumerate(items)}
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                try:
                    found[futures[future]] = out = future.result()
                except Exception as exc:
                    # Requests not sent yet are dropped; those in flight are still kept.
                    error = error or exc
                    for other in futures:
                        other.cancel()
                    continue
                report(futures[future], out)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # all done, unless interrupted
        if error is not None:
            raise error
        return [found[k] for k in range(len(items))]

    def _retrying(self, fn: Callable[[], T], endpoint: str, timeout_s: float | None = None) -> T:
        """One HTTP request with retries; SDK errors become assay errors. ``timeout_s`` is the
        request's own timeout where it is not ``openai.timeout_s`` (for the messages)."""

        def attempt() -> T:
            try:
                result = fn()
            except openai.APIError as exc:
                raise self._map_error(exc, endpoint, timeout_s) from exc
            except json.JSONDecodeError as exc:
                # A proxy or an overloaded server can answer 200 with half a body: try again.
                raise TransientBackendError(
                    f"{self.base_url}{endpoint} answered with malformed JSON ({exc.msg})"
                ) from exc
            if isinstance(result, str):
                # The SDK hands back the raw text when the answer is not JSON (e.g. an HTML page
                # from a gateway): not an answer to this request.
                raise TransientBackendError(
                    f"{self.base_url}{endpoint} answered with something other than JSON: "
                    f"{result[:80]!r}"
                )
            return result

        def sleep(seconds: float) -> None:
            with self._lock:
                self.retries += 1
            self._sleep(seconds)

        def give_up(exc: TransientBackendError, how: str) -> BackendError:
            # Not transient: the facade would otherwise retry the whole batch again.
            return BackendError(f"{exc.message} ({how})")

        return with_retries(attempt, self.policy, sleep, breaker=self.breaker, give_up=give_up)

    def _map_error(
        self, exc: openai.APIError, endpoint: str, timeout_s: float | None = None
    ) -> AssayError:
        where = f"{self.base_url}{endpoint}"
        if isinstance(exc, openai.APITimeoutError):
            if _in_chain(exc, "ConnectTimeout"):
                return NoAnswerError(
                    f"could not connect to {self.base_url} within {self.connect_timeout_s:g}s"
                )
            waited = timeout_s if timeout_s is not None else self.timeout_s
            return NoAnswerError(f"{where} did not answer within {waited:g}s")
        if isinstance(exc, openai.APIConnectionError):
            if _is_refused(exc):
                return ServerUnreachableError(
                    f"cannot connect to {self.base_url}",
                    hint="is the server running? check the URL and port "
                    "(openai:MODEL@URL, or openai.base_url in the settings)",
                )
            if _in_chain(exc, "RemoteProtocolError", "IncompleteRead"):
                # The server began to answer and broke off: alive, so not a silence.
                return TransientBackendError(f"{where} broke off its answer: {exc.message}")
            return NoAnswerError(f"connection to {where} failed: {exc.message}")
        if not isinstance(exc, openai.APIStatusError):
            return BackendError(f"{where}: {exc.message}")
        status = exc.status_code
        text = _error_text(exc)
        code = _error_field(exc, "code")
        param = _error_field(exc, "param")
        if status == 429 or status == 408 or status >= 500:
            return TransientBackendError(
                f"{where} answered HTTP {status}: {text}",
                retry_after=parse_retry_after(exc.response.headers),
            )
        if status in (401, 403):
            return MissingAPIKeyError(
                f"{self.base_url} rejected the API key (HTTP {status}: {text})",
                hint=f"set {self.api_key_env} to a key this server accepts",
            )
        if status == 404:
            lowered = text.lower()
            if "chat model" not in lowered and (code == "model_not_found" or "model" in lowered):
                return ModelNotFoundError(
                    f"{self.base_url} does not serve the model '{self.model}': {text}",
                    hint=f"list the served models with GET {self.base_url}/models",
                )
            return UnsupportedOperationError(
                f"{self.base_url} has no {endpoint} endpoint for '{self.model}' (HTTP 404: {text})",
                hint="string prompts need /v1/completions; send a chat instead"
                if endpoint == "/completions"
                else None,
            )
        if status in (400, 413, 422):
            context = _context_error(text, code)
            if context is not None:
                return context
            if param in SAMPLING_PARAMS or code == "invalid_sampling":
                return SamplingError(f"{self.base_url} rejected the sampling settings: {text}")
            return UserError(f"{where} rejected the request (HTTP {status}): {text}")
        return BackendError(f"{where} answered HTTP {status}: {text}")


def response_format(schema: str) -> dict[str, Any]:
    """OpenAI's ``response_format`` for a JSON Schema (compact JSON text)."""
    parsed = json.loads(schema)
    title = parsed.get("title") if isinstance(parsed, dict) else None
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(title or "")).strip("_")[:64] or "answer"
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": parsed, "strict": True},
    }


def load(name: str, ctx: BackendContext) -> OpenAIBackend:
    settings = ctx.settings.openai
    model, url = split_name(name)
    base_url = normalise_base_url(url or settings.base_url or OFFICIAL_BASE_URL)
    env = settings.api_key_env
    key = os.environ.get(env, "").strip()
    if not key:
        if is_official(base_url):
            raise MissingAPIKeyError(
                f"no API key for {base_url}: the environment variable {env} is not set",
                hint=f"export {env}=sk-...; for a local server use openai:{model}@http://HOST:PORT/v1",
            )
        key = PLACEHOLDER_API_KEY
    return OpenAIBackend(model, base_url, key, settings, api_key_env=env)


__all__ = [
    "OFFICIAL_BASE_URL",
    "OpenAIBackend",
    "load",
    "normalise_base_url",
    "parse_retry_after",
    "response_format",
    "split_name",
]
