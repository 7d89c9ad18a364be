"""Model cards: what a model is, what it needs, and whether it fits here, without loading it.

A card is read from the files' headers in well under a second:

- a GGUF file: its metadata and tensor shapes (:mod:`assay.models.gguf_meta`);
- a transformers folder: ``config.json``, the safetensors headers (shapes and dtypes, never the
  tensor data), ``tokenizer_config.json`` and ``README.md``;
- ``openai:`` models: the server's ``/v1/models`` entry; ``fake:`` models: a trivial card.

Parameters are counted from the stored tensor shapes, each stored tensor once (tied input and
output embeddings are stored once, and counted once). Memory is estimated per dtype with the KV
cache at a chosen context and batch, and judged against this machine's free RAM and free GPU
memory (:mod:`assay.models.memory`).

    >>> import assay
    >>> card = assay.model_card("default")
    >>> card.parameters_human, card.layers, card.instruction_tuned
    ('134.5M', 30, 'yes')
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, computed_field

from assay.errors import (
    BackendError,
    InvalidModelFileError,
    MissingAPIKeyError,
    ModelNotFoundError,
    ServerUnreachableError,
    UserError,
)
from assay.models.hub import repo_of_snapshot
from assay.models.memory import (
    TIGHT_FRACTION,
    DeviceMemory,
    MemoryEstimate,
    Verdict,
    detect_devices,
    estimate,
    format_bytes,
    format_count,
    judge,
    status_for,
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
    format: Literal["gguf", "safetensors", "pytorch", "none", "api", "fake"]
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
    from assay.models.registry import local_path, provider_hook, resolve_alias, split_address
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

    if provider == "fake":
        card = _fake_card(address, resolved, name, settings, workspace)
    elif provider == "openai":
        card = _api_card(address, resolved, name, settings)
    else:
        provider_card = provider_hook(provider, "card")
        if provider_card is not None:
            card = provider_card(name, address=address, resolved=resolved, workspace=workspace)
        else:
            path = local_path(name)
            card = _local_card(path, address=address, resolved=resolved, provider=provider)
        if card.format == "gguf":
            _add_transformers_folder(card, workspace)
        _add_memory(card, settings, context, batch, devices)
    card.elapsed_s = round(time.perf_counter() - start, 4)
    return card


def _local_card(path: Path, *, address: str, resolved: str, provider: str) -> ModelCard:
    from assay.models.gguf_meta import is_gguf

    common: dict[str, Any] = {"address": address, "resolved": resolved, "provider": provider}
    if path.is_dir():
        if (path / "config.json").is_file():
            return _folder_card(path, **common)
        gguf = _single_gguf(path)
        if gguf is not None:
            return _gguf_card(gguf, **common)
        raise ModelNotFoundError(
            f"'{path}' is not a model folder: it has no config.json and no .gguf file",
            hint="give a transformers model folder (config.json + *.safetensors) or a .gguf file",
        )
    if is_gguf(path) or path.suffix.lower() == ".gguf":
        return _gguf_card(path, **common)  # a .gguf that is not GGUF fails here, clearly
    if path.name == "config.json" or path.suffix == ".safetensors":
        return _folder_card(path.parent, **common)
    raise InvalidModelFileError(
        f"'{path.name}' is neither a GGUF file nor a model folder",
        hint="give a .gguf file or a folder with config.json",
    )


def _single_gguf(folder: Path) -> Path | None:
    from assay.models.gguf_meta import split_parts

    found = sorted(folder.glob("*.gguf"))
    if not found:
        return None
    firsts = [p for p in found if split_parts(p)[0] == p] if len(found) > 1 else found
    if len(firsts) == 1:
        return firsts[0]
    names = ", ".join(p.name for p in found[:6])
    raise ModelNotFoundError(
        f"'{folder}' holds {len(found)} .gguf files; name the one you mean", hint=names
    )


# -- GGUF ----------------------------------------------------------------------------------------
def _gguf_card(path: Path, *, address: str, resolved: str, provider: str) -> ModelCard:
    from assay.models.gguf_meta import ArrayInfo, file_type_name, read_gguf_header

    header = read_gguf_header(path)
    hist: dict[str, TypeCount] = {}
    for t in header.tensors:
        entry = hist.setdefault(t.type_name, TypeCount(tensors=0, parameters=0))
        entry.tensors += 1
        entry.parameters += t.n_elements
    hist = dict(sorted(hist.items(), key=lambda kv: -kv[1].parameters))

    heads = _as_int(header.arch_key("attention.head_count"))
    hidden = _as_int(header.arch_key("embedding_length"))
    head_dim = _as_int(header.arch_key("attention.key_length"))
    if head_dim is None and hidden and heads:
        head_dim = hidden // heads
    file_type = header.get("general.file_type")
    quant = file_type_name(file_type) if isinstance(file_type, int) else None
    dtype = next(iter(hist), None)
    chat_template = any(
        k == "tokenizer.chat_template" or k.startswith("tokenizer.chat_template.")
        for k in header.metadata
    )
    license_ = header.get("general.license") or header.get("general.license.name")
    if isinstance(license_, list):
        license_ = ", ".join(str(x) for x in license_)
    files = [FileInfo(name=p.name, bytes=p.stat().st_size) for p in header.files]
    meta = {
        k: v
        for k, v in header.metadata.items()
        if not k.startswith("tokenizer.") and not isinstance(v, ArrayInfo)
    }
    meta["gguf.version"] = header.version
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre"):
        if key in header.metadata:
            meta[key] = header.metadata[key]

    card = ModelCard(
        address=address,
        resolved=resolved,
        provider=provider,
        path=str(path),
        name=_strip_suffixes(path.name),
        format="gguf",
        generative=True,
        architecture=header.get("general.architecture"),
        parameters=sum(t.n_elements for t in header.tensors),
        parameters_source=f"counted from {len(header.tensors)} tensors in the GGUF header",
        layers=_as_int(header.arch_key("block_count")),
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=_as_int(header.arch_key("attention.head_count_kv")) or heads,
        head_dim=head_dim,
        vocab_size=_as_int(header.arch_key("vocab_size"))
        or header.array_length("tokenizer.ggml.tokens"),
        context_length=_as_int(header.arch_key("context_length")),
        dtype=dtype,
        quantization=quant or dtype,
        tensor_types=hist,
        files=files,
        size_bytes=sum(f.bytes for f in files),
        license=str(license_) if license_ else None,
        license_source="GGUF general.license" if license_ else None,
        chat_template=chat_template,
        metadata=meta,
    )
    card.metadata["tensor_data_bytes"] = sum(t.n_bytes or 0 for t in header.tensors)
    names_stored = {t.name for t in header.tensors}
    if "token_embd.weight" in names_stored:
        card.tied_embeddings = "output.weight" not in names_stored
    readme_text, front = _read_readme(path.parent / "README.md")
    if readme_text or front:
        card.readme, card.readme_metadata = readme_text, front
        if not card.license and front.get("license"):
            card.license, card.license_source = str(front["license"]), "README.md front matter"

    names = [(f'file name "{path.name}"', path.stem)]
    for key in ("general.name", "general.finetune"):
        value = header.get(key)
        if isinstance(value, str) and value:
            names.append((f'GGUF {key} "{value}"', value))
    tags = header.get("general.tags")
    signals = _name_signals(names)
    if isinstance(tags, list):
        signals += _tag_signals([str(t) for t in tags], "GGUF general.tags")
    if isinstance(front.get("tags"), list):
        signals += _tag_signals([str(t) for t in front["tags"]], "README tags")
    if chat_template:
        signals.append(_Signal(1, False, "chat template present (GGUF tokenizer.chat_template)"))
    card.instruction_tuned, card.instruction_evidence = _decide(signals)
    return card


def _strip_suffixes(file_name: str) -> str:
    return file_name.removesuffix(".gguf").removesuffix(".GGUF")


# -- transformers folders ------------------------------------------------------------------------
_BUFFER_SUFFIXES = ("position_ids", "rotary_emb.inv_freq", ".attn.bias", ".attn.masked_bias")
"""Stored tensors that are buffers, not parameters (``sum(p.numel())`` does not count them)."""
_EMBEDDING_SUFFIXES = (
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "tok_embeddings.weight",
)
_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}
_GENERATIVE_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelFileError(f"{what} '{path}' is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidModelFileError(f"{what} '{path}' is not a JSON object")
    return data


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file: ``{name: {dtype, shape, data_offsets}}``."""
    try:
        with path.open("rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise InvalidModelFileError(f"'{path.name}' is too short to be a safetensors file")
            (n,) = struct.unpack("<Q", raw)
            if n > 100_000_000 or n > path.stat().st_size:
                raise InvalidModelFileError(f"'{path.name}' is not a safetensors file")
            header = json.loads(f.read(n))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelFileError(
            f"'{path.name}' is not a readable safetensors file: {exc}"
        ) from exc
    if not isinstance(header, dict):
        raise InvalidModelFileError(f"'{path.name}' has no safetensors header")
    return header


def _stored_tensors(folder: Path) -> tuple[dict[str, tuple[str, tuple[int, ...]]], str, int]:
    """name -> (dtype, shape) of every stored tensor, the format, and the number of files."""
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        for shard in shards:
            for name, info in read_safetensors_header(shard).items():
                if name != "__metadata__" and isinstance(info, dict):
                    dtype = _SAFETENSORS_DTYPES.get(info.get("dtype", ""), str(info.get("dtype")))
                    tensors[name] = (dtype, tuple(int(d) for d in info.get("shape", [])))
        return tensors, "safetensors", len(shards)
    bins = sorted(folder.glob("pytorch_model*.bin")) or sorted(folder.glob("*.pt"))
    if bins:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return tensors, "pytorch", len(bins)
        import torch

        for shard in bins:
            # mmap + weights_only: shapes without reading the data into memory.
            try:
                state = torch.load(shard, map_location="cpu", mmap=True, weights_only=True)
            except Exception as exc:
                raise InvalidModelFileError(
                    f"cannot read tensor shapes from '{shard}': {exc}"
                ) from exc
            for name, t in state.items():
                if hasattr(t, "shape"):
                    tensors[name] = (str(t.dtype).removeprefix("torch."), tuple(t.shape))
        return tensors, "pytorch", len(bins)
    return tensors, "none", 0


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _folder_card(
    folder: Path,
    *,
    address: str,
    resolved: str,
    provider: str,
    evidence: Sequence[tuple[int, bool, str]] = (),
) -> ModelCard:
    """The card of a transformers folder. ``evidence``: the caller's own (polarity, strong, text)
    signals on instruction tuning, weighed with those read from the files."""
    config = _read_json(folder / "config.json", "config")
    nested = config.get("text_config")
    text: dict[str, Any] = nested if isinstance(nested, dict) else {}
    cfg: dict[str, Any] = {**text, **{k: v for k, v in config.items() if v is not None}}
    arch_class = (config.get("architectures") or [None])[0]
    notes: list[str] = []

    generative: bool | None = None
    if isinstance(arch_class, str):
        generative = arch_class.endswith(_GENERATIVE_SUFFIXES)
    elif config.get("is_decoder"):
        generative = True

    tensors, fmt, n_files = _stored_tensors(folder)
    tied_note = None
    counted = {n: v for n, v in tensors.items() if not n.endswith(_BUFFER_SUFFIXES)}
    tie = config.get("tie_word_embeddings", text.get("tie_word_embeddings", True))
    if tie and "lm_head.weight" in counted:
        embed = [n for n in counted if n.endswith(_EMBEDDING_SUFFIXES)]
        if embed and counted[embed[0]][1] == counted["lm_head.weight"][1]:
            del counted["lm_head.weight"]
            tied_note = "lm_head.weight is tied to the input embeddings and counted once"
    parameters = sum(_prod(shape) for _, shape in counted.values()) if counted else None
    hist: dict[str, TypeCount] = {}
    for dtype, shape in counted.values():
        entry = hist.setdefault(dtype, TypeCount(tensors=0, parameters=0))
        entry.tensors += 1
        entry.parameters += _prod(shape)
    hist = dict(sorted(hist.items(), key=lambda kv: -kv[1].parameters))
    if fmt == "none":
        notes.append("no weight files (*.safetensors, pytorch_model*.bin): parameters unknown")
    elif not counted and fmt == "pytorch":
        notes.append(
            "weights are pytorch .bin files and torch is not installed: parameters unknown"
        )
    if tied_note:
        notes.append(tied_note)
    tied: bool | None = None
    if generative and any(n.endswith(_EMBEDDING_SUFFIXES) for n in tensors):
        tied = tied_note is not None or not any(n.endswith("lm_head.weight") for n in tensors)
    buffers = sorted({n.rsplit(".", 1)[-1] for n in tensors if n.endswith(_BUFFER_SUFFIXES)})
    source = (
        f"counted from {len(counted)} stored tensors in {n_files} {fmt} file{'s' * (n_files > 1)}"
    )
    if buffers:
        source += f"; buffers ({', '.join(buffers)}) not counted"

    tok_cfg_path = folder / "tokenizer_config.json"
    tok_cfg = _read_json(tok_cfg_path, "tokenizer config") if tok_cfg_path.is_file() else {}
    chat_source = None
    if tok_cfg.get("chat_template"):
        chat_source = "tokenizer_config.json chat_template"
    elif (folder / "chat_template.jinja").is_file():
        chat_source = "chat_template.jinja"
    elif (folder / "chat_template.json").is_file():
        chat_source = "chat_template.json"

    readme_text, front = _read_readme(folder / "README.md")
    conversion = _read_conversion(folder / "assay_conversion.json")

    license_, license_source = None, None
    if front.get("license"):
        license_, license_source = str(front["license"]), "README.md front matter"
        if license_ == "other" and front.get("license_name"):
            license_ = f"other ({front['license_name']})"
    elif config.get("license"):
        license_, license_source = str(config["license"]), "config.json"
    elif conversion.get("license"):
        license_, license_source = str(conversion["license"]), "assay_conversion.json"

    heads = _first_int(cfg, "num_attention_heads", "n_head", "num_heads", "n_heads")
    hidden = _first_int(cfg, "hidden_size", "n_embd", "d_model", "dim")
    kv_heads = _first_int(
        cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"
    )
    if kv_heads is None and cfg.get("multi_query") is True:
        kv_heads = 1
    head_dim = _first_int(cfg, "head_dim", "kv_channels")
    if head_dim is None and hidden and heads:
        head_dim = hidden // heads
    context = _first_int(
        cfg,
        "max_position_embeddings",
        "n_positions",
        "max_sequence_length",
        "seq_length",
        "n_ctx",
        "max_seq_len",
    )
    max_len = tok_cfg.get("model_max_length")
    if context is None and isinstance(max_len, int) and max_len < 10**7:
        context = max_len

    quant = None
    qcfg = config.get("quantization_config")
    if isinstance(qcfg, dict):
        method = qcfg.get("quant_method", "quantized")
        bits = qcfg.get("bits") or (
            4 if qcfg.get("load_in_4bit") else 8 if qcfg.get("load_in_8bit") else None
        )
        quant = f"{method} {bits}-bit" if bits else str(method)
    if conversion:
        q = conversion_quantization(conversion)
        notes.append(
            f"converted by assay from {conversion_source_name(conversion)}"
            + (f" ({q}), dequantised to {next(iter(hist), 'float')}" if q else "")
        )

    name = folder.name
    hub_repo = repo_of_snapshot(folder)
    if conversion:
        name = f"{conversion_source_name(conversion).removesuffix('.gguf')} (converted)"
    elif hub_repo:
        name = hub_repo  # the folder is named after the commit
    elif name.lower() in _GENERIC_NAMES:
        title = front.get("model_name") or _first_heading(readme_text)
        name = str(title) if title else f"{folder.parent.name}/{folder.name}"
    files = _folder_files(folder)
    card = ModelCard(
        address=address,
        resolved=resolved,
        provider=provider,
        path=str(folder),
        name=name,
        format=fmt,  # type: ignore[arg-type]
        generative=generative,
        architecture=cfg.get("model_type"),
        architecture_class=arch_class,
        parameters=parameters,
        parameters_source=source if parameters is not None else "",
        tied_embeddings=tied,
        layers=_first_int(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers"),
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=kv_heads or heads,
        head_dim=head_dim,
        vocab_size=_first_int(cfg, "vocab_size", "padded_vocab_size"),
        context_length=context,
        dtype=next(iter(hist), None),
        quantization=quant,
        tensor_types=hist,
        files=files,
        size_bytes=sum(f.bytes for f in files),
        license=license_,
        license_source=license_source,
        chat_template=chat_source is not None,
        readme=readme_text,
        readme_metadata=front,
        notes=notes,
    )
    if config.get("torch_dtype") or config.get("dtype"):
        card.metadata["config_dtype"] = config.get("dtype") or config.get("torch_dtype")
    if conversion:
        card.metadata["conversion"] = conversion
    if hub_repo:
        card.metadata["hub"] = {"repo_id": hub_repo, "commit": folder.name}

    names = [(f'folder name "{folder.name}"', folder.name)]
    if hub_repo:
        names.append((f'Hugging Face id "{hub_repo}"', hub_repo))
    if isinstance(config.get("_name_or_path"), str) and config["_name_or_path"]:
        names.append((f'config _name_or_path "{config["_name_or_path"]}"', config["_name_or_path"]))
    if conversion:
        src = conversion_source_name(conversion)
        names.append((f'converted from "{src}"', src))
    signals = [_Signal(*e) for e in evidence] + _name_signals(names)
    tags = front.get("tags")
    if isinstance(tags, list):
        signals += _tag_signals([str(t) for t in tags], "README tags")
    if isinstance(front.get("pipeline_tag"), str):
        signals += _tag_signals([front["pipeline_tag"]], "README pipeline_tag")
    if chat_source:
        signals.append(_Signal(1, False, f"chat template present ({chat_source})"))
    if generative is False:
        signals.append(
            _Signal(
                -1,
                True,
                f"an encoder ({arch_class}): it embeds or classifies text, it does not chat",
            )
        )
    card.instruction_tuned, card.instruction_evidence = _decide(signals)
    return card


_GENERIC_NAMES = {"model", "models", "weights", "checkpoint", "final", "output", "hf", "snapshot"}


def _first_heading(text: str | None) -> str | None:
    for line in (text or "").splitlines()[:20]:
        if line.startswith("# ") and line[2:].strip():
            return line[2:].strip()
    return None


def _first_int(cfg: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = _as_int(cfg.get(key))
        if value is not None:
            return value
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return max(value)  # per-layer values (some GGUFs): the largest bounds the memory
    return None


def _folder_files(folder: Path) -> list[FileInfo]:
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") or part.startswith("checkpoint-") for part in rel.parts):
            continue
        if p.is_file():
            out.append(FileInfo(name=rel.as_posix(), bytes=p.stat().st_size))
    return out


def _read_readme(path: Path) -> tuple[str | None, dict[str, Any]]:
    """README text without its YAML front matter, and the front matter as a dict."""
    if not path.is_file():
        return None, {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, {}
    front: dict[str, Any] = {}
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if match:
        import yaml

        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, dict):
            front = loaded
        text = text[match.end() :]
    return text.strip("\n") or None, front


def _read_conversion(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def conversion_source_name(record: dict[str, Any]) -> str:
    """The GGUF file name a conversion record (``assay_conversion.json``) was made from."""
    return str(record.get("file_name") or Path(str(record.get("source", "?"))).name)


def conversion_quantization(record: dict[str, Any]) -> str | None:
    """The source GGUF's quantisation in a conversion record (a name, or ``{file_type: ...}``)."""
    q = record.get("quantization")
    if isinstance(q, dict):
        q = q.get("file_type")
    return str(q) if q else None


def _add_transformers_folder(card: ModelCard, workspace: Workspace) -> None:
    """For a GGUF: the transformers copy that the hf backend converted in this workspace (found
    by its record's source path, so no hashing), or a note on how to make one."""
    assert card.path is not None
    root = workspace.root / "conversions"
    for record in sorted(root.glob("*/assay_conversion.json")) if root.is_dir() else ():
        source = str(_read_conversion(record).get("source", ""))
        if source and Path(source).resolve() == Path(card.path).resolve():
            card.transformers_folder = str(record.parent)
            return
    card.notes.append(
        f"no transformers copy yet: `assay models convert {card.address}` writes one "
        "(safetensors, for transformers-based tools)"
    )


# -- instruction-tuned or base -------------------------------------------------------------------
class _Signal:
    """One piece of evidence: +1 instruction-tuned, -1 base; strong ones decide, weak ones inform."""

    def __init__(self, polarity: int, strong: bool, text: str) -> None:
        self.polarity = polarity
        self.strong = strong
        self.text = text


_YES_SUBSTRINGS = ("instruct", "chat")
_YES_WORDS = {"it", "sft", "dpo", "rlhf", "orpo", "kto", "assistant"}
_NO_WORDS = {"base", "pt", "pretrained", "pretrain", "pretraining"}
_YES_TAGS = {"instruct", "instruction-tuned", "chat", "sft", "dpo", "rlhf", "orpo"}
_WEAK_YES_TAGS = {"conversational"}


def _name_signals(names: list[tuple[str, str]]) -> list[_Signal]:
    out = []
    for where, text in names:
        low = text.lower()
        words = set(re.split(r"[^a-z0-9]+", low))
        yes = next((s for s in _YES_SUBSTRINGS if s in low), None) or next(
            (w for w in sorted(_YES_WORDS) if w in words), None
        )
        no = next((w for w in sorted(_NO_WORDS) if w in words), None)
        if yes:
            out.append(_Signal(1, True, f'{where} contains "{yes}"'))
        elif no:
            out.append(_Signal(-1, True, f'{where} contains "{no}"'))
    return out


def _tag_signals(tags: list[str], where: str) -> list[_Signal]:
    out = []
    for tag in tags:
        low = tag.lower()
        if low in _YES_TAGS:
            out.append(_Signal(1, True, f'{where} include "{tag}"'))
        elif low in _WEAK_YES_TAGS:
            out.append(
                _Signal(
                    1, False, f'{where} include "{tag}" (set for any model with a chat template)'
                )
            )
        elif low in ("base", "pretrained"):
            out.append(_Signal(-1, True, f'{where} include "{tag}"'))
    return out


def _decide(signals: list[_Signal]) -> tuple[InstructionTuned, list[str]]:
    """Strong evidence decides; a chat template alone does not (base models such as Gemma 3 and
    Qwen2.5 ship one too), so it leaves the answer "unknown" but is listed."""
    yes = any(s.strong and s.polarity > 0 for s in signals)
    no = any(s.strong and s.polarity < 0 for s in signals)
    evidence = [s.text for s in sorted(signals, key=lambda s: not s.strong)]
    if yes and not no:
        return "yes", evidence
    if no and not yes:
        return "no", evidence
    if yes and no:
        return "unknown", [*evidence, "the evidence conflicts"]
    if evidence:
        evidence.append("nothing in the names or metadata says instruction-tuned or base")
    return "unknown", evidence


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
            f"--context {context} is longer than the model's context of {card.context_length}"
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


# -- fake and API models -------------------------------------------------------------------------
def _fake_card(
    address: str, resolved: str, name: str, settings: Settings, workspace: Workspace
) -> ModelCard:
    from assay.models.registry import BackendContext, load_backend

    backend = load_backend(
        resolved, lambda a: BackendContext(settings=settings, workspace=workspace, address=a)
    )
    info = backend.info()
    return ModelCard(
        address=address,
        resolved=resolved,
        provider="fake",
        path=name or None,
        name=info.name,
        format="fake",
        generative=True,
        context_length=info.context_length,
        chat_template=info.chat_template,
        metadata={"fingerprint": info.fingerprint, **info.details},
        notes=["a scripted backend for tests: no weights, no memory needed"],
    )


def _api_card(address: str, resolved: str, name: str, settings: Settings) -> ModelCard:
    """What an OpenAI-compatible server says about the model at ``/v1/models``."""
    import os

    import httpx

    model, _, url = name.partition("@")
    base = (url or settings.openai.base_url or "https://api.openai.com/v1").rstrip("/")
    key = os.environ.get(settings.openai.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    endpoint = f"{base}/models"
    try:
        response = httpx.get(
            endpoint, headers=headers, timeout=min(settings.openai.timeout_s, 10.0)
        )
    except httpx.TransportError as exc:
        raise ServerUnreachableError(
            f"cannot reach {endpoint} to describe '{model}': {exc or type(exc).__name__}",
            hint="start the server, or check the URL after @ / openai.base_url / OPENAI_BASE_URL",
        ) from exc
    if response.status_code in (401, 403):
        raise MissingAPIKeyError(
            f"{endpoint} refused the request ({response.status_code})",
            hint=f"set {settings.openai.api_key_env}",
        )
    if response.status_code >= 400:
        raise BackendError(f"{endpoint} answered HTTP {response.status_code}")
    try:
        listed = response.json().get("data", [])
    except (ValueError, AttributeError):
        listed = []
    entry = next((m for m in listed if isinstance(m, dict) and m.get("id") == model), None)
    notes = [f"described by {endpoint}; weights and memory are the server's business"]
    if entry is None:
        ids = [str(m.get("id")) for m in listed if isinstance(m, dict)][:10]
        notes.append(f"'{model}' is not in the server's model list ({', '.join(ids) or 'empty'})")
    entry = entry or {}
    context = _first_int(
        entry, "context_length", "max_model_len", "context_window", "max_context_length"
    )
    return ModelCard(
        address=address,
        resolved=resolved,
        provider="openai",
        path=base,
        name=model,
        format="api",
        generative=True,
        context_length=context,
        license=entry.get("license") if isinstance(entry.get("license"), str) else None,
        license_source="/v1/models" if isinstance(entry.get("license"), str) else None,
        metadata={"listed": bool(entry), **entry},
        notes=notes,
    )


# -- the human view ------------------------------------------------------------------------------
README_LINES = 40


def render_card(card: ModelCard, readme_lines: int = README_LINES) -> str:
    """A compact, aligned card for the terminal (ASCII only)."""
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value not in (None, "", []):
            rows.append((label, str(value)))

    where = card.resolved if card.address == card.resolved else f"{card.address} -> {card.resolved}"
    add("address", where)
    add("path", card.path)
    if card.parameters is not None:
        tied = "; tied embeddings counted once" if card.tied_embeddings else ""
        add(
            "parameters",
            f"{format_count(card.parameters)} ({card.parameters:,}; {card.parameters_source}{tied})",
        )
    arch = card.architecture or "?"
    if card.architecture_class:
        arch += f" ({card.architecture_class})"
    add("architecture", arch if card.architecture or card.architecture_class else None)
    if card.layers or card.hidden_size or card.attention_heads:
        shape = f"{card.layers or '?'} layers, hidden {card.hidden_size or '?'}"
        shape += f", {card.attention_heads or '?'} heads"
        if card.kv_heads is not None:
            shape += f" ({card.kv_heads} KV, head dim {card.head_dim or '?'})"
        add("shape", shape)
    add("vocabulary", f"{card.vocab_size:,}" if card.vocab_size else None)
    add("context", f"{card.context_length:,} tokens" if card.context_length else None)
    if card.format in ("gguf", "safetensors", "pytorch"):
        fmt = {"gguf": "GGUF", "safetensors": "safetensors", "pytorch": "pytorch .bin"}[card.format]
        stored = f"{fmt}, {card.quantization or card.dtype or '?'}"
        if card.tensor_types:
            kinds = ", ".join(f"{k} x{v.tensors}" for k, v in card.tensor_types.items())
            stored += f" (tensors: {kinds})"
        add("on disk", stored)
    if card.files:
        size = format_bytes(card.size_bytes)
        if len(card.files) == 1:
            add("size", size)
        else:
            add("size", f"{size} in {len(card.files)} files")
    add("licence", f"{card.license} ({card.license_source})" if card.license else "not stated")
    add("chat template", "yes" if card.chat_template else "no")
    add("instruction-tuned", card.instruction_tuned)
    for line in card.instruction_evidence:
        rows.append(("", f"- {line}"))
    if card.transformers_folder:
        add("transformers", f"{card.transformers_folder} (safetensors copy for transformers tools)")
    for note in card.notes:
        rows.append(("note", note))

    width = max(len(label) for label, _ in rows)
    lines = [card.name, *(f"  {label:<{width}}  {value}" for label, value in rows)]
    if len(card.files) > 1:
        lines.append("")
        lines.append("  files")
        shown = card.files[:12]
        fw = max(len(f.name) for f in shown)
        lines += [f"    {f.name:<{fw}}  {format_bytes(f.bytes):>10}" for f in shown]
        if len(card.files) > len(shown):
            lines.append(f"    ... and {len(card.files) - len(shown)} more")

    if card.memory is not None and card.memory.rows:
        lines.append("")
        lines.extend(_render_memory(card))
    if card.readme:
        text = card.readme.splitlines()
        lines.append("")
        first = f", first {readme_lines}" if len(text) > readme_lines else ""
        lines.append(f"  README.md ({len(text)} lines{first})")
        lines += [f"    {line}".rstrip() for line in text[:readme_lines]]
        if len(text) > readme_lines:
            lines.append("    ... (the whole text is in --json)")
    return "\n".join(lines)


def _render_memory(card: ModelCard) -> list[str]:
    mem = card.memory
    assert mem is not None
    head = f"  memory at context {mem.context:,}, batch {mem.batch}" if mem.context else "  memory"
    if mem.kv_bytes_per_token is not None and mem.context:
        head += (
            f"  (KV cache = 2 x {card.layers} layers x {card.kv_heads} KV heads"
            f" x head dim {card.head_dim} x {mem.context:,} tokens x {mem.batch} x bytes)"
        )
    elif card.generative is False:
        head += "  (an encoder: no KV cache)"
    table = [["dtype", "weights", "KV cache", "total", *(v.device for v in card.verdicts)]]
    for row in mem.rows:
        table.append(
            [
                row.label,
                format_bytes(row.weights_bytes),
                format_bytes(row.kv_cache_bytes),
                format_bytes(row.total_bytes),
                *(status_for(row.total_bytes, v.free_bytes) for v in card.verdicts),
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    out = [head]
    for r in table:
        cells = [
            c.rjust(w) if 0 < i < 4 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("    " + "  ".join(cells).rstrip())
    if card.verdicts:
        free = ", ".join(f"{v.device} {format_bytes(v.free_bytes)} free" for v in card.verdicts)
        out.append(f"    ({free}; 'tight' above {TIGHT_FRACTION:.0%} of free memory)")
        out.append("")
        label = "verdict"
        for v in card.verdicts:
            out.append(f"  {label:<8} {v.device}: {v.message}")
            label = ""
    return out


__all__ = [
    "FileInfo",
    "ModelCard",
    "TypeCount",
    "model_card",
    "read_safetensors_header",
    "render_card",
]
