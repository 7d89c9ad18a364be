"""Shared-context scoring in the hf backend: choices that share a context are scored with one
pass over it (and its key/value cache), and the results equal the unshared computation.

Runs on tiny random Llamas with the real SmolLM2 tokenizer (fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.config import Settings
from assay.models import hf
from assay.models.hf import HFBackend
from assay.models.types import LoglikelihoodRequest
from tiny_models import assert_same_scores, hf_backend, save_tiny_llama

CONTEXTS = [
    "Question: What is the capital of France?\nAnswer:",
    "A much longer context that runs on for a while, with clauses and commas, before it asks "
    "which of these is the answer to the question it never quite states. Answer: ",  # space
    "Short",
    "",  # the prefix token is the context
]
CHOICES = [" Paris", " Berlin is big", " the city of lights and of love", "!"]
UNIQUE = [
    ("A context of its own", " with a continuation of several tokens"),
    ("Another context of its own", " x"),
    ("Nothing to score after this", ""),
]


def _requests() -> list[LoglikelihoodRequest]:
    pairs = [(c, x) for c in CONTEXTS for x in CHOICES]
    # Interleave the unique contexts between the shared ones.
    pairs[3:3] = UNIQUE[:1]
    pairs[9:9] = UNIQUE[1:]
    return [LoglikelihoodRequest(context=c, continuation=x) for c, x in pairs]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> HFBackend:
    return hf_backend(tiny_model_dir)


@pytest.fixture(scope="module")
def plain(tiny_model_dir: Path) -> HFBackend:
    backend = hf_backend(tiny_model_dir, prefix_reuse=False)
    assert not backend.prefix_reuse
    return backend


@pytest.fixture(scope="module")
def lively_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    """Larger, untied random weights: sharper distributions, so greedy continuations vary."""
    out = tmp_path_factory.mktemp("lively-prefix")
    return save_tiny_llama(
        out, smollm2_tokenizer_dir, tie_word_embeddings=False, initializer_range=0.2
    )


class _Counter:
    """Wraps ``model.forward`` to record each call's input shape and cache use."""

    def __init__(self, backend: HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[tuple[int, ...], bool]] = []
        original = backend.model.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            ids = kwargs.get("input_ids", args[0] if args else None)
            assert ids is not None
            self.calls.append((tuple(ids.shape), kwargs.get("cache") is not None))
            return original(*args, **kwargs)

        monkeypatch.setattr(backend.model, "forward", forward)

    def tokens(self) -> int:
        return sum(shape[0] * shape[1] for shape, _ in self.calls)


def test_reuse_is_available_for_llama(tiny: HFBackend) -> None:
    assert tiny.prefix_reuse and tiny._reuse_args is not None


def test_shared_equals_unshared(tiny: HFBackend, plain: HFBackend) -> None:
    requests = _requests()
    shared = tiny.loglikelihood(requests)
    assert_same_scores(shared, plain.loglikelihood(requests), tol=1e-5)
    empty = [i for i, r in enumerate(requests) if not r.continuation]
    assert all(shared[i].logprob == 0.0 and shared[i].n_tokens == 0 for i in empty)
    # Continuations of different token lengths were scored (1 to several tokens).
    assert len({r.n_tokens for r in shared}) >= 4


def test_shared_equals_unshared_on_a_sharper_model(lively_dir: Path) -> None:
    requests = _requests()
    shared = hf_backend(lively_dir).loglikelihood(requests)
    plain = hf_backend(lively_dir, prefix_reuse=False).loglikelihood(requests)
    # Sums here reach -90 nats; float32 rounding of a different batch shape is ~1e-7 relative.
    assert_same_scores(shared, plain, tol=1e-4)
    assert any(r.is_greedy for r in shared) or all(not r.is_greedy for r in plain)


def test_each_context_runs_once(tiny: HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(tiny, monkeypatch)
    requests = [LoglikelihoodRequest(context=c, continuation=x) for c in CONTEXTS for x in CHOICES]
    tiny.loglikelihood(requests)
    # One pass over the four contexts, then one over the continuations with the cache.
    assert [cached for _, cached in counter.calls] == [False, True]
    (contexts, _), (continuations, _) = counter.calls
    assert contexts[0] == len(CONTEXTS)
    longer = [r for r in requests if len(tiny._encode_pair(r.context, r.continuation)[1]) > 1]
    assert continuations[0] == len(longer)
    shared_tokens = counter.tokens()

    counter.calls.clear()
    tiny.prefix_reuse = False
    try:
        tiny.loglikelihood(requests)
    finally:
        tiny.prefix_reuse = True
    assert [cached for _, cached in counter.calls] == [False]
    assert counter.tokens() > 2 * shared_tokens


def test_one_token_choices_need_no_second_pass(
    tiny: HFBackend, plain: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = [
        LoglikelihoodRequest(context=c, continuation=x)
        for c in (CONTEXTS[0], CONTEXTS[2], CONTEXTS[3])  # no trailing space to move
        for x in (" yes", " no", " maybe")
    ]
    counter = _Counter(tiny, monkeypatch)
    shared = tiny.loglikelihood(requests)
    assert counter.calls == [((3, counter.calls[0][0][1]), False)]
    assert_same_scores(shared, plain.loglikelihood(requests), tol=1e-5)


def test_small_budgets_split_the_batches(
    tiny: HFBackend, plain: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = _requests()
    expected = plain.loglikelihood(requests)
    vocab = tiny._vocab_size()
    # Room for one row of logits per pass, and a cache copy of a few rows.
    monkeypatch.setattr(hf, "LOGITS_BUDGET", vocab * 40)
    monkeypatch.setattr(hf, "CACHE_BUDGET", 1)
    counter = _Counter(tiny, monkeypatch)
    assert_same_scores(tiny.loglikelihood(requests), expected, tol=1e-5)
    assert sum(1 for _, cached in counter.calls if not cached) > 1
    assert all(shape[0] == 1 for shape, cached in counter.calls if cached)


def test_greedy_continuation_in_a_shared_group(lively_dir: Path) -> None:
    from assay.models.types import GenerateRequest, Sampling

    backend = hf_backend(lively_dir)
    context = "Once upon a time"
    text = backend.generate(
        [GenerateRequest(prompt=context, sampling=Sampling(max_tokens=4, temperature=0))]
    )[0].text
    results = backend.loglikelihood(
        [LoglikelihoodRequest(context=context, continuation=x) for x in (text, " zebra crossing")]
    )
    assert results[0].is_greedy and results[0].n_tokens > 1
    assert not results[1].is_greedy


def test_truncated_pairs_take_the_unshared_path(
    tmp_path: Path, smollm2_tokenizer_dir: Path
) -> None:
    """With a 16-token context, pairs that need left truncation are scored as lm-eval does."""
    save_tiny_llama(
        tmp_path / "short",
        smollm2_tokenizer_dir,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=16,
        bos_token_id=1,  # LlamaConfig's defaults, as this model always had
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    context = "one two three four five six seven eight nine ten eleven"
    requests = [
        LoglikelihoodRequest(context=context, continuation=x)
        for x in (" twelve", " twelve thirteen fourteen fifteen sixteen", " a")
    ]
    shared = hf_backend(tmp_path / "short").loglikelihood(requests)
    plain = hf_backend(tmp_path / "short", prefix_reuse=False).loglikelihood(requests)
    assert_same_scores(shared, plain, tol=1e-5)


def test_falls_back_when_the_cache_is_not_plain(
    tiny_model_dir: Path, plain: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = hf_backend(tiny_model_dir)
    monkeypatch.setattr(HFBackend, "_cache_tensors", staticmethod(lambda *a: None))
    requests = _requests()
    assert_same_scores(backend.loglikelihood(requests), plain.loglikelihood(requests), tol=1e-5)
    assert backend._reuse_args is None  # not tried again


def test_sliding_window_models_do_not_share(tiny_model_dir: Path) -> None:
    backend = hf_backend(tiny_model_dir)
    backend.model.config.sliding_window = 8
    try:
        assert backend._prefix_reuse_args() is None
        backend.model.config.use_sliding_window = False
        assert backend._prefix_reuse_args() is not None
    finally:
        backend.model.config.sliding_window = None


def test_facade_keeps_a_questions_choices_in_one_call(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The facade cuts requests into batches of ``batch_size`` but never between two choices
    of one context, so the backend sees each context's choices together."""
    import assay

    model = assay.load(f"hf:{tiny_model_dir}", settings=Settings(cache=False, batch_size=4))
    calls: list[list[str]] = []
    original = model.backend.loglikelihood

    def spy(requests: Any) -> Any:
        calls.append([r.context for r in requests])
        return original(requests)

    monkeypatch.setattr(model.backend, "loglikelihood", spy)
    pairs = [(c, x) for c in CONTEXTS[:3] for x in (" yes", " no", " maybe")]
    results = model.loglikelihood(pairs)
    assert [len(c) for c in calls] == [6, 3]
    assert all(len(set(c)) == len(c) // 3 for c in calls)
    plain = hf_backend(tiny_model_dir, prefix_reuse=False)
    expected = plain.loglikelihood(
        [LoglikelihoodRequest(context=c, continuation=x) for c, x in pairs]
    )
    assert_same_scores(results, expected, tol=1e-5)
