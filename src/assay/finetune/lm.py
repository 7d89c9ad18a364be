"""Helpers shared by the causal-LM recipes (``causal_lm``, ``sft``, ``dpo``).

- :func:`load_causal_lm`: tokenizer and model, with LoRA / QLoRA applied as configured;
- :func:`chat_examples`: prompt/response rows, chat rows (``messages``) or a marked-up text file
  as chats, each checked with its line number;
- :func:`encode_chat`: a chat rendered with the model's chat template, with labels only on the
  assistant turns (everything else is ``-100``);
- :func:`collate` and :func:`evaluate_loss`: right-padded batches and token-weighted validation
  loss / perplexity; :func:`sequence_logprobs`: summed log-probabilities of the labelled tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from assay.errors import UserError
from assay.finetune.data import Example, Examples, require_columns

if TYPE_CHECKING:
    from pathlib import Path

    from assay.finetune.config import LoraConfig
    from assay.finetune.session import Session, TrainResult

IGNORE = -100
ROLES = ("system", "user", "assistant")
Chat = list[dict[str, str]]


def load_causal_lm(s: Session, base: Path, lora: LoraConfig) -> tuple[Any, Any]:
    """Tokenizer and model from ``base``; LoRA adapters when ``lora.enabled``.

    QLoRA is refused before any weights are read unless this run is on CUDA with bitsandbytes.
    A tokenizer without a padding token pads with EOS (padding is masked out of the loss).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay.finetune.lora import apply_lora, check_quantize, quantization_config, require_peft

    check_quantize(lora, s.device.type)
    if lora.enabled:
        require_peft()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if lora.quantize == "4bit":
        kwargs.update(quantization_config=quantization_config(lora), device_map={"": s.device})
    model = AutoModelForCausalLM.from_pretrained(str(base), **kwargs)
    if getattr(model.config, "use_cache", False):
        # Training needs no key/value cache (transformers' Trainer turns it off as well); the
        # saved config gets it back for generation (Session.finish).
        model.config.use_cache = False
        s.restore_use_cache = True
    if lora.enabled:
        model = apply_lora(model, lora)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        s.say(
            f"LoRA r={lora.r} on {', '.join(lora.target_modules)}: {trainable:,} trainable of "
            f"{total:,} parameters ({100 * trainable / total:.2f}%)"
        )
    return model, tokenizer


# --------------------------------------------------------------------------------------------
# Chats from data


def chat_examples(
    examples: Examples,
    *,
    fmt: str,
    prompt_field: str,
    response_field: str,
    messages_field: str,
    system_prompt: str | None,
) -> list[tuple[str, Chat]]:
    """(location, chat) for every example: from prompt/response columns or a messages column."""
    if fmt == "auto":
        first = examples.items[0].data
        fmt = (
            "messages"
            if messages_field in first and prompt_field not in first
            else "prompt_response"
        )
    out: list[tuple[str, Chat]] = []
    if fmt == "messages":
        require_columns(examples, [messages_field], config_key="data.messages_field")
        for ex in examples.items:
            out.append((ex.where, _check_messages(ex, messages_field)))
    else:
        require_columns(
            examples,
            [prompt_field, response_field],
            text=[prompt_field, response_field],
            config_key="data.prompt_field / data.response_field",
        )
        for ex in examples.items:
            chat: Chat = [{"role": "system", "content": system_prompt}] if system_prompt else []
            chat += [
                {"role": "user", "content": ex[prompt_field]},
                {"role": "assistant", "content": ex[response_field]},
            ]
            out.append((ex.where, chat))
    return out


def _check_messages(ex: Example, field: str) -> Chat:
    messages = ex[field]
    if not isinstance(messages, list):
        raise UserError(f"{ex.where}: '{field}' must be a list of {{role, content}} objects")
    chat: Chat = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise UserError(f"{ex.where}: message {i + 1} needs a text 'content'")
        if m.get("role") not in ROLES:
            raise UserError(
                f"{ex.where}: message {i + 1} has role {m.get('role')!r}; roles are {', '.join(ROLES)}"
            )
        chat.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "assistant" for m in chat):
        raise UserError(f"{ex.where}: no assistant message, so nothing to learn from this chat")
    return chat


def marked_pairs(
    examples: Examples,
    *,
    prompt_marker: str,
    response_marker: str,
    separator: str,
    skip_malformed: bool = False,
) -> Examples:
    """Split raw text holding ``<prompt_marker> ... <response_marker> ...`` records separated by
    ``separator`` into prompt/response examples (``prompt``, ``response``).

    A record without both markers (or with an empty side) is an error naming the record, or,
    with ``skip_malformed``, is left out and counted in the notes.
    """
    items: list[Example] = []
    skipped: list[str] = []
    for ex in examples.items:
        text = ex["text"]
        for i, piece in enumerate(text.split(separator) if separator else [text], start=1):
            if not piece.strip():
                continue
            p_at, r_at = piece.find(prompt_marker), piece.find(response_marker)
            where = f"{ex.where} record {i}"
            prompt = piece[p_at + len(prompt_marker) : r_at].strip() if p_at >= 0 else ""
            response = piece[r_at + len(response_marker) :].strip() if r_at >= 0 else ""
            if p_at < 0 or r_at < p_at or not prompt or not response:
                if skip_malformed:
                    skipped.append(where)
                    continue
                raise UserError(
                    f"{where}: expected '{prompt_marker} <prompt> {response_marker} <response>' "
                    f"(starts {piece.strip()[:60]!r})",
                    hint="fix the record, set data.skip_malformed: true to leave such records "
                    "out, or set data.prompt_marker / response_marker / separator",
                )
            items.append(Example({"prompt": prompt, "response": response}, where))
    if not items:
        raise UserError(f"{examples.path}: no '{prompt_marker}' records found")
    note = f"{len(items)} {prompt_marker}/{response_marker} records"
    if skipped:
        note += f"; left out {len(skipped)} malformed ({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''})"
    return examples.replace(items, note)


# --------------------------------------------------------------------------------------------
# Encoding


def render(tokenizer: Any, chat: Chat, add_generation_prompt: bool) -> str:
    """A chat as text through the tokenizer's chat template (a plain layout without one)."""
    if getattr(tokenizer, "chat_template", None):
        text: str = tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return text
    from assay.models.protocol import render_plain_chat
    from assay.models.types import Message

    return render_plain_chat([Message(**m) for m in chat], add_generation_prompt)  # type: ignore[arg-type]


def encode_text(tokenizer: Any, text: str, **kwargs: Any) -> Any:
    """Encode as the ``hf`` backend does: no second BOS when the text already starts with it."""
    bos = tokenizer.bos_token
    special = not (bos and text.startswith(bos))
    return tokenizer(text, add_special_tokens=special, verbose=False, **kwargs)


def encode_chat(
    tokenizer: Any, chat: Chat, max_length: int | None, where: str = ""
) -> tuple[list[int], list[int], int]:
    """Token ids and labels of a chat: labels are the ids on assistant turns, -100 elsewhere.

    Each assistant turn spans from the end of the prompt rendered with the generation prompt to
    the end of the chat rendered through that turn, so it includes the end-of-turn marker the
    template writes (the model learns to stop). Returns (ids, labels, untruncated length).
    """
    full = render(tokenizer, chat, add_generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(chat):
        if m["role"] != "assistant":
            continue
        before = render(tokenizer, chat[:i], add_generation_prompt=True) if i else ""
        through = render(tokenizer, chat[: i + 1], add_generation_prompt=False)
        if not through.startswith(before) or not full.startswith(through):
            raise UserError(
                f"{where}: the chat template does not render this chat as a sequence of turns "
                "(a turn's rendering is not a prefix of the whole), so the response tokens "
                "cannot be found"
            )
        spans.append((len(before), len(through)))
    enc = encode_text(tokenizer, full, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    labels = [IGNORE] * len(ids)
    for k, (start, end) in enumerate(enc["offset_mapping"]):
        if end > start and any(a <= start < b for a, b in spans):
            labels[k] = ids[k]
    n = len(ids)
    if max_length is not None and n > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    return ids, labels, n


def collate(
    rows: Sequence[tuple[list[int], list[int]]], pad_id: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (padding labelled -100)."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, labs) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(labs)] = torch.tensor(labs)
        mask[i, : len(ids)] = 1
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": mask.to(device),
        "labels": labels.to(device),
    }


def token_losses(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed negative log-likelihood of the labelled tokens of each row, and their counts."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    mask = targets != IGNORE
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked * mask).sum(-1), mask.sum(-1)


def sequence_logprobs(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of the log-probabilities of each row's labelled tokens."""
    nll, _ = token_losses(model, batch)
    return -nll


@torch.no_grad()
def evaluate_loss(
    model: Any,
    rows: Sequence[tuple[list[int], list[int]]],
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
) -> dict[str, float]:
    """Token-weighted loss over the labelled tokens of ``rows``, and its perplexity."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        batch = collate(rows[start : start + batch_size], pad_id, device)
        nll, n = token_losses(model, batch)
        total += float(nll.sum())
        count += int(n.sum())
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def train_on_tokens(
    s: Session,
    model: Any,
    tokenizer: Any,
    train_rows: Sequence[tuple[list[int], list[int]]],
    val_rows: Sequence[tuple[list[int], list[int]]],
    *,
    task: str,
) -> TrainResult:
    """The training loop of the language-model recipes (continued pretraining and SFT), which
    differ only in how they make ``(input_ids, labels)`` rows: next-token loss on the labelled
    tokens, evaluation loss on the validation rows, then the model is saved."""
    # Optimisation --------------------------------------------------------------------------------
    plan, model, optimizer, scheduler = s.start_training(model, len(train_rows))
    pad = tokenizer.pad_token_id

    def evaluate() -> dict[str, float]:
        net = s.net(model)
        size = s.cfg.eval.batch_size or s.cfg.optim.batch_size
        return evaluate_loss(net, val_rows, batch_size=size, pad_id=pad, device=s.device)

    s.evaluate_start(evaluate)
    while s.running():
        model.train()
        losses, tokens = [], 0
        for indices in plan.step(s.step):
            batch = collate([train_rows[i] for i in indices], pad, s.device)
            with s.accelerator.accumulate(model):
                loss = model(**batch).loss
                s.accelerator.backward(loss)
            losses.append(loss.detach())
            tokens += int(batch["attention_mask"].sum())
        s.update(model, optimizer, scheduler, losses, tokens, evaluate)

    # Save ----------------------------------------------------------------------------------------
    return s.finish(model, tokenizer, task=task)


__all__ = [
    "IGNORE",
    "chat_examples",
    "collate",
    "encode_chat",
    "encode_text",
    "evaluate_loss",
    "load_causal_lm",
    "marked_pairs",
    "render",
    "sequence_logprobs",
    "token_losses",
    "train_on_tokens",
]
