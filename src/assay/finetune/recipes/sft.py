"""Recipe ``sft``: supervised finetuning on prompt/response pairs or chats, loss on responses only.

Data (``data.format``):

- ``prompt_response``: rows with a prompt and a response column (``data.prompt_field``,
  ``data.response_field``; for GSM8K ``question`` and ``answer``);
- ``messages``: rows with a list of ``{role, content}`` messages (``data.messages_field``); every
  assistant turn is learned;
- ``markers``: a raw text file of records like ``QUESTION: ... RESPONSE: ...`` separated by
  ``data.separator`` (the layout of the Clinton press-conference Q/A file);
- ``auto`` (default): ``messages`` when the first row has a messages column and no prompt column,
  ``markers`` for a ``.txt`` file, else ``prompt_response``.

Each chat is rendered with the model's chat template (a plain ``User:``/``Assistant:`` layout for
a model without one) and only the tokens of assistant turns, end-of-turn marker included, carry
labels. Chats longer than ``max_length`` are cut at the end; how many is reported before training,
and chats left with no response token are dropped. Validation metrics: loss and perplexity on
response tokens. Full finetuning, or LoRA with ``lora.enabled``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assay.errors import UserError
from assay.finetune.config import DataConfig, LoraConfig, RecipeConfig
from assay.finetune.data import Example, Examples, dedup, read_examples, sample, split
from assay.finetune.lm import (
    IGNORE,
    chat_examples,
    encode_chat,
    load_causal_lm,
    marked_pairs,
    train_on_tokens,
)
from assay.finetune.session import Environment, Session, TrainResult


class SFTData(DataConfig):
    format: Literal["auto", "prompt_response", "messages", "markers"] = "auto"
    prompt_field: str = "prompt"
    response_field: str = "response"
    messages_field: str = "messages"
    system_prompt: str | None = None
    """A system message put before every prompt/response pair."""
    prompt_marker: str = "QUESTION:"
    response_marker: str = "RESPONSE:"
    separator: str = "<|endoftext|>"
    skip_malformed: bool = False
    """``markers`` format: leave out records that lack a marker instead of stopping."""


class Config(RecipeConfig):
    recipe: Literal["sft"] = "sft"
    data: SFTData
    max_length: int = Field(default=512, ge=8)
    lora: LoraConfig = Field(default_factory=LoraConfig)


def run(cfg: Config, env: Environment) -> TrainResult:
    s = Session.start(cfg, env)
    d = cfg.data

    # 1. Data: read, turn into chats, deduplicate, split -----------------------------------------
    def load(source: str, what: str) -> Examples:
        """Examples whose data is ``{"chat": [...]}``, with their original locations."""
        examples = read_examples(source, what=what)
        fmt = d.format
        if fmt == "markers" or (
            fmt == "auto" and examples.format in ("txt", "md", "text", "folder:txt")
        ):
            examples = marked_pairs(
                examples,
                prompt_marker=d.prompt_marker,
                response_marker=d.response_marker,
                separator=d.separator,
                skip_malformed=d.skip_malformed,
            )
            fmt, prompt_field, response_field = "prompt_response", "prompt", "response"
        else:
            prompt_field, response_field = d.prompt_field, d.response_field
        chats = chat_examples(
            examples,
            fmt=fmt,
            prompt_field=prompt_field,
            response_field=response_field,
            messages_field=d.messages_field,
            system_prompt=d.system_prompt,
        )
        return examples.replace([Example({"chat": chat}, where) for where, chat in chats])

    train = load(d.train, "training data")
    if d.dedup:
        train, _ = dedup(train, lambda ex: ex["chat"])
    train = sample(train, d.limit, cfg.seed)
    val: Examples | None
    if d.validation:
        val = load(d.validation, "validation data")
    else:
        train, val = split(train, d.validation_fraction, cfg.seed)
    s.check_leakage([(ex.where, "\n".join(m["content"] for m in ex["chat"])) for ex in train.items])

    # 2. Model and tokenizer; encode with labels on responses only -------------------------------
    base = s.base_model()
    model, tokenizer = load_causal_lm(s, base, cfg.lora)

    def encode(name: str, part: Examples) -> list[tuple[list[int], list[int]]]:
        rows, lengths, empty = [], [], []
        for ex in part.items:
            ids, labels, n = encode_chat(tokenizer, ex["chat"], cfg.max_length, ex.where)
            lengths.append(n)
            if all(label == IGNORE for label in labels):
                empty.append(ex.where)
                continue
            rows.append((ids, labels))
        s.add_data(name, part, lengths, cfg.max_length)
        if empty:
            s.say(
                f"{name}: dropped {len(empty)} chats with no response token left after truncation "
                f"at {cfg.max_length} tokens (e.g. {empty[0]}), {len(rows)} left"
            )
        if not rows:
            raise UserError(f"{part.path}: no chat has a response token within max_length")
        return rows

    train_rows = encode("train", train)
    val_rows = encode("validation", val) if val is not None else []
    if cfg.eval.max_examples:
        val_rows = val_rows[: cfg.eval.max_examples]

    # 3. Train and save: the loop shared with the other language-model recipe -----------------
    return train_on_tokens(s, model, tokenizer, train_rows, val_rows, task="sft")


__all__ = ["Config", "SFTData", "run"]
