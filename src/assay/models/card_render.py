"""A model card for the terminal: aligned rows, the files, memory per dtype and device, the README."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.models.memory import TIGHT_FRACTION, format_bytes, format_count, status_for

if TYPE_CHECKING:
    from assay.models.card import ModelCard


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
    if card.accepts_images:
        add("input", "text and images (accepts images)")
    add("instruction-tuned", card.instruction_tuned)
    if "capabilities" in card.metadata:  # a backend that described itself
        add("capabilities", ", ".join(card.metadata["capabilities"]) or "text generation only")
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
