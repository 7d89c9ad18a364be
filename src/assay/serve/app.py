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

* Plain generation requests that arrive together are decoded together, in one batch
  (``batching.py``); everything else (streams, tools, scoring) runs one request at a time. The
  limits (request size, ``max_tokens``, requests at once: 429 beyond) are ``limits.py``'s.
* ``temperature`` defaults to 1.0 as in OpenAI's API. A sampled request without ``seed`` gets a
  random one, so repeated requests differ (and each stays reproducible in the cache).
* ``top_logprobs`` alternatives are only known for prompt tokens (``echo``); generated tokens
  report their own log-probability with no alternatives. Streams carry no log-probabilities.
* ``echo`` with ``logprobs`` needs a backend that can score prompts (``prompt_logprobs``); the
  others answer 400.

This module builds the app and runs it; the served model is ``served.py``'s, turning requests
into assay values and back ``translate.py``'s, streams ``streaming.py``'s, and the checks before
listening ``listen.py``'s.
"""

from __future__ import annotations

import secrets
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from assay.errors import AssayError, MissingExtraError

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
from assay.models.types import Generation, TokenScore
from assay.serve.batching import Batcher
from assay.serve.docs_page import ASSETS_PATH, DOCS_PATH, add_offline_docs
from assay.serve.limits import ServeLimits, add_limits
from assay.serve.listen import banner, check_port, is_loopback
from assay.serve.schemas import (
    ChatRequest,
    CompletionRequest,
    OpenAIHTTPError,
    TokenizeRequest,
    from_assay_error,
)
from assay.serve.served import ServedModel
from assay.serve.streaming import _replay_completion, _stream_chat, _stream_completion
from assay.serve.translate import (
    DEFAULT_CHAT_MAX_TOKENS,
    DEFAULT_COMPLETION_MAX_TOKENS,
    _chat_logprobs,
    _completion_logprobs,
    _messages,
    _sampling,
    _score_prompts,
    _system_fingerprint,
    _token_list,
    _usage,
)


# -- the app -------------------------------------------------------------------------------------
def create_app(
    model: Model,
    api_key: str | None = None,
    served_name: str | None = None,
    embedder: str | None = "default",
    limits: ServeLimits | None = None,
) -> FastAPI:
    """An OpenAI-compatible FastAPI app over ``model``.

    ``api_key``: when set, every ``/v1`` and ``/tokenize`` request must send
    ``Authorization: Bearer <api_key>``. ``served_name``: the model id clients use (default: the
    model's address). ``embedder``: what answers ``/v1/embeddings`` (``default`` is the bundled
    all-MiniLM-L6-v2, ``st:PATH`` a sentence-transformers folder, None no such endpoint); it is
    loaded on the first request. ``limits``: see :class:`ServeLimits` (its defaults when None).
    """
    limits = limits or ServeLimits()
    served = ServedModel(model, served_name)
    batcher = Batcher(served, limits.max_batch, limits.batch_wait_s)
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
    app.state.batcher = batcher
    app.state.limits = limits
    app.router.on_shutdown.append(batcher.close)
    add_limits(app, limits)  # inside the key check: a request without the key holds no slot

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
            limits.default_max_tokens(DEFAULT_CHAT_MAX_TOKENS),
        )
        limits.check_max_tokens(
            max_tokens, "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
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

        gens = await batcher.generate(messages, sampling)
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
            "usage": _usage(
                prompt_tokens,
                sum(g.completion_tokens for g in gens),
                gens[0].image_tokens if gens else 0,
            ),
            "system_fingerprint": fp,
        }

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest) -> Any:
        served.check_name(body.model)
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        if not prompts:
            raise OpenAIHTTPError(400, "prompt is empty", param="prompt")
        max_tokens = (
            limits.default_max_tokens(DEFAULT_COMPLETION_MAX_TOKENS)
            if body.max_tokens is None
            else body.max_tokens
        )
        limits.check_max_tokens(max_tokens)
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

        if sampling is not None and len(prompts) == 1 and not (body.echo and want_logprobs):
            scores, gens = None, await batcher.generate(prompts[0], sampling)
        else:
            scores, gens = await run_in_threadpool(served.locked, work)
        choices: list[dict[str, Any]] = []
        prompt_tokens = 0
        completion_tokens = 0
        for pi, prompt in enumerate(prompts):
            samples: list[Generation | None] = [g for g in gens if g.prompt_index == pi] or [
                None
            ] * body.n
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


def serve(
    address: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    *,
    served_name: str | None = None,
    log_level: str = "info",
    embedder: str | None = "default",
    limits: ServeLimits | None = None,
    shutdown_timeout_s: float = 30.0,
) -> None:
    """Load the model at ``address`` and serve it until interrupted (blocks).

    Ctrl-C or SIGTERM shuts down gracefully: no new connections, the requests in progress are
    answered (for up to ``shutdown_timeout_s``), then the process exits."""
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
    app = create_app(model, api_key=api_key, served_name=name, embedder=embedder, limits=limits)

    def farewell() -> None:
        print("assay serve: stopped", flush=True)

    app.router.on_shutdown.append(farewell)
    print(banner(app.state.model_id, host, port, api_key), flush=True)
    uvicorn.run(
        app,
        host=host.strip("[]"),
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=int(shutdown_timeout_s),
    )


__all__ = ["ServeLimits", "ServedModel", "banner", "create_app", "is_loopback", "serve"]
