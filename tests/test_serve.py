"""``assay serve``: the OpenAI-compatible server, exercised over real HTTP with the real ``openai``
client. Most tests serve the fake backend (fast); the last section serves a tiny real
transformers model."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

import assay
from assay.cli.main import main
from assay.config import load_settings
from assay.errors import ContextLengthError, SamplingError
from assay.models.facade import Model
from assay.models.fake import FakeBackend, scripted
from assay.models.types import GenerateRequest, Sampling
from assay.serve.app import banner, create_app, is_loopback
from assay.serve.background import BackgroundServer
from assay.workspace import Workspace
from cli_util import served


@pytest.fixture
def serve_model() -> Iterator[object]:
    """Serve a ``Model`` (or any ASGI app) in a background thread; stops at the end of the test."""
    running: list[BackgroundServer] = []

    def start(model: Model, **kwargs: object) -> BackgroundServer:
        server = BackgroundServer(create_app(model, **kwargs))  # type: ignore[arg-type]
        running.append(server.start())
        return server

    yield start
    for server in running:
        server.stop()


def client(server: BackgroundServer, key: str = "not-needed") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- endpoints -----------------------------------------------------------------------------------
def test_health_and_models(serve_model) -> None:
    model = scripted(["hi"], context_length=512)
    server = serve_model(model)
    assert httpx.get(server.url + "/health").json() == {"status": "ok", "model": "fake:"}
    models = client(server).models.list().data
    assert [m.id for m in models] == ["fake:"]
    entry = models[0].model_dump()
    assert entry["owned_by"] == "assay"
    assert entry["context_length"] == 512
    assert entry["assay_fingerprint"] == model.fingerprint
    assert client(server).models.retrieve("fake:").id == "fake:"
    with pytest.raises(openai.NotFoundError) as info:
        client(server).models.retrieve("nope")
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_chat_completion_is_logged_and_cached(serve_model) -> None:
    model = scripted(["The answer is 42."])
    server = serve_model(model, served_name="tiny")
    c = client(server)
    reply = c.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "What is six times seven?"}],
        temperature=0,
    )
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content == "The answer is 42."
    assert reply.choices[0].finish_reason == "stop"
    # The plain chat format the fake backend renders: "User: What is six times seven?\nAssistant:"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 4)
    assert reply.system_fingerprint and reply.system_fingerprint.startswith("fp_")
    assert model.backend.seen == ["User: What is six times seven?\nAssistant:"]  # type: ignore[attr-defined]

    again = c.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "What is six times seven?"}],
        temperature=0,
    )
    assert again.choices[0].message.content == "The answer is 42."
    assert len(model.backend.seen) == 1, "the second, identical greedy request is a cache hit"  # type: ignore[attr-defined]
    rows = model.workspace.db.execute("SELECT model, op, cached FROM calls ORDER BY id").fetchall()
    assert [(r["model"], r["op"], r["cached"]) for r in rows] == [
        ("fake:", "generate", 0),
        ("fake:", "generate", 1),
    ]


def test_unknown_model_is_404(serve_model) -> None:
    server = serve_model(scripted())
    with pytest.raises(openai.NotFoundError) as info:
        client(server).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 404
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_chat_stream_joins_to_the_greedy_text(serve_model) -> None:
    server = serve_model(scripted())  # echoes the prompt
    c = client(server)
    messages = [{"role": "user", "content": "tell me a story about a fox"}]
    # Streamed first: a reply already in the cache comes back in one piece.
    chunks = list(
        c.chat.completions.create(
            model="fake:",
            messages=messages,  # type: ignore[arg-type]
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    whole = c.chat.completions.create(model="fake:", messages=messages, temperature=0)  # type: ignore[arg-type]
    pieces = [ch.choices[0].delta.content or "" for ch in chunks if ch.choices]
    assert len([p for p in pieces if p]) > 3, "the reply arrives in several pieces"
    assert "".join(pieces) == whole.choices[0].message.content
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_stream_is_server_sent_events_ending_in_done(serve_model) -> None:
    server = serve_model(scripted(["one two three"]))
    with httpx.stream(
        "POST",
        server.base_url + "/completions",
        json={"model": "fake:", "prompt": "count", "stream": True, "temperature": 0},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    texts = [json.loads(line[6:])["choices"][0]["text"] for line in lines[:-1]]
    assert "".join(texts) == "one two three"


def test_completions_echo_with_logprobs(serve_model) -> None:
    server = serve_model(scripted(["unused"]))
    done = client(server).completions.create(
        model="fake:", prompt="The sky is  blue", echo=True, logprobs=1, max_tokens=0
    )
    choice = done.choices[0]
    assert choice.text == "The sky is  blue"
    lp = choice.logprobs
    assert lp is not None
    assert lp.tokens == ["The", "sky", "is", "blue"]
    assert lp.text_offset == [0, 4, 8, 12]
    assert lp.token_logprobs == [None, -1.0, -1.0, -1.0]
    assert lp.top_logprobs == [None, {"sky": -1.0}, {"is": -1.0}, {"blue": -1.0}]
    assert done.usage is not None and done.usage.prompt_tokens == 4


def test_completions_echo_then_generate(serve_model) -> None:
    server = serve_model(scripted(["and green"]))
    done = client(server).completions.create(
        model="fake:", prompt="The sky is blue", echo=True, max_tokens=5, temperature=0
    )
    assert done.choices[0].text == "The sky is blueand green"
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (4, 2)


def test_completions_several_prompts_n_samples_and_stop(serve_model) -> None:
    server = serve_model(scripted([lambda p: f"{p} said. Then more."]))
    done = client(server).completions.create(
        model="fake:", prompt=["Alice", "Bob"], n=2, stop=["."], temperature=0.7, seed=1
    )
    assert [c.index for c in done.choices] == [0, 1, 2, 3]
    assert [c.text for c in done.choices] == ["Alice said", "Alice said", "Bob said", "Bob said"]
    chat = client(server).chat.completions.create(
        model="fake:", messages=[{"role": "user", "content": "x"}], n=3, stop="Then", temperature=0
    )
    assert len(chat.choices) == 3
    assert {c.message.content for c in chat.choices} == {"User: x\nAssistant: said. "}


def test_sampled_requests_without_seed_are_not_collapsed_by_the_cache(serve_model) -> None:
    model = scripted([lambda p: "sampled"])
    server = serve_model(model)
    for _ in range(2):
        client(server).chat.completions.create(
            model="fake:", messages=[{"role": "user", "content": "hi"}], temperature=1.0
        )
    assert len(model.backend.seen) == 2  # type: ignore[attr-defined]


def test_api_key_required_and_accepted(serve_model) -> None:
    server = serve_model(scripted(["ok"]), api_key="s3cret")
    with pytest.raises(openai.AuthenticationError) as info:
        client(server, key="wrong").models.list()
    assert info.value.status_code == 401
    assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    missing = httpx.post(server.base_url + "/chat/completions", json={"messages": []})
    assert missing.status_code == 401
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    assert httpx.get(server.url + "/health").status_code == 200, "health needs no key"
    reply = client(server, key="s3cret").chat.completions.create(
        model="fake:", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "ok"


def test_invalid_sampling_values_are_400(serve_model) -> None:
    server = serve_model(scripted(["ok"]))
    with pytest.raises(openai.BadRequestError) as info:
        client(server).chat.completions.create(
            model="fake:", messages=[{"role": "user", "content": "hi"}], temperature=9
        )
    error = info.value.body
    assert error["param"] == "temperature" and "temperature" in error["message"]  # type: ignore[index]
    bad_type = httpx.post(
        server.base_url + "/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "top_p": "lots"},
    )
    assert bad_type.status_code == 400
    assert bad_type.json()["error"]["param"] == "top_p"
    zero = httpx.post(
        server.base_url + "/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
    )
    assert zero.status_code == 400 and zero.json()["error"]["param"] == "max_tokens"
    bad_role = httpx.post(
        server.base_url + "/chat/completions",
        json={"messages": [{"role": "robot", "content": "x"}]},
    )
    assert bad_role.status_code == 400

    # The assay client checks sampling values itself; a value it lets through and the server
    # rejects comes back as the same clear SamplingError.
    remote = assay.load(f"openai:fake:@{server.base_url}")
    with pytest.raises(SamplingError, match="temperature"):
        remote.generate("hi", temperature=9)
    sneaky = Sampling.model_construct(**{**Sampling().model_dump(), "temperature": 9.0})
    with pytest.raises(SamplingError, match=r"rejected the sampling settings.*temperature"):
        remote.backend.generate([GenerateRequest.model_construct(prompt="hi", sampling=sneaky)])


def test_unpaired_surrogate_is_400_naming_the_field(serve_model) -> None:
    server = serve_model(scripted(["ok"]))
    for path, body in [
        ("/chat/completions", rb'{"messages": [{"role": "user", "content": "caf\ud800"}]}'),
        ("/completions", rb'{"prompt": ["fine", "caf\udce9"]}'),
    ]:
        response = httpx.post(
            server.base_url + path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
        assert "an unpaired surrogate is not valid Unicode" in message
    assert message.startswith("prompt[1] (U+DCE9 at character 3)")


def test_context_too_long_is_400(serve_model) -> None:
    server = serve_model(scripted(["ok"], context_length=8))
    long_prompt = " ".join(["word"] * 20)
    with pytest.raises(openai.BadRequestError) as info:
        client(server).completions.create(model="fake:", prompt=long_prompt, max_tokens=4)
    assert info.value.body["code"] == "context_length_exceeded"  # type: ignore[index]
    assert "maximum context length is 8 tokens" in info.value.body["message"]  # type: ignore[index]

    remote = assay.load(f"openai:fake:@{server.base_url}")
    with pytest.raises(ContextLengthError) as local:
        remote.generate(long_prompt)  # caught before sending: /v1/models says 8, /tokenize counts
    assert local.value.context_length == 8
    with pytest.raises(ContextLengthError) as served:
        remote.backend.generate([GenerateRequest(prompt=long_prompt)])  # the server's 400
    assert (served.value.n_tokens, served.value.context_length) == (21, 8)


def test_tokenize(serve_model) -> None:
    server = serve_model(scripted(context_length=64))
    answer = httpx.post(server.url + "/tokenize", json={"prompt": "one two  three"}).json()
    # The fake backend has no tokenizer to list ids from; the count is its word count.
    assert answer == {"tokens": None, "count": 3, "max_model_len": 64}
    assert httpx.post(server.url + "/tokenize", json={"text": "a b"}).json()["count"] == 2


def test_echo_logprobs_need_a_backend_that_scores_prompts(serve_model) -> None:
    # A backend that cannot score prompt tokens: echo + logprobs is refused with a clear 400.
    class NoPromptScores(FakeBackend):
        prompt_logprobs = None

    model = scripted(["ok"])
    model.backend = NoPromptScores(replies=["ok"])
    blind = serve_model(model)
    with pytest.raises(openai.BadRequestError) as info:
        client(blind).completions.create(
            model="fake:", prompt="a b c", echo=True, logprobs=1, max_tokens=0
        )
    assert "cannot score prompt tokens" in info.value.body["message"]  # type: ignore[index]
    # An assay server in front of another OpenAI-compatible server passes the scores through.
    inner = serve_model(scripted(["ok"]))
    outer = serve_model(assay.load(f"openai:fake:@{inner.base_url}"), served_name="proxy")
    asked = {"prompt": "a b c", "echo": True, "logprobs": 1, "max_tokens": 0}
    direct = client(inner).completions.create(model="fake:", **asked)  # type: ignore[call-overload]
    proxied = client(outer).completions.create(model="proxy", **asked)  # type: ignore[call-overload]
    assert proxied.choices[0].logprobs.token_logprobs == direct.choices[0].logprobs.token_logprobs
    # Generation still passes through both servers.
    done = client(outer).completions.create(model="proxy", prompt="a b c", temperature=0)
    assert done.choices[0].text == "ok"


# -- running it ----------------------------------------------------------------------------------
def test_banner_and_loopback() -> None:
    text = banner("fake:", "0.0.0.0", 8123, api_key="k")
    assert 'base_url="http://127.0.0.1:8123/v1"' in text and "<your --api-key>" in text
    assert 'assay.load("openai:fake:@http://127.0.0.1:8123/v1")' in text
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--port" in out and "--api-key" in out and "OpenAI-compatible" in out


def test_cli_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as done:
            main(["serve", "fake:", "--port", str(port)])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err


def test_cli_warns_when_exposed_without_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit):  # the port is taken, so nothing is actually exposed
            main(["serve", "fake:", "--host", "0.0.0.0", "--port", str(port)])
    assert "warning: serving on 0.0.0.0 without --api-key" in capsys.readouterr().err


def test_cli_serve_starts_and_answers(assay_home: Path) -> None:
    env = {**os.environ, "ASSAY_HOME": str(assay_home)}
    with served(["fake:"], env) as server:
        reply = openai.OpenAI(
            base_url=server.base_url, api_key="x", max_retries=0
        ).completions.create(model="fake:", prompt="ping", temperature=0)
        assert reply.choices[0].text == "echo: ping"
    assert server.base_url in server.stdout
    assert "from openai import OpenAI" in server.stdout


def test_workspace_is_shared_by_server_and_client(serve_model) -> None:
    server = serve_model(scripted(["shared"]))
    remote = assay.load(f"openai:fake:@{server.base_url}")
    assert remote.complete("hi") == "shared"
    models = {r["model"] for r in Workspace.find().db.execute("SELECT model FROM calls")}
    assert models == {"fake:", f"openai:fake:@{server.base_url}"}


def test_settings_reach_the_client(serve_model) -> None:
    server = serve_model(scripted(["ok"]))
    settings = load_settings(env={"OPENAI_BASE_URL": server.base_url})
    remote = assay.load("openai:fake:", settings=settings)
    assert remote.complete("hi") == "ok"
    assert remote.backend.base_url == server.base_url  # type: ignore[attr-defined]


# -- a real (tiny) transformers model --------------------------------------------------------------
needs_hf = pytest.mark.skipif(
    importlib.util.find_spec("assay.models.hf") is None, reason="the hf backend is not written yet"
)


@pytest.fixture
def tiny_hf(tiny_model_dir: Path) -> Model:
    return assay.load(f"hf:{tiny_model_dir}", settings=load_settings(overrides={"device": "cpu"}))


@needs_hf
def test_hf_chat_and_stream_agree(serve_model, tiny_hf: Model) -> None:
    server = serve_model(tiny_hf, served_name="tiny")
    c = client(server)
    entry = c.models.list().data[0].model_dump()
    assert entry["context_length"] == tiny_hf.context_length
    assert entry["assay_fingerprint"] == tiny_hf.fingerprint
    messages = [{"role": "user", "content": "Name a colour."}]
    whole = c.chat.completions.create(model="tiny", messages=messages, max_tokens=12, temperature=0)  # type: ignore[arg-type]
    text = whole.choices[0].message.content
    assert text == tiny_hf.complete(messages, max_tokens=12)
    streamed = c.chat.completions.create(
        model="tiny",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=12,
        temperature=0,
        stream=True,
    )
    assert "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices) == text
    tokens = httpx.post(server.url + "/tokenize", json={"prompt": "Hello world"}).json()
    assert tokens["count"] == tiny_hf.count_tokens("Hello world")
    assert tokens["tokens"] and all(isinstance(t, int | str) for t in tokens["tokens"])


@needs_hf
def test_hf_remote_loglikelihood_matches_local(serve_model, tiny_hf: Model) -> None:
    server = serve_model(tiny_hf, served_name="tiny")
    remote = assay.load(f"openai:tiny@{server.base_url}")
    pairs = [
        ("The capital of France is", " Paris"),
        ("Question: is water wet?\nAnswer:", " yes, it is"),
        ("The sky is ", "blue"),  # trailing whitespace moves into the continuation
    ]
    here = tiny_hf.loglikelihood(pairs)
    there = remote.loglikelihood(pairs)
    for a, b in zip(here, there, strict=True):
        assert b.logprob == pytest.approx(a.logprob, abs=1e-4)
        assert b.is_greedy == a.is_greedy
        assert b.n_tokens == a.n_tokens
    echo = client(server).completions.create(
        model="tiny", prompt="The capital of France is Paris", echo=True, logprobs=3, max_tokens=0
    )
    lp = echo.choices[0].logprobs
    assert lp is not None and lp.token_logprobs is not None and lp.top_logprobs is not None
    assert lp.token_logprobs[0] is None and all(v is not None for v in lp.token_logprobs[1:])
    assert all(len(top) <= 3 for top in lp.top_logprobs[1:] if top is not None)


@needs_hf
def test_hf_sampled_choices(serve_model, tiny_hf: Model) -> None:
    server = serve_model(tiny_hf, served_name="tiny")
    done = client(server).completions.create(
        model="tiny", prompt="Once upon a time", n=3, max_tokens=8, temperature=1.0, seed=7
    )
    texts = [c.text for c in done.choices]
    assert len(texts) == 3 and len(set(texts)) > 1, "each sample has its own seed"
