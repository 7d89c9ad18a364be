"""The transformers backend on tiny random Llamas with the real SmolLM2 tokenizer (fast).

``tiny_model_dir`` (conftest) has small, tied weights: greedy decoding repeats the last token. The
"lively" model here has larger, untied random weights, so greedy decoding wanders through the
vocabulary and comparisons with transformers and between batch shapes mean something.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import pytest
import torch

import assay
from assay.config import Settings
from assay.errors import ConfigError, ContextLengthError, InvalidModelFileError, ModelNotFoundError
from assay.models import fingerprint as fp
from assay.models import gguf_convert
from assay.models.hf import HFBackend, pick_device, pick_dtype, rolling_windows
from assay.models.types import GenerateRequest, Generation, LoglikelihoodRequest, Message, Sampling
from assay.workspace import Workspace
from tiny_models import save_tiny_llama

PROMPTS = [
    "Hello",
    "The quick brown fox jumps over the lazy dog and then",
    "A",
    "Once upon a time, in a land far away, there lived a",
    "1 2 3 4",
]


def _build_llama(out: Path, tokenizer_dir: Path, **overrides: Any) -> Path:
    """Untied weights with a wide initialisation: sharper distributions than the tiny model."""
    settings: dict[str, Any] = {"tie_word_embeddings": False, "initializer_range": 0.2}
    return save_tiny_llama(out, tokenizer_dir, **{**settings, **overrides})


@pytest.fixture(scope="module")
def lively_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    return _build_llama(tmp_path_factory.mktemp("lively-llama"), smollm2_tokenizer_dir)


@pytest.fixture(scope="module")
def short_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    """A 16-token context, so texts longer than the context are cheap."""
    return _build_llama(
        tmp_path_factory.mktemp("short-llama"), smollm2_tokenizer_dir, max_position_embeddings=16
    )


def _backend(folder: Path) -> HFBackend:
    return HFBackend(folder, name=str(folder), address=f"hf:{folder}", settings=Settings())


@pytest.fixture(scope="module")
def lively(lively_dir: Path) -> HFBackend:
    return _backend(lively_dir)


@pytest.fixture(scope="module")
def short(short_dir: Path) -> HFBackend:
    return _backend(short_dir)


@pytest.fixture(scope="module")
def reference(lively_dir: Path) -> tuple[Any, Any]:
    """The lively model and tokenizer loaded straight from transformers, independently."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(lively_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(lively_dir)


def _req(prompt: str | tuple[Message, ...], **sampling: object) -> GenerateRequest:
    return GenerateRequest(prompt=prompt, sampling=Sampling(**sampling))  # type: ignore[arg-type]


def _tokens(gen: Generation) -> list[str]:
    assert gen.logprobs is not None
    return [t.token for t in gen.logprobs]


# -- loading, identity ---------------------------------------------------------------------------
def test_load_through_facade(tiny_model_dir: Path) -> None:
    model = assay.load(f"hf:{tiny_model_dir}")
    assert model.context_length == 512
    info = model.info()
    assert info.provider == "hf" and info.chat_template
    assert info.details["source"] == "folder"
    assert info.details["device"] == "cpu" and info.details["dtype"] == "float32"
    assert info.details["architecture"] == "LlamaForCausalLM"
    assert 1_000_000 < info.details["parameters"] < 10_000_000
    assert model.fingerprint == fp.weights_fingerprint(tiny_model_dir)
    gen = model.generate("Hello", max_tokens=5)[0]
    assert gen.completion_tokens == 5 and gen.finish_reason == "length"
    assert gen.prompt_tokens == model.count_tokens("Hello")


def test_second_call_through_facade_is_a_cache_hit(tiny_model_dir: Path) -> None:
    model = assay.load(f"hf:{tiny_model_dir}")
    first = model.generate(["Hi there", "Bye"], max_tokens=4)
    again = model.generate(["Hi there", "Bye"], max_tokens=4)
    assert [g.text for g in again] == [g.text for g in first]
    assert not any(g.cached for g in first) and all(g.cached for g in again)
    ll = model.loglikelihood([("The cat", " sat")])
    assert model.loglikelihood([("The cat", " sat")]) == ll


def test_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelNotFoundError, match=r"is not a model folder: no config\.json"):
        assay.load(f"hf:{tmp_path}")


def test_file_that_is_not_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04 this is a zip file")
    with pytest.raises(InvalidModelFileError, match="not a GGUF file"):
        assay.load(f"hf:{bogus}")


def test_truncated_gguf_fails_before_converting(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 10)
    with pytest.raises(InvalidModelFileError, match="not a valid GGUF file"):
        assay.load(f"hf:{truncated}")
    assert not list(Workspace.find().dir("conversions").glob("*/assay_conversion.json"))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        assay.load(f"hf:{tmp_path / 'nothing-here'}")


def test_device_and_dtype_choice() -> None:
    if not torch.cuda.is_available():
        assert pick_device("auto").type in ("cpu", "mps")
        with pytest.raises(ConfigError, match="not available"):
            pick_device("cuda")
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert pick_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16


# -- generation ----------------------------------------------------------------------------------
def test_greedy_equals_transformers_generate(lively: HFBackend, reference: tuple[Any, Any]) -> None:
    model, tok = reference
    chat = (Message(role="user", content="What is two plus two?"),)
    prompts: list[str | tuple[Message, ...]] = [*PROMPTS, chat]
    for prompt in prompts:
        if isinstance(prompt, str):
            enc = tok(prompt, return_tensors="pt")
        else:
            enc = tok.apply_chat_template(
                [m.model_dump() for m in prompt],
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
            )
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=False, max_new_tokens=24)
        new = out[0, enc["input_ids"].shape[1] :].tolist()
        gen = lively.generate([_req(prompt, max_tokens=24, logprobs=True)])[0]
        assert _tokens(gen) == [tok.decode([t]) for t in new]
        assert gen.text == tok.decode(new, skip_special_tokens=True)
        assert gen.prompt_tokens == enc["input_ids"].shape[1]


def test_batched_equals_unbatched(lively: HFBackend) -> None:
    requests = [_req(p, max_tokens=8 + 4 * i, logprobs=True) for i, p in enumerate(PROMPTS)]
    batched = lively.generate(requests)
    alone = [lively.generate([r])[0] for r in requests]
    assert [_tokens(g) for g in batched] == [_tokens(g) for g in alone]
    assert [g.text for g in batched] == [g.text for g in alone]
    assert [g.completion_tokens for g in batched] == [8 + 4 * i for i in range(len(PROMPTS))]
    for a, b in zip(batched, alone, strict=True):
        assert a.logprobs is not None and b.logprobs is not None
        for x, y in zip(a.logprobs, b.logprobs, strict=True):
            assert x.logprob == pytest.approx(y.logprob, abs=1e-4)


def test_sampling_is_reproducible_per_seed(lively: HFBackend) -> None:
    request = _req("Once upon a time", max_tokens=12, temperature=1.0, seed=7)
    first = lively.generate([request])[0].text
    assert lively.generate([request])[0].text == first
    # The same request next to others (even other sampled ones) gives the same text.
    mixed = lively.generate(
        [_req("Hello", max_tokens=5), request, _req("Hi", max_tokens=4, temperature=0.8)]
    )
    assert mixed[1].text == first
    assert (
        lively.generate([_req("Once upon a time", max_tokens=12, temperature=1.0, seed=8)])[0].text
        != first
    )
    # Sampling does not disturb the caller's random state.
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    lively.generate([request])
    assert torch.equal(torch.rand(1), expected)


def test_n_samples_differ_and_repeat(lively_dir: Path) -> None:
    model = assay.load(f"hf:{lively_dir}")
    gens = model.generate("Once upon a time", max_tokens=10, temperature=1.0, seed=1, n=3)
    assert [g.sample_index for g in gens] == [0, 1, 2]
    assert len({g.text for g in gens}) == 3
    fresh = assay.load(f"hf:{lively_dir}", settings=Settings(cache=False))
    again = fresh.generate("Once upon a time", max_tokens=10, temperature=1.0, seed=1, n=3)
    assert [g.text for g in again] == [g.text for g in gens]


def test_top_p_restricts_sampling(lively: HFBackend) -> None:
    greedy = lively.generate([_req("Hello", max_tokens=6)])[0].text
    # With a tiny nucleus only the most likely token survives: sampling becomes greedy.
    sampled = lively.generate([_req("Hello", max_tokens=6, temperature=1.0, top_p=1e-6, seed=3)])
    assert sampled[0].text == greedy


def _pick_stop(text: str, pieces: list[str]) -> str:
    """A generated piece from the middle of ``text`` to use as a stop string."""
    for piece in pieces[4:]:
        if len(piece.strip()) >= 2 and piece.strip() in text and text.index(piece.strip()) > 0:
            return piece.strip()
    raise AssertionError(f"no usable stop string in {text!r}")


def test_stop_sequences(lively: HFBackend) -> None:
    free = lively.generate([_req("Once upon a time", max_tokens=20, logprobs=True)])[0]
    stop = _pick_stop(free.text, _tokens(free))
    cut = free.text.index(stop)
    gen = lively.generate([_req("Once upon a time", max_tokens=20, stop=(stop, "never-there"))])[0]
    assert gen.text == free.text[:cut]
    assert gen.finish_reason == "stop"
    assert gen.completion_tokens < 20
    # In a batch, a stopped row does not stop the others.
    both = lively.generate(
        [_req("Once upon a time", max_tokens=20, stop=(stop,)), _req("Hello", max_tokens=20)]
    )
    assert both[0].text == gen.text
    assert both[1].completion_tokens == 20 and both[1].finish_reason == "length"


def test_eos_ends_a_row(
    lively: HFBackend, reference: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tok = reference
    enc = tok("Hello", return_tensors="pt")
    with torch.inference_mode():
        new = model.generate(**enc, do_sample=False, max_new_tokens=12)[
            0, enc["input_ids"].shape[1] :
        ]
    eos = int(new[3])
    first = new.tolist().index(eos)
    monkeypatch.setattr(lively, "eos_ids", {eos})
    gen = lively.generate([_req("Hello", max_tokens=12)])[0]
    assert gen.finish_reason == "stop"
    assert gen.completion_tokens == first + 1
    assert gen.text == tok.decode(new[:first], skip_special_tokens=True)


def test_max_tokens_gives_finish_reason_length(lively: HFBackend) -> None:
    gen = lively.generate([_req("Hello", max_tokens=7)])[0]
    assert gen.completion_tokens == 7 and gen.finish_reason == "length"


def test_generation_is_capped_at_the_context(short: HFBackend) -> None:
    prompt = "one two three four five six seven eight nine ten"
    n = short.count_tokens(prompt)
    assert 8 < n < 16
    gen = short.generate([_req(prompt, max_tokens=50), _req("Hi", max_tokens=50)])
    assert gen[0].completion_tokens == 16 - n and gen[0].finish_reason == "length"
    assert gen[1].completion_tokens == 16 - short.count_tokens("Hi")
    with pytest.raises(ContextLengthError):
        short.generate([_req(prompt * 2, max_tokens=5)])


def test_logprobs(lively: HFBackend, reference: tuple[Any, Any]) -> None:
    model, tok = reference
    gen = lively.generate([_req("Hello", max_tokens=6, logprobs=True)])[0]
    assert gen.logprobs is not None and len(gen.logprobs) == 6
    assert all(t.logprob <= 0 for t in gen.logprobs)
    joined = "".join(t.token for t in gen.logprobs)
    if "\ufffd" not in joined:  # tokens that split a character do not decode alone
        assert joined == gen.text
    # Greedy picked the most likely first token: its logprob is the top of the distribution.
    with torch.inference_mode():
        logits = model(**tok("Hello", return_tensors="pt")).logits[0, -1].float()
    assert gen.logprobs[0].logprob == pytest.approx(
        float(torch.log_softmax(logits, -1).max()), abs=1e-4
    )
    assert lively.generate([_req("Hello", max_tokens=6)])[0].logprobs is None


def test_stream_matches_generate(lively: HFBackend) -> None:
    request = _req("Once upon a time", max_tokens=16)
    pieces = list(lively.stream(request))
    assert len(pieces) > 1
    assert "".join(pieces) == lively.generate([request])[0].text
    free = lively.generate([_req("Once upon a time", max_tokens=16, logprobs=True)])[0]
    stop = _pick_stop(free.text, _tokens(free))
    stopped = _req("Once upon a time", max_tokens=16, stop=(stop,))
    assert "".join(lively.stream(stopped)) == lively.generate([stopped])[0].text
    # Abandoning a stream early releases the model.
    stream = cast(Generator[str, None, None], lively.stream(request))
    next(stream)
    stream.close()
    assert lively.generate([_req("Hi", max_tokens=2)])[0].completion_tokens == 2


def test_chat_rendering(tiny_model_dir: Path, tmp_path: Path) -> None:
    backend = _backend(tiny_model_dir)
    chat = (Message(role="user", content="What is 2+2?"),)
    text = backend.render_chat(chat)
    assert text.endswith("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
    assert not backend.render_chat(chat, add_generation_prompt=False).endswith("assistant\n")
    gen = backend.generate([_req(chat, max_tokens=3)])[0]
    assert gen.prompt_tokens == backend.count_tokens(text)
    # A tokenizer without a chat template falls back to the documented plain format.
    plain_dir = tmp_path / "no-template"
    shutil.copytree(tiny_model_dir, plain_dir)
    (plain_dir / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((plain_dir / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain_dir / "tokenizer_config.json").write_text(json.dumps(config))
    plain = _backend(plain_dir)
    assert plain.render_chat(chat) == "User: What is 2+2?\nAssistant:"
    assert not plain.info().chat_template


# -- scoring -------------------------------------------------------------------------------------
def _direct_loglikelihood(
    model: Any, tok: Any, context: str, continuation: str
) -> tuple[float, bool, int]:
    """lm-eval's recipe, written out for one pair with an unbatched forward pass."""
    if context:
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole = tok(context + continuation)["input_ids"]
        ctx = tok(context)["input_ids"]
        cont = whole[len(ctx) :]
    else:
        ctx = [tok.bos_token_id]
        cont = tok(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ctx + cont])
    with torch.inference_mode():
        logits = model(ids).logits[0].float()
    logprobs = torch.log_softmax(logits[len(ctx) - 1 : -1], dim=-1)
    target = torch.tensor(cont)
    total = float(logprobs.gather(1, target[:, None]).sum())
    return total, bool((logprobs.argmax(-1) == target).all()), len(cont)


LL_PAIRS = [
    ("The capital of France is", " Paris"),
    ("The capital of France is ", "Paris"),  # whitespace moves to the continuation
    ("Question: what is 2+2?\nAnswer:", " 4"),
    ("", "Hello world"),  # empty context: the prefix token
    ("A much longer context sentence that goes on for a while before the answer", " arrives here"),
    ("x", ""),
]


def test_loglikelihood_matches_direct_forward(
    lively: HFBackend, reference: tuple[Any, Any]
) -> None:
    model, tok = reference
    results = lively.loglikelihood(
        [LoglikelihoodRequest(context=c, continuation=x) for c, x in LL_PAIRS]
    )
    for (context, continuation), got in zip(LL_PAIRS, results, strict=True):
        if not continuation:
            assert got.logprob == 0.0 and got.n_tokens == 0
            continue
        total, greedy, n = _direct_loglikelihood(model, tok, context, continuation)
        assert got.logprob == pytest.approx(total, abs=1e-5)
        assert got.is_greedy == greedy and got.n_tokens == n
    # The whitespace boundary gives the same tokens either way here.
    assert results[0].logprob == pytest.approx(results[1].logprob, abs=1e-5)


def test_is_greedy_for_the_greedy_continuation(lively: HFBackend) -> None:
    gen = lively.generate([_req("The capital of France is", max_tokens=3)])[0]
    ll = lively.loglikelihood(
        [LoglikelihoodRequest(context="The capital of France is", continuation=gen.text)]
    )[0]
    assert ll.is_greedy


def test_rolling_window_layout() -> None:
    tokens = list(range(10, 20))
    windows = rolling_windows(tokens, prefix_token=1, max_len=4)
    assert windows == [
        ([1], [10, 11, 12, 13]),
        ([13], [14, 15, 16, 17]),
        ([15, 16, 17], [18, 19]),
    ]
    assert [t for _, cont in windows for t in cont] == tokens
    assert rolling_windows([], 1, 4) == []


def test_loglikelihood_rolling_sums_windows(short: HFBackend, short_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(short_dir, dtype=torch.float32).eval()
    text = "It was the best of times, it was the worst of times, it was the age of wisdom, " * 2
    tokens = short.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(tokens) > 2 * 16
    expected = 0.0
    for context, continuation in rolling_windows(tokens, short.tokenizer.bos_token_id, 16):
        ids = (context + continuation)[-17:][:-1]
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
        rows = logprobs[len(ids) - len(continuation) :]
        expected += float(rows.gather(1, torch.tensor(continuation)[:, None]).sum())
    got = short.loglikelihood_rolling([text, "short text", ""])
    assert got[0].logprob == pytest.approx(expected, abs=1e-4)
    assert got[0].n_tokens == len(tokens)
    # A text that fits in one window is scored like a continuation of the prefix token.
    ll = short.loglikelihood([LoglikelihoodRequest(context="", continuation="short text")])[0]
    assert got[1].logprob == pytest.approx(ll.logprob, abs=1e-5)
    assert got[2].logprob == 0.0 and got[2].n_tokens == 0


def test_prompt_logprobs_consistent_with_loglikelihood(lively: HFBackend) -> None:
    context, continuation = "The capital of France is", " Paris, of course"
    scores = lively.prompt_logprobs([context + continuation, "Hello"], top=3)
    first = scores[0]
    assert first[0].logprob is None and first[0].top == {} and first[0].offset == 0
    assert all(s.logprob is not None and len(s.top) <= 3 for s in first[1:])
    assert [s.offset for s in first] == sorted(s.offset for s in first)
    assert "".join(s.token for s in first) == context + continuation
    tail = sum(s.logprob for s in first if s.offset >= len(context) and s.logprob is not None)
    ll = lively.loglikelihood([LoglikelihoodRequest(context=context, continuation=continuation)])[0]
    assert tail == pytest.approx(ll.logprob, abs=1e-4)
    for s in first[1:]:
        assert s.logprob is not None and s.logprob <= max(s.top.values()) + 1e-6
    assert len(scores[1]) == lively.count_tokens("Hello")
    assert lively.prompt_logprobs([""]) == [[]]


# -- fingerprints and conversions ----------------------------------------------------------------
def test_file_hash_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path / "ws")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights v1")
    calls: list[Path] = []
    real = fp._hash_file

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(fp, "_hash_file", counting)
    first = fp.file_sha256(weights, ws)
    assert fp.file_sha256(weights, ws) == first
    assert len(calls) == 1
    row = ws.db.execute("SELECT * FROM file_hashes WHERE path = ?", (str(weights),)).fetchone()
    assert row["sha256"] == first and row["size"] == len(b"weights v1")
    weights.write_bytes(b"weights v2!")
    assert fp.file_sha256(weights, ws) != first
    assert len(calls) == 2
    # A folder's fingerprint is over its weight files' hashes, which are cached too.
    folder_fp = fp.weights_fingerprint(tmp_path, ws)
    assert fp.weights_fingerprint(tmp_path, ws) == folder_fp
    assert len(calls) == 2


def test_converted_folder_keeps_the_gguf_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (tmp_path / "assay_conversion.json").write_text(json.dumps({"sha256": "ab" * 32}))
    assert fp.weights_fingerprint(tmp_path) == "ab" * 32


def _fake_write(gguf_path: Path, out: Path) -> None:
    (out / "config.json").write_text("{}")


def test_conversion_is_atomic_and_cached(
    smollm2_gguf: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = Workspace(tmp_path / "ws")
    sha = "cd" * 32
    final = gguf_convert.conversion_dir(ws, sha)
    final.mkdir()  # an empty leftover under the final name is not a finished conversion
    stale = final.parent / ".partial" / "stale"
    stale.mkdir(parents=True)
    old = time.time() - 2 * gguf_convert.STALE_PARTIAL_S
    os.utime(stale, (old, old))

    class Killed(Exception):
        pass

    def failing(gguf_path: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise Killed

    monkeypatch.setattr(gguf_convert, "_write_model", failing)
    with pytest.raises(Killed):
        gguf_convert.convert_gguf(smollm2_gguf, sha, ws)
    assert not gguf_convert.is_complete(final)
    assert not stale.exists() and list((final.parent / ".partial").iterdir()) == []

    monkeypatch.setattr(gguf_convert, "_write_model", _fake_write)
    capsys.readouterr()
    assert gguf_convert.convert_gguf(smollm2_gguf, sha, ws) == final
    assert (
        "converting SmolLM2-135M-Instruct.Q4_1.gguf to safetensors once" in capsys.readouterr().err
    )
    meta = json.loads((final / "assay_conversion.json").read_text())
    assert meta["sha256"] == sha and meta["file_name"] == smollm2_gguf.name
    assert meta["source"] == str(smollm2_gguf.resolve())
    assert meta["quantization"]["file_type"] == "Q4_1"
    assert meta["quantization"]["tensor_types"]["Q4_1"] > 0
    assert meta["license"] == "apache-2.0" and meta["converted_at"]
    assert [p.parent.name for p in final.parent.glob("*/assay_conversion.json")] == [sha]

    monkeypatch.setattr(gguf_convert, "_write_model", failing)  # never called again
    assert gguf_convert.convert_gguf(smollm2_gguf, sha, ws) == final
    assert capsys.readouterr().err == ""


def test_losing_a_conversion_race_keeps_the_winner(
    smollm2_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws")
    sha = "ef" * 32
    final = gguf_convert.conversion_dir(ws, sha)

    def racing(gguf_path: Path, out: Path) -> None:
        # Another process finishes first while this one is still writing.
        final.mkdir()
        (final / "config.json").write_text('{"winner": true}')
        (final / "assay_conversion.json").write_text("{}")
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(gguf_convert, "_write_model", racing)
    assert gguf_convert.convert_gguf(smollm2_gguf, sha, ws, quiet=True) == final
    assert json.loads((final / "config.json").read_text()) == {"winner": True}
    assert list((final.parent / ".partial").iterdir()) == []
