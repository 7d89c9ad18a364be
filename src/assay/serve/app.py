"""``assay serve``: an OpenAI-compatible HTTP API over any assay model.

Every request goes through :class:`assay.models.facade.Model`, so served calls are cached and
appear in ``assay log`` like any other. Endpoints:

    GET  /health                  liveness
    GET  /v1/models               the one served model, with ``context_length`` and ``assay_fingerprint``
    POST /v1/chat/completions     chats (``stream``, ``n``, ``stop``, ``seed``, ``logprobs``);
                                  ``tools`` answer with ``tool_calls`` (serve/tools.py)
    POST /v1/completions          raw text (``echo`` + ``logprobs`` score the prompt; ``max_tokens`` 0)
                                  both take ``response_format`` ``json_schema`` / ``json_object``:
                                  the model decodes under the schema where its backend can
    POST /tokenize                ``{"prompt": text}`` -> ``{"tokens": [...], "count": n}``

Differences from OpenAI's API, on purpose or by necessity:

* One model at a time runs one request at a time (a lock): a local model on one device gains
  nothing from interleaving requests, and this keeps memory bounded.
* ``temperature`` defaults to 1.0 as in OpenAI's API. A sampled request without ``seed`` gets a
  random one, so repeated requests differ (and each stays reproducible in the cache).
* ``top_logprobs`` alternatives are only known for prompt tokens (``echo``); generated tokens
  report their own log-probability with no alternatives. Streams carry no log-probabilities.
* ``echo`` with ``logprobs`` needs a backend that can score prompts (``prompt_logprobs``); the
  others answer 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from functools import partial
from typing import Any

from assay.errors import (
    AssayError,
    ContextLengthError,
    MissingExtraError,
    SamplingError,
    UnsupportedOperationError,
    UserError,
)

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingExtraError(
        "assay serve", exc.name or "fastapi", "pip install fastapi uvicorn"
    ) from exc

from assay.models.facade import Model
from assay.models.types import (
    Generation,
    Message,
    Sampling,
    TokenScore,
    canonical_schema,
    stable_hash,
)
from assay.serve.docs_page import ASSETS_PATH, DOCS_PATH, add_offline_docs
from assay.serve.schemas import (
    ChatMessageIn,
    ChatRequest,
    CompletionRequest,
    OpenAIHTTPError,
    TokenizeRequest,
    from_assay_error,
)

ROLES = {"system", "user", "assistant", "tool", "developer"}
DEFAULT_CHAT_MAX_TOKENS = 256
DEFAULT_COMPLETION_MAX_TOKENS = 16


class ServedModel:
    """The model behind the app, its public name, and the lock that serialises its use."""

    def __init__(self, model: Model, served_name: str | None) -> None:
        self.model = model
        self.name = served_name or model.address
        self.lock = threading.Lock()
        self.created = int(time.time())

    def check_name(self, requested: str | None) -> None:
        if requested and requested not in (self.name, self.model.address):
            raise OpenAIHTTPError(
                404,
                f"The model '{requested}' does not exist; this server serves '{self.name}'",
                code="model_not_found",
                param="model",
            )

    def entry(self) -> dict[str, Any]:
        ctx = self.model.context_length
        return {
            "id": self.name,
            "object": "model",
            "created": self.created,
            "owned_by": "assay",
            "context_length": ctx,
            "max_model_len": ctx,
            "assay_fingerprint": self.model.fingerprint,
            "assay_address": self.model.address,
        }

    def locked(self, fn: Callable[[], Any]) -> Any:
        with self.lock:
            return fn()


# -- request -> assay values ---------------------------------------------------------------------
def _messages(raw: Sequence[ChatMessageIn]) -> list[Message]:
    out = []
    for i, m in enumerate(raw):
        if m.role not in ROLES:
            raise OpenAIHTTPError(
                400, f"messages[{i}].role '{m.role}' is not one of {sorted(ROLES)}"
            )
        content = m.content
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") != "text":
                    raise OpenAIHTTPError(
                        400,
                        f"messages[{i}]: only text content is supported, not '{part.get('type')}'",
                        param="messages",
                    )
                parts.append(str(part.get("text", "")))
            content = "".join(parts)
        role = "system" if m.role == "developer" else m.role
        out.append(Message(role=role, content=content or ""))  # type: ignore[arg-type]
    return out


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


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


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


# -- streaming -----------------------------------------------------------------------------------
async def _pieces(
    served: ServedModel, make: Callable[[], Iterator[str]], after: Callable[[str], Any]
) -> AsyncGenerator[tuple[str, Any], None]:
    """Run a blocking piece iterator in a thread under the model lock; yield its events.

    Events are ``("piece", text)``, then ``("end", after(full_text))`` or ``("error", exc)``.
    Closing this generator (the client went away) stops the producer at its next piece.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def put(event: tuple[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def work() -> None:
        try:
            with served.lock:
                pieces: list[str] = []
                iterator = make()
                try:
                    for piece in iterator:
                        pieces.append(piece)
                        put(("piece", piece))
                        if stop.is_set():
                            break
                finally:
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                result = None if stop.is_set() else after("".join(pieces))
            put(("end", result))
        except Exception as exc:
            put(("error", exc))

    threading.Thread(target=work, name="assay-serve-stream", daemon=True).start()
    try:
        while True:
            event = await queue.get()
            yield event
            if event[0] != "piece":
                return
    finally:
        stop.set()


async def _first(events: AsyncIterator[tuple[str, Any]]) -> tuple[str, Any]:
    """The first event; an error before any output becomes a normal HTTP error response."""
    event = await events.__anext__()
    if event[0] == "error":
        raise event[1]
    return event


def _error_event(exc: BaseException) -> str:
    err = (
        from_assay_error(exc)
        if isinstance(exc, AssayError)
        else OpenAIHTTPError(500, str(exc), type="server_error")
    )
    return _sse(err.body())


# -- the app -------------------------------------------------------------------------------------
def create_app(
    model: Model,
    api_key: str | None = None,
    served_name: str | None = None,
    embedder: str | None = "default",
) -> FastAPI:
    """An OpenAI-compatible FastAPI app over ``model``.

    ``api_key``: when set, every ``/v1`` and ``/tokenize`` request must send
    ``Authorization: Bearer <api_key>``. ``served_name``: the model id clients use (default: the
    model's address). ``embedder``: what answers ``/v1/embeddings`` (``default`` is the bundled
    all-MiniLM-L6-v2, ``st:PATH`` a sentence-transformers folder, None no such endpoint); it is
    loaded on the first request.
    """
    served = ServedModel(model, served_name)
    # Computed once, now: ``Model.fingerprint`` is a cached_property, whose lock (Python 3.11)
    # is shared by every Model; a client in this same process waiting on this server while
    # holding it would otherwise deadlock the first request.
    _ = model.fingerprint
    app = FastAPI(
        title="assay serve",
        description=f"OpenAI-compatible API over {served.name}",
        docs_url=None,  # replaced by a page whose assets are local (serve/docs_page.py)
        redoc_url=None,
    )
    add_offline_docs(app, title=f"assay serve {served.name}")
    app.state.served = served
    app.state.model_id = served.name

    @app.exception_handler(OpenAIHTTPError)
    async def _openai_error(request: Request, exc: OpenAIHTTPError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(AssayError)
    async def _assay_error(request: Request, exc: AssayError) -> JSONResponse:
        err = from_assay_error(exc)
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        err = OpenAIHTTPError(400, message, param=param)
        return JSONResponse(err.body(), status_code=400)

    @app.middleware("http")
    async def _auth(request: Request, call_next: Callable[[Request], Any]) -> Any:
        if api_key is not None and not _is_public(request.url.path):
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                token.strip().encode(), api_key.encode()
            ):
                err = OpenAIHTTPError(
                    401,
                    "Incorrect or missing API key: send 'Authorization: Bearer <key>'",
                    code="invalid_api_key",
                )
                return JSONResponse(err.body(), status_code=401)
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": served.name}

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [served.entry()]}

    @app.get("/v1/models/{model_id:path}")
    def get_model(model_id: str) -> dict[str, Any]:
        served.check_name(model_id)
        return served.entry()

    @app.post("/tokenize")
    def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        served.check_name(body.model)
        text = next((t for t in (body.prompt, body.text, body.content) if t is not None), None)
        if text is None:
            raise OpenAIHTTPError(400, "give the text to tokenize as 'prompt'", param="prompt")
        count, tokens = served.locked(lambda: (model.count_tokens(text), _token_list(model, text)))
        return {"tokens": tokens, "count": count, "max_model_len": model.context_length}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest) -> Any:
        served.check_name(body.model)
        messages = _messages(body.messages)
        max_tokens = next(
            (v for v in (body.max_completion_tokens, body.max_tokens) if v is not None),
            DEFAULT_CHAT_MAX_TOKENS,
        )
        sampling = _sampling(body, max_tokens, logprobs=body.logprobs)
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        head = {"id": rid, "created": created, "model": served.name}
        fp = _system_fingerprint(served)

        if body.tools:
            from assay.serve.tools import tool_completion

            return await run_in_threadpool(
                served.locked, lambda: tool_completion(model, body, sampling, head, fp)
            )
        if body.stream:
            return await _stream_chat(served, messages, sampling, body, head, fp)

        gens = await run_in_threadpool(served.locked, lambda: model.generate([messages], sampling))
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": g.text},
                "finish_reason": g.finish_reason,
                "logprobs": _chat_logprobs(g) if body.logprobs else None,
            }
            for i, g in enumerate(gens)
        ]
        prompt_tokens = gens[0].prompt_tokens if gens else 0
        return {
            **head,
            "object": "chat.completion",
            "choices": choices,
            "usage": _usage(prompt_tokens, sum(g.completion_tokens for g in gens)),
            "system_fingerprint": fp,
        }

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest) -> Any:
        served.check_name(body.model)
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        if not prompts:
            raise OpenAIHTTPError(400, "prompt is empty", param="prompt")
        max_tokens = DEFAULT_COMPLETION_MAX_TOKENS if body.max_tokens is None else body.max_tokens
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        head = {"id": rid, "created": int(time.time()), "model": served.name}
        fp = _system_fingerprint(served)
        want_logprobs = body.logprobs is not None
        sampling = _sampling(body, max_tokens, logprobs=want_logprobs) if max_tokens > 0 else None
        if sampling is None:
            # Validate the other values even though nothing will be generated.
            _sampling(body, 1)

        if (
            body.stream
            and sampling is not None
            and len(prompts) == 1
            and body.n == 1
            and not want_logprobs
        ):
            return await _stream_completion(served, prompts[0], sampling, body, head, fp)

        def work() -> tuple[list[list[TokenScore]] | None, list[Generation]]:
            scores = None
            if body.echo and want_logprobs:
                scores = _score_prompts(model, prompts, body.logprobs or 0)
            gens = model.generate(prompts, sampling) if sampling is not None else []
            return scores, gens

        scores, gens = await run_in_threadpool(served.locked, work)
        choices: list[dict[str, Any]] = []
        prompt_tokens = 0
        completion_tokens = 0
        for pi, prompt in enumerate(prompts):
            samples = [g for g in gens if g.prompt_index == pi] or [None] * body.n
            for g in samples:
                text = (prompt if body.echo else "") + (g.text if g is not None else "")
                choice: dict[str, Any] = {
                    "index": len(choices),
                    "text": text,
                    "finish_reason": g.finish_reason if g is not None else "length",
                    "logprobs": None,
                }
                if want_logprobs:
                    choice["logprobs"] = _completion_logprobs(
                        scores[pi] if scores is not None else None,
                        g,
                        len(prompt) if body.echo else 0,
                    )
                choices.append(choice)
                completion_tokens += g.completion_tokens if g is not None else 0
            if samples[0] is not None:
                prompt_tokens += samples[0].prompt_tokens
            else:
                prompt_tokens += await run_in_threadpool(
                    served.locked, partial(model.count_tokens, prompt)
                )
        if body.stream:
            return StreamingResponse(
                _replay_completion(head, choices, prompt_tokens, completion_tokens, body, fp),
                media_type="text/event-stream",
            )
        return {
            **head,
            "object": "text_completion",
            "choices": choices,
            "usage": _usage(prompt_tokens, completion_tokens),
            "system_fingerprint": fp,
        }

    if embedder:
        from assay.serve.embeddings import add_embeddings_route

        add_embeddings_route(app, embedder)
    return app


def _is_public(path: str) -> bool:
    """Paths open without the API key: liveness and the API's own documentation."""
    return path in ("/health", DOCS_PATH, "/openapi.json") or path.startswith(ASSETS_PATH + "/")


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
    if not model.capabilities.prompt_logprobs:
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
    result: list[list[TokenScore]] = model.backend.prompt_logprobs(prompts, top)  # type: ignore[attr-defined]
    return result


async def _stream_chat(
    served: ServedModel,
    messages: list[Message],
    sampling: Sampling,
    body: ChatRequest,
    head: dict[str, Any],
    fp: str,
) -> Any:
    model = served.model
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk_head = {**head, "object": "chat.completion.chunk", "system_fingerprint": fp}

    def chunk(index: int, delta: dict[str, Any], finish: str | None) -> str:
        return _sse(
            {
                **chunk_head,
                "choices": [
                    {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
                ],
            }
        )

    if body.n > 1 or body.logprobs:
        # Several samples (or log-probabilities): generate, then send each as one chunk.
        gens = await run_in_threadpool(served.locked, lambda: model.generate([messages], sampling))

        async def replay() -> AsyncIterator[str]:
            for i, g in enumerate(gens):
                yield chunk(i, {"role": "assistant", "content": ""}, None)
                yield chunk(i, {"content": g.text}, None)
                yield chunk(i, {}, g.finish_reason)
            if include_usage:
                usage = _usage(gens[0].prompt_tokens, sum(g.completion_tokens for g in gens))
                yield _sse({**chunk_head, "choices": [], "usage": usage})
            yield "data: [DONE]\n\n"

        return StreamingResponse(replay(), media_type="text/event-stream")

    def after(text: str) -> tuple[int, int]:
        return model.count_tokens(model.render_chat(messages)), model.count_tokens(text)

    events = _pieces(served, lambda: model.stream(messages, sampling), after)
    first = await _first(events)

    async def stream() -> AsyncIterator[str]:
        yield chunk(0, {"role": "assistant", "content": ""}, None)
        event = first
        try:
            while event[0] == "piece":
                yield chunk(0, {"content": event[1]}, None)
                event = await events.__anext__()
        finally:
            await events.aclose()
        if event[0] == "error":
            yield _error_event(event[1])
            return
        prompt_tokens, completion_tokens = event[1]
        finish = "length" if completion_tokens >= sampling.max_tokens else "stop"
        yield chunk(0, {}, finish)
        if include_usage:
            yield _sse(
                {**chunk_head, "choices": [], "usage": _usage(prompt_tokens, completion_tokens)}
            )
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def _stream_completion(
    served: ServedModel,
    prompt: str,
    sampling: Sampling,
    body: CompletionRequest,
    head: dict[str, Any],
    fp: str,
) -> Any:
    model = served.model
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk_head = {**head, "object": "text_completion", "system_fingerprint": fp}

    def chunk(text: str, finish: str | None) -> str:
        return _sse(
            {
                **chunk_head,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            }
        )

    def after(text: str) -> tuple[int, int]:
        return model.count_tokens(prompt), model.count_tokens(text)

    events = _pieces(served, lambda: model.stream(prompt, sampling), after)
    first = await _first(events)

    async def stream() -> AsyncIterator[str]:
        if body.echo:
            yield chunk(prompt, None)
        event = first
        try:
            while event[0] == "piece":
                yield chunk(event[1], None)
                event = await events.__anext__()
        finally:
            await events.aclose()
        if event[0] == "error":
            yield _error_event(event[1])
            return
        prompt_tokens, completion_tokens = event[1]
        yield chunk("", "length" if completion_tokens >= sampling.max_tokens else "stop")
        if include_usage:
            yield _sse(
                {**chunk_head, "choices": [], "usage": _usage(prompt_tokens, completion_tokens)}
            )
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def _replay_completion(
    head: dict[str, Any],
    choices: list[dict[str, Any]],
    prompt_tokens: int,
    completion_tokens: int,
    body: CompletionRequest,
    fp: str,
) -> AsyncIterator[str]:
    """A finished completion sent as a stream: one chunk per choice."""
    chunk_head = {**head, "object": "text_completion", "system_fingerprint": fp}
    for choice in choices:
        yield _sse({**chunk_head, "choices": [choice]})
    if body.stream_options and body.stream_options.include_usage:
        yield _sse({**chunk_head, "choices": [], "usage": _usage(prompt_tokens, completion_tokens)})
    yield "data: [DONE]\n\n"


# -- running it ----------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Fail early, before loading a model, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint="pick another port with --port" if exc.errno == errno.EADDRINUSE else None,
            ) from exc


def banner(served_name: str, host: str, port: int, api_key: str | None) -> str:
    """What ``assay serve`` prints on start: the URL and how to use it."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    base = f"http://{shown}:{port}/v1"
    key = "<your --api-key>" if api_key else "not-needed"
    return (
        f"Serving {served_name} at {base} (OpenAI-compatible)\n"
        f"\n"
        f"  from openai import OpenAI\n"
        f'  client = OpenAI(base_url="{base}", api_key="{key}")\n'
        f"  reply = client.chat.completions.create(\n"
        f'      model="{served_name}",\n'
        f'      messages=[{{"role": "user", "content": "Hello!"}}],\n'
        f"  )\n"
        f"  print(reply.choices[0].message.content)\n"
        f"\n"
        f'  # or from assay: assay.load("openai:{served_name}@{base}")\n'
        f"\n"
        f"Press Ctrl+C to stop."
    )


def serve(
    address: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    *,
    served_name: str | None = None,
    log_level: str = "info",
    embedder: str | None = "default",
) -> None:
    """Load the model at ``address`` and serve it until interrupted (blocks)."""
    import uvicorn

    if not is_loopback(host) and not api_key:
        print(
            f"warning: serving on {host} without --api-key: anyone who can reach this machine "
            "can use the model",
            file=sys.stderr,
            flush=True,
        )
    check_port(host, port)
    model = Model.load(address)
    # Clients name the model as the user did (``default``); its resolved address works too.
    name = served_name or address
    app = create_app(model, api_key=api_key, served_name=name, embedder=embedder)
    print(banner(app.state.model_id, host, port, api_key), flush=True)
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level=log_level)


__all__ = ["ServedModel", "banner", "create_app", "is_loopback", "serve"]
