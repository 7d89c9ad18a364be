"""The ``openai:`` backend, against real HTTP servers: ``assay serve`` over the fake backend,
wrapped in small ASGI layers (defined here, not in the product) that fail, delay or refuse."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from fastapi import FastAPI

import assay
from assay.config import load_settings
from assay.errors import (
    BackendError,
    MissingAPIKeyError,
    ModelNotFoundError,
    ServerUnreachableError,
    UnsupportedOperationError,
)
from assay.models.facade import Model
from assay.models.fake import scripted
from assay.models.openai_api import (
    OFFICIAL_BASE_URL,
    OpenAIBackend,
    normalise_base_url,
    parse_retry_after,
    split_name,
)
from assay.models.types import Message
from assay.serve.app import create_app
from assay.serve.background import BackgroundServer

ASGIApp = Callable[..., Any]


def remote(server: BackgroundServer, **openai_settings: Any) -> Model:
    settings = load_settings(overrides={f"openai.{k}": v for k, v in openai_settings.items()})
    return assay.load(f"openai:{server.model_id}@{server.base_url}", settings=settings)


def backend(model: Model) -> OpenAIBackend:
    assert isinstance(model.backend, OpenAIBackend)
    return model.backend


async def _json_error(send: Callable[..., Any], status: int, headers: dict[str, str]) -> None:
    body = json.dumps(
        {"error": {"message": f"scripted HTTP {status}", "type": "server_error", "code": None}}
    ).encode()
    raw_headers = [(b"content-type", b"application/json")]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class FailFirst:
    """Answer the first requests to ``path`` with scripted errors, then pass through."""

    def __init__(self, app: ASGIApp, failures: list[tuple[int, dict[str, str]]], path: str) -> None:
        self.app, self.failures, self.path = app, list(failures), path
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            self.requests += 1
            if self.failures:
                status, headers = self.failures.pop(0)
                await _json_error(send, status, headers)
                return
        await self.app(scope, receive, send)


class CountInFlight:
    """Hold each request to ``path`` a little and record the most that were in flight at once."""

    def __init__(self, app: ASGIApp, path: str, hold_s: float = 0.15) -> None:
        self.app, self.path, self.hold_s = app, path, hold_s
        self.now = self.most = self.total = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        self.now += 1
        self.total += 1
        self.most = max(self.most, self.now)
        done = False

        async def send_counted(message: dict[str, Any]) -> None:
            # Out of flight before the last byte leaves: the client may send its next request
            # the moment it has this answer, before this coroutine resumes.
            nonlocal done
            last = message["type"] == "http.response.body" and not message.get("more_body")
            if last and not done:
                done = True
                self.now -= 1
            await send(message)

        try:
            await asyncio.sleep(self.hold_s)
            await self.app(scope, receive, send_counted)
        finally:
            if not done:
                self.now -= 1


class RejectZeroMaxTokens:
    """Like servers that refuse ``max_tokens: 0``: a 400 for it, everything else passes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.rejected = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/completions":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if json.loads(body).get("max_tokens") == 0:
            self.rejected += 1
            await _json_error(send, 400, {})
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def chat_only_app(completions: str = "missing") -> FastAPI:
    """A server with chat completions only: ``/v1/completions`` is absent, or ignores echo."""
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "chatty", "object": "model", "owned_by": "x"}]}

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "chatty",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hello there"},
                    "finish_reason": "stop",
                }
            ],
        }

    if completions == "no-echo":

        @app.post("/v1/completions")
        def completions_without_echo(body: dict[str, Any]) -> dict[str, Any]:
            return {
                "id": "c2",
                "object": "text_completion",
                "created": 0,
                "model": "chatty",
                "choices": [
                    {"index": 0, "text": " x", "finish_reason": "length", "logprobs": None}
                ],
            }

    return app


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- addressing and keys (no network) -----------------------------------------------------------
def test_name_and_url_parsing() -> None:
    assert split_name("gpt-4o-mini") == ("gpt-4o-mini", None)
    assert split_name("fake:@http://127.0.0.1:8000/v1") == ("fake:", "http://127.0.0.1:8000/v1")
    assert normalise_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalise_base_url("localhost:11434/v1/") == "http://localhost:11434/v1"
    assert normalise_base_url("https://example.org/openai/v1") == "https://example.org/openai/v1"


def test_base_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(env={"OPENAI_BASE_URL": "http://10.0.0.1:9000/v1"})
    assert backend(assay.load("openai:m", settings=settings)).base_url == "http://10.0.0.1:9000/v1"
    explicit = assay.load("openai:m@http://10.0.0.2:9000/v1", settings=settings)
    assert backend(explicit).base_url == "http://10.0.0.2:9000/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert backend(assay.load("openai:gpt-4o-mini")).base_url == OFFICIAL_BASE_URL


def test_missing_key_for_the_official_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingAPIKeyError) as info:
        assay.load("openai:gpt-4o-mini")
    assert "OPENAI_API_KEY" in str(info.value)
    settings = load_settings(overrides={"openai.api_key_env": "MY_LAB_KEY"})
    with pytest.raises(MissingAPIKeyError, match="MY_LAB_KEY"):
        assay.load("openai:gpt-4o-mini", settings=settings)
    monkeypatch.setenv("MY_LAB_KEY", "sk-lab")
    assert backend(assay.load("openai:gpt-4o-mini", settings=settings)).client.api_key == "sk-lab"
    # Local servers need no key.
    assert backend(assay.load("openai:m@http://127.0.0.1:1/v1")).client.api_key


def test_retry_after_parsing() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "0"}) == 0.0
    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


# -- against assay serve -------------------------------------------------------------------------
def test_generate_text_and_chat(serve_app) -> None:
    server = serve_app(create_app(scripted()))  # the echo model
    model = remote(server)
    text = model.generate("hello there", max_tokens=50)[0]
    assert text.text == "echo: hello there"
    assert (text.prompt_tokens, text.completion_tokens) == (2, 3)
    chat = model.complete([{"role": "user", "content": "hi"}], max_tokens=50)
    assert chat == "echo: User: hi\nAssistant:"
    assert model.generate("hello there", max_tokens=50)[0].cached


def test_sampling_values_reach_the_server(serve_app) -> None:
    server = serve_app(create_app(scripted(["one two three four five. six"])))
    gens = remote(server).generate("go", max_tokens=3, n=2, temperature=0.5, seed=3)
    assert [g.text for g in gens] == ["one two three", "one two three"]
    assert {g.finish_reason for g in gens} == {"length"}
    assert remote(server).complete("go", stop=["four"], temperature=0) == "one two three "


def test_stream(serve_app) -> None:
    server = serve_app(create_app(scripted()))
    model = remote(server)
    pieces = list(model.stream("a b c d", max_tokens=50))
    assert len(pieces) > 1
    assert "".join(pieces) == "echo: a b c d"
    chat = list(model.stream([Message(role="user", content="x y")], max_tokens=50))
    assert "".join(chat) == "echo: User: x y\nAssistant:"


def test_loglikelihood_equals_the_local_backend(serve_app) -> None:
    local = scripted()
    server = serve_app(create_app(local))
    model = remote(server)
    pairs = [
        ("The sky is", " blue"),
        ("Question: 2+2?\nAnswer:", " four, of course"),
        ("The sky is ", "blue and wide"),  # trailing whitespace joins the continuation
    ]
    here = local.loglikelihood(pairs)
    there = model.loglikelihood(pairs)
    assert [r.logprob for r in there] == [r.logprob for r in here] == [-1.0, -3.0, -3.0]
    assert [r.n_tokens for r in there] == [r.n_tokens for r in here]
    # Rolling: one request per text; the first token has nothing to be predicted from.
    rolling = model.loglikelihood_rolling(["one two three four"])[0]
    assert (rolling.logprob, rolling.n_tokens) == (-3.0, 3)


def test_per_token_scores_and_their_accounting_over_the_api(serve_app) -> None:
    server = serve_app(create_app(scripted()))
    model = remote(server)
    scored = assay.score_continuation(model, "The sky is", " blue today", top_k=1)
    assert [(t.token, t.logprob) for t in scored.tokens] == [("blue", -1.0), ("today", -1.0)]
    assert [t.top[0].token for t in scored.tokens] == ["blue", "today"]
    (first,) = model.loglikelihood([("The sky is", " blue")])
    assert (first.context_tokens, first.n_tokens, first.prompt_tokens) == (3, 1, 4)
    rows = model.workspace.db.execute(
        "SELECT op, prompt_tokens FROM calls WHERE model = ? ORDER BY id", (model.address,)
    )
    assert [(r["op"], r["prompt_tokens"]) for r in rows] == [
        ("token_scores", 5),
        ("loglikelihood", 4),
    ]


def test_identity_and_token_counts(serve_app) -> None:
    served = scripted(context_length=300)
    server = serve_app(create_app(served))
    model = remote(server)
    assert model.fingerprint == f"openai:{server.base_url}#fake:#{served.fingerprint}"
    assert model.context_length == 300
    assert model.count_tokens("one two three") == 3  # the server's /tokenize
    info = model.info()
    assert (info.provider, info.name, info.context_length) == ("openai", "fake:", 300)
    assert info.details["tokenize_endpoint"] is True


def test_server_without_context_length_or_tokenize(serve_app) -> None:
    server = serve_app(chat_only_app(), model_id="chatty")
    model = remote(server)
    assert model.context_length is None
    assert model.count_tokens("twelve chars") == 3  # no /tokenize: about 4 characters a token
    assert model.complete([{"role": "user", "content": "hi"}]) == "hello there"
    unlisted = assay.load(f"openai:other@{server.base_url}")
    assert unlisted.fingerprint == f"openai:{server.base_url}#other"


def test_unknown_model_is_model_not_found(serve_app) -> None:
    server = serve_app(create_app(scripted()))
    model = assay.load(f"openai:no-such-model@{server.base_url}")
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        model.complete("hi")


def test_api_key_from_the_environment(serve_app, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve_app(create_app(scripted(["fine"]), api_key="k-123"))
    with pytest.raises(MissingAPIKeyError, match="rejected the API key") as info:
        remote(server).complete("hi")
    assert "OPENAI_API_KEY" in (info.value.hint or "")
    monkeypatch.setenv("OPENAI_API_KEY", "k-123")
    assert remote(server).complete("hi") == "fine"


# -- failures ------------------------------------------------------------------------------------
def test_retries_429_then_500_then_succeeds(serve_app) -> None:
    flaky = FailFirst(
        create_app(scripted(["made it"])),
        [(429, {"Retry-After": "0"}), (500, {})],
        path="/v1/completions",
    )
    server = serve_app(flaky)
    model = remote(server, max_retries=3)
    waits: list[float] = []
    backend(model)._sleep = lambda s: (waits.append(s), time.sleep(s))  # type: ignore[assignment]
    assert model.complete("hi", max_tokens=5) == "made it"
    assert flaky.requests == 3
    assert backend(model).retries == 2
    assert waits[0] == 0.0, "Retry-After: 0 is honoured"
    assert 0 < waits[1] <= 1.0, "a 500 without Retry-After backs off (second attempt: 0.5-1 s)"


def test_gives_up_after_max_retries(serve_app) -> None:
    flaky = FailFirst(
        create_app(scripted(["never"])),
        [(503, {"Retry-After": "0"})] * 5,
        path="/v1/completions",
    )
    server = serve_app(flaky)
    model = remote(server, max_retries=1)
    with pytest.raises(BackendError, match="gave up after 1 retries") as info:
        model.complete("hi")
    assert not isinstance(info.value, ServerUnreachableError)
    assert flaky.requests == 2, "the facade does not retry the batch on top"


def test_connection_refused_is_quick_and_clear() -> None:
    port = unused_port()
    settings = load_settings(overrides={"openai.max_retries": 1})
    model = assay.load(f"openai:m@http://127.0.0.1:{port}/v1", settings=settings)
    start = time.monotonic()
    with pytest.raises(ServerUnreachableError) as info:
        model.complete("hi")
    assert time.monotonic() - start < 5
    assert f"http://127.0.0.1:{port}/v1" in str(info.value)
    assert "server running" in (info.value.hint or "")


def test_loglikelihood_on_a_chat_only_server(serve_app) -> None:
    server = serve_app(chat_only_app(), model_id="chatty")
    model = remote(server)
    with pytest.raises(UnsupportedOperationError) as info:
        model.loglikelihood([("a", " b")])
    message = str(info.value)
    assert "needs a completions endpoint with echo and logprobs" in message
    assert f"chatty at {server.base_url} is chat-only" in message
    assert model.info().supports_loglikelihood is False
    with pytest.raises(UnsupportedOperationError, match="no /completions endpoint"):
        model.complete("a plain string prompt")


def test_loglikelihood_when_echo_is_ignored(serve_app) -> None:
    server = serve_app(chat_only_app(completions="no-echo"), model_id="chatty")
    with pytest.raises(UnsupportedOperationError, match="chat-only"):
        remote(server).loglikelihood_rolling(["a b c"])


def test_max_tokens_zero_rejected_falls_back_to_one(serve_app) -> None:
    local = scripted(["x"])
    strict = RejectZeroMaxTokens(create_app(local))
    server = serve_app(strict)
    model = remote(server, max_concurrency=1)
    pairs = [("The sky is", " blue"), ("One", " two three")]
    assert [r.logprob for r in model.loglikelihood(pairs)] == [-1.0, -2.0]
    assert strict.rejected == 1, "learnt once, then max_tokens=1 is sent straight away"
    assert [r.logprob for r in local.loglikelihood(pairs)] == [-1.0, -2.0]


def test_concurrency_is_bounded(serve_app) -> None:
    counter = CountInFlight(create_app(scripted()), path="/v1/completions")
    server = serve_app(counter)
    model = remote(server, max_concurrency=2)
    prompts = [f"prompt number {i}" for i in range(6)]
    gens = model.generate(prompts, max_tokens=20)
    assert [g.text for g in gens] == [f"echo: {p}" for p in prompts]
    assert counter.total == 6
    assert counter.most == 2
