"""Few-shot prefixes in the hf backend: the tokens every context starts with run once, are kept
as a key/value cache across calls, and the scores equal the computation without them.

Runs on tiny random Llamas with the real SmolLM2 tokenizer (fast).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import torch

from assay.models.hf import HFBackend
from assay.models.shared_prefix import MIN_TOKENS, Plan, PrefixCache, common_length
from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Sampling,
)
from tiny_models import assert_same_scores, hf_backend, save_tiny_llama

EXAMPLES = "\n\n".join(
    f"Abstract: Study {i} followed {10 * i} patients for {i} years and measured outcomes.\n"
    f"Question: Did treatment {i} help?\nAnswer: {answer}"
    for i, answer in enumerate(["yes", "no", "maybe"], start=1)
)
QUESTIONS = [
    "Abstract: A cohort of nurses was surveyed twice.\nQuestion: Was burnout lower?\nAnswer:",
    "Abstract: Mice were fed a high-fat diet.\nQuestion: Did they gain weight?\nAnswer:",
    "Abstract: Two surgical techniques were compared in a randomised trial of 200 adults "
    "with long follow-up.\nQuestion: Is one better?\nAnswer:",
    "Abstract: Nothing.\nQuestion: Anything?\nAnswer:",
    "Abstract: Rainfall and hospital admissions over a decade.\nQuestion: Related?\nAnswer:",
]
CHOICES = [" yes", " no", " maybe", " it depends on the dose and the age of the patients"]


def _requests(questions: list[str] = QUESTIONS) -> list[LoglikelihoodRequest]:
    return [
        LoglikelihoodRequest(context=EXAMPLES + "\n\n" + q, continuation=c)
        for q in questions
        for c in CHOICES
    ]


class _Passes:
    """Records each forward pass: its input shape and how many cached tokens it ran over."""

    def __init__(self, backend: HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[tuple[int, ...], int]] = []
        assert backend._reuse_args is not None
        cache_arg = backend._reuse_args[0]
        original = backend.model.forward

        # generate() reads forward's signature (which inputs to prepare): keep it.
        @functools.wraps(original)
        def forward(*args: Any, **kwargs: Any) -> Any:
            cache = kwargs.get(cache_arg)
            past = cache.get_seq_length() if cache is not None else 0
            self.calls.append((tuple(kwargs["input_ids"].shape), int(past)))
            return original(*args, **kwargs)

        monkeypatch.setattr(backend.model, "forward", forward)

    def tokens(self) -> int:
        return sum(shape[0] * shape[1] for shape, _ in self.calls)


@pytest.fixture()
def tiny(tiny_model_dir: Path) -> HFBackend:
    return hf_backend(tiny_model_dir)


@pytest.fixture(scope="module")
def plain(tiny_model_dir: Path) -> HFBackend:
    return hf_backend(tiny_model_dir, prefix_reuse=False)


@pytest.fixture(scope="module")
def lively_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("lively-fewshot")
    return save_tiny_llama(
        out, smollm2_tokenizer_dir, tie_word_embeddings=False, initializer_range=0.2
    )


def _prefix_tokens(backend: HFBackend) -> int:
    contexts = [backend._encode_pair(r.context, r.continuation)[0] for r in _requests()]
    return common_length(contexts)


# -- the planning rules ---------------------------------------------------------------------------
def test_common_length() -> None:
    assert common_length([]) == 0
    assert common_length([[1, 2, 3]]) == 3
    assert common_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_length([[1, 2], [3]]) == 0


def test_plan_shares_only_long_prefixes_of_several_contexts() -> None:
    cache = PrefixCache()
    long = list(range(100))
    assert cache.plan([[*long, 1], [*long, 2]]) == Plan(100, 0)
    # Every context keeps its last token: the shared part stops one short of the shortest.
    assert cache.plan([long, [*long, 5, 6]]) == Plan(99, 0)
    assert cache.plan([[*long, 1]]) is None  # one context alone never starts a cache
    short = list(range(MIN_TOKENS - 1))
    assert cache.plan([[*short, 1], [*short, 2]]) is None


def test_plan_uses_and_extends_what_is_cached() -> None:
    cache = PrefixCache()
    base = list(range(200))
    cache.keep(base[:100], [])
    assert cache.plan([[*base[:150], 1], [*base[:150], 2]]) == Plan(150, 100)  # extend
    assert cache.plan([[*base[:110], 1], [*base[:110], 2]]) == Plan(100, 100)  # a few: as is
    assert cache.plan([[*base[:60], 1], [*base[:60], 2]]) == Plan(60, 60)  # its head
    assert cache.plan([[*base[:150], 7]]) == Plan(100, 100)  # one context: what is cached
    assert cache.plan([[9, *base], [9, *base[:50]]]) == Plan(50, 0)  # something else


# -- scores ---------------------------------------------------------------------------------------
def test_fewshot_scores_equal_the_unshared_computation(tiny: HFBackend, plain: HFBackend) -> None:
    requests = _requests()
    assert _prefix_tokens(tiny) >= MIN_TOKENS
    assert_same_scores(tiny.loglikelihood(requests), plain.loglikelihood(requests), tol=1e-5)
    assert len(tiny._prefix.tokens) >= MIN_TOKENS


def test_fewshot_scores_on_a_sharper_model(lively_dir: Path) -> None:
    requests = _requests()
    shared = hf_backend(lively_dir)
    got = shared.loglikelihood(requests[:8]) + shared.loglikelihood(requests[8:])
    assert_same_scores(
        got, hf_backend(lively_dir, prefix_reuse=False).loglikelihood(requests), tol=1e-4
    )


def test_the_prefix_runs_once_across_calls(
    tiny: HFBackend, plain: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = _Passes(tiny, monkeypatch)
    requests = _requests()
    per_question = len(CHOICES)
    got: list[Loglikelihood] = []
    for start in range(0, len(requests), 2 * per_question):  # two questions per call
        got += tiny.loglikelihood(requests[start : start + 2 * per_question])
    assert_same_scores(got, plain.loglikelihood(requests), tol=1e-5)

    prefix = len(tiny._prefix.tokens)
    runs = [shape for shape, past in passes.calls if shape[0] == 1 and shape[1] >= MIN_TOKENS]
    assert runs == [(1, prefix)]  # the first call's prefix pass; later calls reuse it
    context_passes = [past for shape, past in passes.calls if past and shape[1] > 1]
    assert context_passes and all(past >= prefix for past in context_passes)

    without = _Passes(plain, monkeypatch)
    plain.loglikelihood(requests)
    assert passes.tokens() * 2 < without.tokens()


def test_a_new_prefix_replaces_the_cache(
    tiny: HFBackend, plain: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny.loglikelihood(_requests())
    first = tiny._prefix.tokens
    other = [
        LoglikelihoodRequest(context="An instruction of another task. " * 8 + q, continuation=c)
        for q in ("One?", "Two?")
        for c in (" yes", " no")
    ]
    assert_same_scores(tiny.loglikelihood(other), plain.loglikelihood(other), tol=1e-5)
    assert tiny._prefix.tokens != first and len(tiny._prefix.tokens) >= MIN_TOKENS


def test_an_extended_prefix_runs_only_the_new_tokens(
    tiny: HFBackend, plain: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = _requests()
    tiny.loglikelihood(requests)
    cached = len(tiny._prefix.tokens)
    words = "Abstract: " + "More shared words here. " * 10
    longer = [
        LoglikelihoodRequest(context=EXAMPLES + "\n\n" + words + q, continuation=c)
        for q in ("Yes?", "No?")
        for c in CHOICES
    ]
    passes = _Passes(tiny, monkeypatch)
    assert_same_scores(tiny.loglikelihood(longer), plain.loglikelihood(longer), tol=1e-5)
    extension = passes.calls[0]
    assert extension[0][0] == 1 and extension[1] > 0  # one row, over the cached tokens
    assert extension[1] + extension[0][1] == len(tiny._prefix.tokens) > cached


def test_off_without_prefix_reuse(plain: HFBackend) -> None:
    plain.loglikelihood(_requests())
    assert plain._prefix.tokens == ()


def test_cache_tensors_are_views_of_one_row(tiny: HFBackend) -> None:
    tiny.loglikelihood(_requests())
    n = len(tiny._prefix.tokens)
    for keys, values in tiny._prefix.layers:
        assert keys.shape[0] == 1 and keys.shape[2] == n and values.shape[2] == n
    head = tiny._prefix.head(n - 5)
    for (keys, _), (full, _) in zip(head, tiny._prefix.layers, strict=True):
        assert torch.equal(keys, full[:, :, : n - 5])


# -- decoding -------------------------------------------------------------------------------------
def _prompts(questions: list[str] = QUESTIONS) -> list[str]:
    return [EXAMPLES + "\n\n" + q for q in questions]


def _decode(backend: HFBackend, prompts: list[str], **sampling: Any) -> list[Generation]:
    return backend.generate(
        [GenerateRequest(prompt=p, sampling=Sampling(**sampling)) for p in prompts]
    )


def _same_generations(got: list[Generation], want: list[Generation]) -> None:
    for g, w in zip(got, want, strict=True):
        assert (g.text, g.completion_tokens, g.finish_reason, g.prompt_tokens) == (
            w.text,
            w.completion_tokens,
            w.finish_reason,
            w.prompt_tokens,
        )


def test_greedy_decoding_over_the_prefix_equals_decoding_without_it(
    lively_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, plain = hf_backend(lively_dir), hf_backend(lively_dir, prefix_reuse=False)
    prompts = _prompts()
    want = _decode(plain, prompts, max_tokens=12, stop=(".",))
    passes = _Passes(shared, monkeypatch)
    got = _decode(shared, prompts[:2], max_tokens=12, stop=(".",))
    got += _decode(shared, prompts[2:], max_tokens=12, stop=(".",))
    _same_generations(got, want)
    assert len({g.text for g in want}) > 1 and any(g.completion_tokens > 1 for g in want)
    # The second call starts over the kept prefix: its first pass runs only the rows' own tokens.
    prefix = len(shared._prefix.tokens)
    assert prefix >= MIN_TOKENS
    second = next(i for i, (shape, past) in enumerate(passes.calls) if shape[0] == 3)
    shape, past = passes.calls[second]
    assert past == prefix and shape[1] == max(p.prompt_tokens for p in want[2:]) - prefix


def test_one_prompt_decodes_over_the_kept_prefix(lively_dir: Path) -> None:
    shared, plain = hf_backend(lively_dir), hf_backend(lively_dir, prefix_reuse=False)
    prompts = _prompts()
    _decode(shared, prompts[:2], max_tokens=2)  # keeps the prefix
    for seed in (1, 2):
        sampled = {"max_tokens": 8, "temperature": 0.8, "seed": seed}
        _same_generations(
            _decode(shared, prompts[2:3], **sampled), _decode(plain, prompts[2:3], **sampled)
        )
    _same_generations(
        _decode(shared, prompts[3:4], max_tokens=8), _decode(plain, prompts[3:4], max_tokens=8)
    )


def test_schema_constrained_decoding_over_the_prefix(lively_dir: Path) -> None:
    schema = '{"type":"object","properties":{"answer":{"enum":["yes","no","maybe"]}},"required":["answer"],"additionalProperties":false}'
    shared, plain = hf_backend(lively_dir), hf_backend(lively_dir, prefix_reuse=False)
    prompts = _prompts()
    got = _decode(shared, prompts, max_tokens=20, json_schema=schema)
    _same_generations(got, _decode(plain, prompts, max_tokens=20, json_schema=schema))
    assert all(g.constrained and g.text.startswith("{") for g in got)
