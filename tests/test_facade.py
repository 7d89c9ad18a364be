"""The facade's shared machinery, exercised through the scripted fake backend."""

from __future__ import annotations

import pytest

import assay
from assay.config import Price, Settings
from assay.errors import ContextLengthError, SamplingError, TransientBackendError
from assay.models.facade import Model
from assay.models.fake import FakeBackend
from assay.models.types import Sampling
from assay.workspace import Workspace


def make(backend: FakeBackend, **settings: object) -> Model:
    model = Model(
        backend,
        address="fake:test",
        settings=Settings(**settings),  # type: ignore[arg-type]
        workspace=Workspace.find(),
    )
    model._sleep = lambda s: None  # no real waiting in retry tests
    return model


def test_generate_single_and_batch() -> None:
    model = make(FakeBackend())
    assert model.complete("hello world") == "echo: hello world"
    gens = model.generate(["a", "b c"])
    assert [g.text for g in gens] == ["echo: a", "echo: b c"]
    assert [g.prompt_index for g in gens] == [0, 1]
    assert gens[1].prompt_tokens == 2


def test_chat_is_rendered_by_backend() -> None:
    backend = FakeBackend()
    model = make(backend)
    model.generate([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])
    assert backend.seen[-1] == "System: S\nUser: Q\nAssistant:"


def test_cache_hits_and_is_keyed_by_sample_index() -> None:
    calls: list[str] = []

    def reply(prompt: str) -> str:
        calls.append(prompt)
        return f"sample {len(calls)}"

    model = make(FakeBackend(replies=[reply]))
    first = model.generate("q", temperature=0.7, n=3)
    assert [g.text for g in first] == ["sample 1", "sample 2", "sample 3"]
    assert [g.sample_index for g in first] == [0, 1, 2]
    again = model.generate("q", temperature=0.7, n=3)
    assert [g.text for g in again] == ["sample 1", "sample 2", "sample 3"]
    assert all(g.cached for g in again) and len(calls) == 3
    # A fourth sample is new work; the first three come from the cache.
    more = model.generate("q", temperature=0.7, n=4)
    assert [g.cached for g in more] == [True, True, True, False] and len(calls) == 4
    # Different sampling settings are a different request.
    model.generate("q", temperature=0.9, n=1)
    assert len(calls) == 5


def test_cache_can_be_disabled() -> None:
    model = make(FakeBackend(replies=["x"]), cache=False)
    model.generate("q")
    assert not model.generate("q")[0].cached


def test_every_call_is_logged_with_tokens_and_cost() -> None:
    model = make(
        FakeBackend(replies=["one two three"]),
        prices={"test": Price(prompt=1_000_000, completion=2_000_000)},
    )
    gen = model.generate("a b", max_tokens=10)[0]
    assert gen.cost == pytest.approx(2 * 1 + 3 * 2)
    model.generate("a b", max_tokens=10)  # cache hit: costs nothing
    rows = list(model.workspace.db.execute("SELECT * FROM calls ORDER BY id"))
    assert len(rows) == 2
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == (2, 3)
    assert rows[0]["cost"] == pytest.approx(8.0) and rows[0]["cached"] == 0
    assert rows[1]["cost"] == 0 and rows[1]["cached"] == 1 and rows[1]["prompt_tokens"] == 0


def test_scoring_calls_are_logged_with_the_tokens_they_read() -> None:
    model = make(FakeBackend(), prices={"test": Price(prompt=1_000_000)})
    model.loglikelihood([("one two three", " four"), ("one", " two three")])
    model.loglikelihood_rolling(["a b c d e"])
    model.loglikelihood([("one", " two three")])  # cache hit: nothing read, nothing paid
    rows = list(model.workspace.db.execute("SELECT * FROM calls ORDER BY id"))
    assert [r["op"] for r in rows] == ["loglikelihood", "rolling", "loglikelihood"]
    # Tokens in: context + continuation of each pair (3 + 1, 1 + 2), the whole rolling text.
    assert [r["prompt_tokens"] for r in rows] == [7, 5, 0]
    assert [r["completion_tokens"] for r in rows] == [0, 0, 0]
    assert [r["cost"] for r in rows] == pytest.approx([7.0, 5.0, 0.0])


def test_transient_errors_are_retried() -> None:
    backend = FakeBackend(replies=[{"error": 429, "retry_after": 0}, "ok"])
    model = make(backend)
    assert model.complete("q") == "ok"


def test_retries_give_up_and_log_the_error() -> None:
    model = make(FakeBackend(replies=[{"error": 500}]))
    model.retry = model.retry.__class__(max_retries=2)
    with pytest.raises(TransientBackendError):
        model.complete("q")
    row = model.workspace.db.execute("SELECT error FROM calls").fetchone()
    assert "TransientBackendError" in row["error"]


def test_context_length_error_says_by_how_much() -> None:
    model = make(FakeBackend(context_length=10))
    with pytest.raises(ContextLengthError) as info:
        model.complete(" ".join(["w"] * 15))
    assert "16 tokens, 6 more than the model's context of 10" in info.value.message


def test_invalid_sampling_values() -> None:
    model = make(FakeBackend())
    with pytest.raises(SamplingError, match="temperature"):
        model.generate("q", temperature=-1)
    with pytest.raises(SamplingError, match="top_p"):
        model.generate("q", top_p=0)
    with pytest.raises(SamplingError, match="max_tokens"):
        model.generate("q", max_tokens=0)


def test_stop_sequences_and_max_tokens() -> None:
    model = make(FakeBackend(replies=["alpha beta. gamma delta"]))
    assert model.complete("q", stop=".") == "alpha beta"
    gen = model.generate("q2", max_tokens=2)[0]
    assert gen.text == "alpha beta." and gen.finish_reason == "length"


def test_stream_logs_a_call() -> None:
    model = make(FakeBackend(replies=["one two"]))
    assert "".join(model.stream("q")) == "one two"
    row = model.workspace.db.execute("SELECT op, completion_tokens FROM calls").fetchone()
    assert (row["op"], row["completion_tokens"]) == ("stream", 2)


def test_stream_and_generate_share_the_cache() -> None:
    backend = FakeBackend(replies=["one two three"])
    model = make(backend)
    streamed = "".join(model.stream("q", max_tokens=8))
    assert len(backend.seen) == 1
    gen = model.generate("q", max_tokens=8)[0]
    assert (gen.text, gen.cached, gen.completion_tokens) == (streamed, True, 3)
    assert len(backend.seen) == 1
    # the other way round: generate fills the cache, the stream gives it back in one piece
    model.generate("r")
    assert list(model.stream("r")) == ["one two three"]
    assert len(backend.seen) == 2
    rows = model.workspace.db.execute("SELECT op, cached FROM calls ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [
        ("stream", 0),
        ("generate", 1),
        ("generate", 0),
        ("stream", 1),
    ]


def test_a_stream_left_early_or_asking_for_logprobs_is_not_cached() -> None:
    backend = FakeBackend(replies=["one two three"])
    model = make(backend)
    pieces = model.stream("q")
    next(pieces)
    pieces.close()
    "".join(model.stream("r", logprobs=True))
    assert model.cached("q") is None and model.cached("r", Sampling(logprobs=True)) is None
    assert model.cached("r") is None  # other sampling settings are another request


def test_loglikelihood_and_perplexity_cached() -> None:
    model = make(FakeBackend(loglikelihoods={" yes": -0.5}))
    out = model.loglikelihood([("Q?", " yes"), ("Q?", " no way")])
    assert [o.logprob for o in out] == [-0.5, -2.0]
    assert model.loglikelihood([("Q?", " yes")])[0].logprob == -0.5
    ppl = model.perplexity(["a b c"])[0]
    assert ppl == pytest.approx(2.718281828, rel=1e-6)


def test_fake_is_addressable_like_a_real_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "script.yaml"
    script.write_text("replies: ['scripted reply']\n")
    assert assay.load(f"fake:{script}").complete("hi") == "scripted reply"
    assert assay.load("fake:").complete("hi") == "echo: hi"
