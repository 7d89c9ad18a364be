"""The card of a GGUF file, from its header (metadata and tensor shapes, never the data)."""

from __future__ import annotations

from pathlib import Path

from assay.models.card import FileInfo, ModelCard, TypeCount
from assay.models.card_files import as_int, read_readme
from assay.models.card_instruction import Signal, decide, name_signals, tag_signals


def gguf_card(path: Path, *, address: str, resolved: str, provider: str) -> ModelCard:
    from assay.models.gguf_meta import ArrayInfo, file_type_name, read_gguf_header

    header = read_gguf_header(path)
    hist: dict[str, TypeCount] = {}
    for t in header.tensors:
        entry = hist.setdefault(t.type_name, TypeCount(tensors=0, parameters=0))
        entry.tensors += 1
        entry.parameters += t.n_elements
    hist = dict(sorted(hist.items(), key=lambda kv: -kv[1].parameters))

    heads = as_int(header.arch_key("attention.head_count"))
    hidden = as_int(header.arch_key("embedding_length"))
    head_dim = as_int(header.arch_key("attention.key_length"))
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
        layers=as_int(header.arch_key("block_count")),
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=as_int(header.arch_key("attention.head_count_kv")) or heads,
        head_dim=head_dim,
        vocab_size=as_int(header.arch_key("vocab_size"))
        or header.array_length("tokenizer.ggml.tokens"),
        context_length=as_int(header.arch_key("context_length")),
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
    readme_text, front = read_readme(path.parent / "README.md")
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
    signals = name_signals(names)
    if isinstance(tags, list):
        signals += tag_signals([str(t) for t in tags], "GGUF general.tags")
    if isinstance(front.get("tags"), list):
        signals += tag_signals([str(t) for t in front["tags"]], "README tags")
    if chat_template:
        signals.append(Signal(1, False, "chat template present (GGUF tokenizer.chat_template)"))
    card.instruction_tuned, card.instruction_evidence = decide(signals)
    return card


def _strip_suffixes(file_name: str) -> str:
    return file_name.removesuffix(".gguf").removesuffix(".GGUF")
