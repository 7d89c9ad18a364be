"""Model cards: what a model is, what it needs, and whether it fits here, without loading it.

Each provider builds the card of its own models (its ``card`` builder in
:mod:`assay.models.registry`), in well under a second:

- a GGUF file: its metadata and tensor shapes (:mod:`assay.models.card_gguf`);
- a transformers folder: ``config.json``, the safetensors headers (shapes and dtypes, never the
  tensor data), ``tokenizer_config.json`` and ``README.md`` (:mod:`assay.models.card_folder`);
- ``run:`` models: the run folder and its training record; ``openai:`` models: the server's
  ``/v1/models`` entry; any other backend (``fake:``, a plugin's): what the backend says about
  itself (:mod:`assay.models.card_backend`).

Memory is then estimated per dtype with the KV cache at a chosen context and batch, and judged
against this machine's free RAM and free GPU memory (:mod:`assay.models.memory`).

    >>> import assay
    >>> card = assay.model_card("default")
    >>> card.parameters_human, card.layers, card.instruction_tuned
    ('134.5M', 30, 'yes')
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, computed_field

from assay.errors import UserError
from assay.models.memory import (
    DeviceMemory,
    MemoryEstimate,
    Verdict,
    detect_devices,
    estimate,
    format_count,
    judge,
)

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.workspace import Workspace

InstructionTuned = Literal["yes", "no", "unknown"]


class TypeCount(BaseModel):
    tensors: int
    parameters: int


class FileInfo(BaseModel):
    name: str
    """Relative to the model folder (or the file name of a GGUF)."""
    bytes: int


class ModelCard(BaseModel):
    """Everything assay can say about a model without loading its weights."""

    address: str
    """As given (an alias, a path or ``provider:name``)."""
    resolved: str
    """The ``provider:name`` address it resolved to."""
    provider: str
    path: str | None = None
    name: str
    format: Literal["gguf", "safetensors", "pytorch", "none", "api", "fake", "backend"]
    """``backend``: described by a backend itself (a plugin's), no files read."""
    generative: bool | None = None
    """True for text generators (causal LMs), False for encoders; None when unknown."""
    architecture: str | None = None
    """GGUF ``general.architecture`` or config ``model_type`` (``llama``, ``bert``)."""
    architecture_class: str | None = None
    """The transformers class in ``config.json`` (``LlamaForCausalLM``)."""

    parameters: int | None = None
    parameters_source: str = ""
    tied_embeddings: bool | None = None
    """Input and output embeddings share one stored tensor (counted once); None when unknown."""
    layers: int | None = None
    hidden_size: int | None = None
    attention_heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    vocab_size: int | None = None
    context_length: int | None = None

    dtype: str | None = None
    """The storage type holding most parameters (``Q4_1``, ``float32``, ``bfloat16``)."""
    quantization: str | None = None
    """GGUF file type (``Q4_1``) or the folder's ``quantization_config``; None when unquantised."""
    tensor_types: dict[str, TypeCount] = Field(default_factory=dict)
    files: list[FileInfo] = Field(default_factory=list)
    size_bytes: int = 0

    license: str | None = None
    license_source: str | None = None
    chat_template: bool = False
    accepts_images: bool = False
    """A vision-language model (its config has a vision tower): prompts may carry images."""
    instruction_tuned: InstructionTuned = "unknown"
    instruction_evidence: list[str] = Field(default_factory=list)

    memory: MemoryEstimate | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    """One per device of this machine (RAM, then each CUDA GPU)."""

    readme: str | None = None
    """README.md without its YAML front matter (that is in ``readme_metadata``)."""
    readme_metadata: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Source-specific extras: GGUF ``general.*`` keys, the API's model entry, a conversion record."""
    transformers_folder: str | None = None
    """For a GGUF file: the safetensors folder assay converted it to (in the workspace), which
    transformers-based tools (lm-evaluation-harness, vLLM, PEFT) can load; None until converted
    (``assay models convert``)."""
    notes: list[str] = Field(default_factory=list)
    elapsed_s: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def parameters_human(self) -> str | None:
        return None if self.parameters is None else format_count(self.parameters)


# -- entry point ---------------------------------------------------------------------------------
LOCAL_FORMATS = ("gguf", "safetensors", "pytorch", "none")
"""Cards of files on this machine: their memory is estimated and judged against its devices."""


@dataclass(frozen=True)
class CardRequest:
    """What a provider's card builder is given: the address as asked and resolved, its name part
    (after ``provider:``), the settings and the workspace."""

    address: str
    resolved: str
    provider: str
    name: str
    settings: Settings
    workspace: Workspace


def model_card(
    address: str = "default",
    *,
    context: int | None = None,
    batch: int = 1,
    settings: Settings | None = None,
    workspace: Workspace | None = None,
    devices: Sequence[DeviceMemory] | None = None,
) -> ModelCard:
    """The card of a model, read from its files' headers (no weights are loaded).

    ``context`` (default: the model's context length) and ``batch`` size the KV cache.
    ``devices`` replaces this machine's free memory (for tests and "would it fit there?").
    """
    from assay.config import load_settings
    from assay.models.registry import card_builder, resolve_alias, split_address
    from assay.workspace import Workspace

    start = time.perf_counter()
    if batch < 1:
        raise UserError(f"batch must be at least 1, got {batch}")
    if context is not None and context < 1:
        raise UserError(f"context must be at least 1 token, got {context}")
    workspace = workspace or Workspace.find()
    settings = settings or load_settings(workspace.config_path)
    resolved = resolve_alias(address, settings.aliases)
    provider, name = split_address(resolved)
    build = card_builder(provider)
    card = build(CardRequest(address, resolved, provider, name, settings, workspace))
    if card.format in LOCAL_FORMATS:
        _add_memory(card, settings, context, batch, devices)
    card.elapsed_s = round(time.perf_counter() - start, 4)
    return card


# -- memory --------------------------------------------------------------------------------------
def _load_plan(card: ModelCard, settings: Settings, device: DeviceMemory) -> tuple[str, str]:
    """The memory row matching how the card's backend would load the model on ``device``,
    and that reason in words."""
    where = "on CPU" if device.name == "RAM" else f"on {device.name}"
    if card.provider == "gguf":
        return "stored", f"llama.cpp {where}"
    chosen = settings.dtype
    if chosen == "float32":
        return "fp32", f"dtype float32 {where}"
    if chosen in ("bfloat16", "float16"):
        return "bf16", f"dtype {chosen} {where}"
    # "auto": float32 on CPU (bf16 is slow on many CPUs), bf16 on a GPU
    unpacked = ", dequantised" if card.format == "gguf" else ""
    if device.name == "RAM":
        return "fp32", f"how hf: loads it {where}{unpacked}"
    return "bf16", f"how hf: loads it {where}{unpacked}"


def _add_memory(
    card: ModelCard,
    settings: Settings,
    context: int | None,
    batch: int,
    devices: Sequence[DeviceMemory] | None,
) -> None:
    ctx = context or card.context_length
    if context and card.context_length and context > card.context_length:
        card.notes.append(
            f"--context-tokens {context} is longer than the model's context of {card.context_length}"
        )
    stored = card.metadata.get("tensor_data_bytes") if card.format == "gguf" else None
    card.memory = estimate(
        card.parameters,
        layers=card.layers,
        kv_heads=card.kv_heads,
        head_dim=card.head_dim,
        context=ctx,
        batch=batch,
        stored_bytes=stored,
        stored_label=card.quantization,
        has_kv_cache=card.generative is not False,
    )
    if card.parameters is None:
        return
    if card.memory.kv_bytes_per_token is None and card.generative is not False:
        card.notes.append("KV cache unknown: layers, KV heads or head size missing")
    for device in detect_devices() if devices is None else devices:
        dtype, how = _load_plan(card, settings, device)
        verdict = judge(card.memory, dtype, device, how=how, gguf_available=stored is not None)
        if verdict is not None:
            card.verdicts.append(verdict)


def render_card(card: ModelCard, readme_lines: int | None = None) -> str:
    """A compact, aligned card for the terminal (ASCII only); see :mod:`assay.models.card_render`."""
    from assay.models import card_render

    if readme_lines is None:
        return card_render.render_card(card)
    return card_render.render_card(card, readme_lines)


def read_safetensors_header(path: Any) -> dict[str, Any]:
    """The JSON header of a safetensors file (see :mod:`assay.models.card_files`)."""
    from assay.models.card_files import read_safetensors_header as read

    return read(path)


__all__ = [
    "CardRequest",
    "FileInfo",
    "ModelCard",
    "TypeCount",
    "model_card",
    "read_safetensors_header",
    "render_card",
]
