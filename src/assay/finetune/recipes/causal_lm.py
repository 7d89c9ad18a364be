"""Recipe ``causal_lm``: continued pretraining on raw text, packed into blocks.

Data: a ``.txt`` file (one document), a folder of ``.txt`` files (one document each), or
JSONL/CSV rows with a text column (``data.text_field``). ``data.separator`` splits documents
further (``<|endoftext|>``, a blank line, ...). Documents are deduplicated, tokenized, joined
with the end-of-sequence token and cut into blocks of ``block_size`` tokens (the tail shorter
than a block is dropped and reported). A seeded ``validation_fraction`` of the blocks is held
out. Validation metrics: loss and perplexity. Full finetuning, or LoRA with ``lora.enabled``.

Example: ``examples/finetune/causal-lm-clinton.yaml`` (public-domain press-event transcripts).
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from assay.errors import UserError
from assay.finetune.config import DataConfig, LoraConfig, RecipeConfig
from assay.finetune.data import Example, Examples, dedup, read_examples, require_columns, sample
from assay.finetune.lm import encode_text, load_causal_lm, train_on_tokens
from assay.finetune.session import Environment, Session, TrainResult


class CausalLMData(DataConfig):
    text_field: str = "text"
    separator: str | None = None
    """Split each text into documents at this string (dropped from the text)."""
    validation_fraction: float = Field(default=0.05, ge=0, lt=1)
    """Fraction of the packed blocks held out (when ``validation`` is not given)."""


class Config(RecipeConfig):
    recipe: Literal["causal_lm"] = "causal_lm"
    data: CausalLMData
    block_size: int = Field(default=256, ge=8)
    """Tokens per training block."""
    lora: LoraConfig = Field(default_factory=LoraConfig)


def run(cfg: Config, env: Environment) -> TrainResult:
    s = Session.start(cfg, env)
    d = cfg.data

    # 1. Documents: read, split, deduplicate --------------------------------------------------
    def documents(source: str, what: str) -> Examples:
        examples = read_examples(source, what=what)
        require_columns(examples, [d.text_field], text=[d.text_field], config_key="data.text_field")
        docs = [
            Example({"text": piece}, f"{ex.where} part {i}" if d.separator else ex.where)
            for ex in examples.items
            for i, piece in enumerate(
                ex[d.text_field].split(d.separator) if d.separator else [ex[d.text_field]], start=1
            )
            if piece.strip()
        ]
        note = f"split into {len(docs)} documents at {d.separator!r}" if d.separator else None
        examples = examples.replace(docs, note)
        if d.dedup:
            examples, _ = dedup(examples, lambda ex: ex["text"])
        return sample(examples, d.limit, cfg.seed)

    train_docs = documents(d.train, "training data")
    val_docs = documents(d.validation, "validation data") if d.validation else None
    s.check_leakage([(ex.where, ex["text"]) for ex in train_docs.items])

    # 2. Model, tokenizer, packing ------------------------------------------------------------
    base = s.base_model()
    model, tokenizer = load_causal_lm(s, base, cfg.lora)
    eos = tokenizer.eos_token_id

    def pack(name: str, docs: Examples) -> tuple[list[list[int]], dict[str, int]]:
        """Tokenize, join with EOS, cut into blocks; record the documents' token lengths."""
        stream: list[int] = []
        lengths = []
        for doc in docs.items:
            ids = encode_text(tokenizer, doc["text"])["input_ids"]
            lengths.append(len(ids))
            stream.extend(ids)
            if eos is not None:
                stream.append(eos)
        s.add_data(name, docs, lengths, None)
        size = cfg.block_size
        n_blocks = len(stream) // size
        blocks = [stream[i * size : (i + 1) * size] for i in range(n_blocks)]
        info = {
            "tokens": len(stream),
            "blocks": n_blocks,
            "tokens_dropped": len(stream) - n_blocks * size,
        }
        return blocks, info

    train_blocks, packing = pack("train", train_docs)
    if val_docs is not None:
        val_blocks, _ = pack("validation", val_docs)
    else:
        order = list(range(len(train_blocks)))
        random.Random(cfg.seed).shuffle(order)
        n_val = round(d.validation_fraction * len(order))
        if d.validation_fraction > 0 and len(order) >= 2:
            n_val = max(1, min(n_val, len(order) - 1))
        held = set(order[:n_val])
        val_blocks = [b for i, b in enumerate(train_blocks) if i in held]
        train_blocks = [b for i, b in enumerate(train_blocks) if i not in held]
    if not train_blocks:
        raise UserError(
            f"{d.train}: {packing['tokens']} tokens make no block of {cfg.block_size}",
            hint="lower block_size or add text",
        )
    s.say(
        f"packed {packing['tokens']:,} tokens into {len(train_blocks)} training and "
        f"{len(val_blocks)} validation blocks of {cfg.block_size} "
        f"({packing['tokens_dropped']} tokens in the last partial block dropped)"
    )
    s.extra["packing"] = {
        **packing,
        "train_blocks": len(train_blocks),
        "validation_blocks": len(val_blocks),
    }
    s.has_validation = bool(val_blocks)
    if cfg.eval.max_examples:
        val_blocks = val_blocks[: cfg.eval.max_examples]
    train_rows = [(b, b) for b in train_blocks]
    val_rows = [(b, b) for b in val_blocks]

    # 3. Train and save: the loop shared with the other language-model recipe -----------------
    return train_on_tokens(s, model, tokenizer, train_rows, val_rows, task="causal_lm")


__all__ = ["CausalLMData", "Config", "run"]
