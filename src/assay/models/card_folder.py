"""The card of a transformers folder: ``config.json``, the safetensors headers (shapes and dtypes,
never the tensor data), ``tokenizer_config.json`` and ``README.md``.

Parameters are counted from the stored tensor shapes, each stored tensor once (tied input and
output embeddings are stored once, and counted once)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.errors import InvalidModelFileError
from assay.models.card import ModelCard, TypeCount
from assay.models.card_files import (
    conversion_quantization,
    conversion_source_name,
    first_heading,
    first_int,
    folder_files,
    read_conversion,
    read_json,
    read_readme,
    read_safetensors_header,
)
from assay.models.card_instruction import Signal, decide, name_signals, tag_signals
from assay.models.hub import repo_of_snapshot

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


def folder_card(
    folder: Path,
    *,
    address: str,
    resolved: str,
    provider: str,
    evidence: Sequence[tuple[int, bool, str]] = (),
) -> ModelCard:
    """The card of a transformers folder. ``evidence``: the caller's own (polarity, strong, text)
    signals on instruction tuning, weighed with those read from the files."""
    config = read_json(folder / "config.json", "config")
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
    tok_cfg = read_json(tok_cfg_path, "tokenizer config") if tok_cfg_path.is_file() else {}
    chat_source = None
    if tok_cfg.get("chat_template"):
        chat_source = "tokenizer_config.json chat_template"
    elif (folder / "chat_template.jinja").is_file():  # a processor's (vision models) too
        chat_source = "chat_template.jinja"
    elif (folder / "chat_template.json").is_file():
        chat_source = "chat_template.json"

    readme_text, front = read_readme(folder / "README.md")
    conversion = read_conversion(folder / "assay_conversion.json")

    license_, license_source = None, None
    if front.get("license"):
        license_, license_source = str(front["license"]), "README.md front matter"
        if license_ == "other" and front.get("license_name"):
            license_ = f"other ({front['license_name']})"
    elif config.get("license"):
        license_, license_source = str(config["license"]), "config.json"
    elif conversion.get("license"):
        license_, license_source = str(conversion["license"]), "assay_conversion.json"

    heads = first_int(cfg, "num_attention_heads", "n_head", "num_heads", "n_heads")
    hidden = first_int(cfg, "hidden_size", "n_embd", "d_model", "dim")
    kv_heads = first_int(
        cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"
    )
    if kv_heads is None and cfg.get("multi_query") is True:
        kv_heads = 1
    head_dim = first_int(cfg, "head_dim", "kv_channels")
    if head_dim is None and hidden and heads:
        head_dim = hidden // heads
    context = first_int(
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
        title = front.get("model_name") or first_heading(readme_text)
        name = str(title) if title else f"{folder.parent.name}/{folder.name}"
    files = folder_files(folder)
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
        layers=first_int(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers"),
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=kv_heads or heads,
        head_dim=head_dim,
        vocab_size=first_int(cfg, "vocab_size", "padded_vocab_size"),
        context_length=context,
        dtype=next(iter(hist), None),
        quantization=quant,
        tensor_types=hist,
        files=files,
        size_bytes=sum(f.bytes for f in files),
        license=license_,
        license_source=license_source,
        chat_template=chat_source is not None,
        accepts_images=isinstance(config.get("vision_config"), dict),
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
    signals = [Signal(*e) for e in evidence] + name_signals(names)
    tags = front.get("tags")
    if isinstance(tags, list):
        signals += tag_signals([str(t) for t in tags], "README tags")
    if isinstance(front.get("pipeline_tag"), str):
        signals += tag_signals([front["pipeline_tag"]], "README pipeline_tag")
    if chat_source:
        signals.append(Signal(1, False, f"chat template present ({chat_source})"))
    if generative is False:
        signals.append(
            Signal(
                -1,
                True,
                f"an encoder ({arch_class}): it embeds or classifies text, it does not chat",
            )
        )
    card.instruction_tuned, card.instruction_evidence = decide(signals)
    return card


_GENERIC_NAMES = {"model", "models", "weights", "checkpoint", "final", "output", "hf", "snapshot"}
