"""A server that stops answering fails fast; a slow but live one, and a rate-limited one, work.

The silent servers here are plain sockets: they accept connections (and, where asked, answer
``GET /v1/models``) and then send nothing, as a hung server does."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import assay
from assay.config import load_settings
from assay.errors import BackendError, NoAnswerError, ServerUnreachableError, UserError
from assay.models.facade import Model
from assay.models.fake import scripted
from assay.models.openai_api import OpenAIBackend
from assay.models.retry import CircuitBreaker
from assay.serve.app import create_app
from test_openai_backend import FailFirst, _json_error, backend, remote

MODELS = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()


class SilentServer:
    """Accepts every connection and never answers, except ``GET /v1/models`` if asked to."""

    def __init__(self, answer_models: bool = False) -> None:
        self.answer_models = answer_models
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.held: list[socket.socket] = []
        self.requests: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.held.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    line = head.split(b"\r\n", 1)[0].decode()
                    self.requests.append(line)
                    length = next(
                        (
                            int(h.split(b":", 1)[1])
                            for h in head.split(b"\r\n")
                            if h.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    buffer = buffer[length:]
                    if self.answer_models and line.startswith("GET /v1/models"):
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                            + f"content-length: {len(MODELS)}\r\n\r\n".encode()
                            + MODELS
                        )
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Any]:
    servers: list[SilentServer] = []

    def start(answer_models: bool = False) -> SilentServer:
        servers.append(SilentServer(answer_models))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def load(url: str, **openai_settings: Any) -> Model:
    settings = load_settings(overrides={f"openai.{k}": v for k, v in openai_settings.items()})
    return assay.load(f"openai:m@{url}", settings=settings)


def test_a_server_that_never_answers_fails_in_one_timeout(silent) -> None:
    server = silent()
    # The default retries (5) are left on: the breaker, not a lower count, makes this fast.
    model = load(server.base_url, connect_timeout_s=0.5, timeout_s=30)
    start = time.monotonic()
    with pytest.raises(ServerUnreachableError) as info:
        model.complete("hi")
    took = time.monotonic() - start
    assert took < 3, f"took {took:.1f}s"
    message = str(info.value)
    assert "\n" not in message
    assert f"no answer from {server.base_url}" in message
    assert "did not answer within 0.5s" in message
    assert server.requests == ["GET /v1/models HTTP/1.1"], "no retry of a silent server"


def test_a_server_that_stops_answering_opens_the_breaker(silent) -> None:
    server = silent(answer_models=True)
    model = load(server.base_url, connect_timeout_s=5, timeout_s=0.4, max_concurrency=4)
    remote_backend = model.backend
    assert isinstance(remote_backend, OpenAIBackend)
    remote_backend._sleep = lambda s: None  # type: ignore[assignment]
    start = time.monotonic()
    with pytest.raises(ServerUnreachableError, match="stopped answering") as info:
        model.generate([f"prompt {i}" for i in range(12)], max_tokens=5)
    took = time.monotonic() - start
    assert "did not answer within 0.4s" in str(info.value)
    # Four in flight time out together; the rest of the batch is not sent (nor retried 5 times).
    completions = [r for r in server.requests if "/completions" in r]
    assert len(completions) <= 8, completions
    assert took < 3, f"took {took:.1f}s"
    # Later calls fail at once while the breaker is open.
    start = time.monotonic()
    with pytest.raises(ServerUnreachableError):
        model.complete("again")
    assert time.monotonic() - start < 0.2


class Slow:
    """Delay every request to ``path`` by ``delay_s`` (a slow but live server)."""

    def __init__(self, app: Any, path: str, delay_s: float) -> None:
        self.app, self.path, self.delay_s = app, path, delay_s

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


def test_a_slow_generation_is_not_cut_by_the_quick_timeout(serve_app) -> None:
    server = serve_app(Slow(create_app(scripted(["slow but fine"])), "/v1/completions", 1.0))
    model = remote(server, connect_timeout_s=0.3, timeout_s=10)
    assert model.complete("hi", max_tokens=5) == "slow but fine"
    assert "".join(model.stream("hi", max_tokens=5)) == "slow but fine"
    assert backend(model).retries == 0


def test_rate_limited_then_answers(serve_app) -> None:
    flaky = FailFirst(
        create_app(scripted(["after the wait"])),
        [(429, {"Retry-After": "0.2"}), (429, {"Retry-After": "0.2"})],
        path="/v1/completions",
    )
    server = serve_app(flaky)
    model = remote(server, connect_timeout_s=0.5, retry_budget_s=5)
    waits: list[float] = []
    backend(model)._sleep = lambda s: (waits.append(s), time.sleep(s))  # type: ignore[assignment]
    assert model.complete("hi", max_tokens=5) == "after the wait"
    assert waits == [0.2, 0.2], "Retry-After is honoured, and 429s never open the breaker"


def test_the_retry_budget_bounds_waiting(serve_app) -> None:
    flaky = FailFirst(
        create_app(scripted(["never"])),
        [(429, {"Retry-After": "20"})] * 3,
        path="/v1/completions",
    )
    server = serve_app(flaky)
    model = remote(server, retry_budget_s=5)
    start = time.monotonic()
    with pytest.raises(BackendError, match="retry budget of 5s") as info:
        model.complete("hi")
    assert time.monotonic() - start < 2, "a 20 s wait past the budget is not started"
    assert not isinstance(info.value, ServerUnreachableError)
    assert flaky.requests == 1


class RefuseOnce:
    """Answer the first completion request whose prompt contains ``word`` with HTTP 400."""

    def __init__(self, app: Any, word: str) -> None:
        self.app, self.word, self.refused = app, word, False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/completions":
            await self.app(scope, receive, send)
            return
        message = await receive()
        body = message.get("body", b"")
        if self.word in json.loads(body)["prompt"] and not self.refused:
            self.refused = True
            await _json_error(send, 400, {})
            return

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def test_answers_that_arrived_are_cached_when_the_batch_fails(serve_app) -> None:
    server = serve_app(RefuseOnce(create_app(scripted()), "bad"))
    model = remote(server, max_concurrency=3)
    prompts = ["good one", "bad one", "good two"]
    with pytest.raises(UserError, match="rejected the request"):
        model.generate(prompts, max_tokens=20)
    gens = model.generate(prompts, max_tokens=20)
    assert [g.text for g in gens] == [f"echo: {p}" for p in prompts]
    assert [g.cached for g in gens] == [True, False, True]


def test_breaker_counts_silences_in_a_row_and_lets_one_through_after_cooling_down() -> None:
    now = [0.0]
    breaker = CircuitBreaker("http://x/v1", threshold=2, cooldown_s=30, clock=lambda: now[0])
    silence = NoAnswerError("http://x/v1/completions did not answer within 60s")
    breaker.answered()
    assert not breaker.no_answer(silence), "one silence from a server that answered before"
    breaker.answered()  # an answer (even a 429) resets the count
    assert not breaker.no_answer(silence)
    assert breaker.no_answer(silence)
    with pytest.raises(ServerUnreachableError, match="stopped answering: 2 requests in a row"):
        breaker.check()
    now[0] = 31.0
    breaker.check()  # cooled down: one request may try
    assert breaker.no_answer(silence), "and one more silence opens it again"
    with pytest.raises(ServerUnreachableError):
        breaker.check()
