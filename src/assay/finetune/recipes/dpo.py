"""Recipe ``dpo``: Direct Preference Optimisation on (prompt, chosen, rejected) triples.

Loss (Rafailov et al., 2023): ``-log sigmoid(beta * ((log pi(chosen) - log ref(chosen)) -
(log pi(rejected) - log ref(rejected))))``, where log-probabilities are summed over the response
tokens of the prompt + response rendered with the chat template (as in ``sft``). The reference
is the base model: with LoRA, the same network with its adapters switched off; otherwise a frozen
copy. Validation metrics: loss, reward accuracy (how often the chosen response gets the larger
implicit reward) and the mean reward margin.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from assay.errors import UserError
from assay.finetune.config import DataConfig, LoraConfig, RecipeConfig
from assay.finetune.data import (
    Example,
    Examples,
    dedup,
    read_examples,
    require_columns,
    sample,
    split,
)
from assay.finetune.lm import IGNORE, collate, encode_chat, load_causal_lm, sequence_logprobs
from assay.finetune.session import Environment, Session, TrainResult

Pair = tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]


class DPOData(DataConfig):
    prompt_field: str = "prompt"
    chosen_field: str = "chosen"
    rejected_field: str = "rejected"
    system_prompt: str | None = None


class Config(RecipeConfig):
    recipe: Literal["dpo"] = "dpo"
    data: DPOData
    beta: float = Field(default=0.1, gt=0)
    """Strength of the pull towards the reference model (higher: stay closer)."""
    max_length: int = Field(default=512, ge=8)
    lora: LoraConfig = Field(default_factory=LoraConfig)


def run(cfg: Config, env: Environment) -> TrainResult:
    s = Session.start(cfg, env)
    d = cfg.data
    fields = [d.prompt_field, d.chosen_field, d.rejected_field]

    # 1. Data ---------------------------------------------------------------------------------
    def load(source: str, what: str) -> Examples:
        examples = read_examples(source, what=what)
        require_columns(
            examples,
            fields,
            text=fields,
            config_key="data.prompt_field / chosen_field / rejected_field",
        )
        same = [ex.where for ex in examples.items if ex[d.chosen_field] == ex[d.rejected_field]]
        if same:
            raise UserError(f"{same[0]}: the chosen and rejected responses are the same")
        return examples

    train = load(d.train, "training data")
    if d.dedup:
        train, _ = dedup(train, lambda ex: [ex[f] for f in fields])
    train = sample(train, d.limit, cfg.seed)
    val: Examples | None
    if d.validation:
        val = load(d.validation, "validation data")
    else:
        train, val = split(train, d.validation_fraction, cfg.seed)
    s.check_leakage([(ex.where, "\n".join(ex[f] for f in fields)) for ex in train.items])

    # 2. Policy, reference and encoding -------------------------------------------------------
    base = s.base_model()
    model, tokenizer = load_causal_lm(s, base, cfg.lora)
    reference = None
    if not cfg.lora.enabled:
        reference = copy.deepcopy(model).eval().requires_grad_(False).to(s.device)

    def chat(ex: Example, response: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": d.system_prompt}] if d.system_prompt else []
        return [
            *system,
            {"role": "user", "content": ex[d.prompt_field]},
            {"role": "assistant", "content": response},
        ]

    def encode(name: str, part: Examples) -> list[Pair]:
        pairs, lengths, empty = [], [], []
        for ex in part.items:
            chosen = encode_chat(tokenizer, chat(ex, ex[d.chosen_field]), cfg.max_length, ex.where)
            rejected = encode_chat(
                tokenizer, chat(ex, ex[d.rejected_field]), cfg.max_length, ex.where
            )
            lengths += [chosen[2], rejected[2]]
            if all(x == IGNORE for x in chosen[1]) or all(x == IGNORE for x in rejected[1]):
                empty.append(ex.where)
                continue
            pairs.append(((chosen[0], chosen[1]), (rejected[0], rejected[1])))
        s.add_data(name, part, lengths, cfg.max_length)
        if empty:
            s.say(
                f"{name}: dropped {len(empty)} pairs with no response token within max_length, "
                f"{len(pairs)} left"
            )
        if not pairs:
            raise UserError(f"{part.path}: no pair has response tokens within max_length")
        return pairs

    train_pairs = encode("train", train)
    val_pairs = encode("validation", val) if val is not None else []
    if cfg.eval.max_examples:
        val_pairs = val_pairs[: cfg.eval.max_examples]
    pad = tokenizer.pad_token_id

    @contextlib.contextmanager
    def reference_model() -> Iterator[Any]:
        """The reference network in eval mode (LoRA: the policy with adapters switched off)."""
        if reference is not None:
            yield reference
            return
        bare, net = s.accelerator.unwrap_model(model), s.net(model)
        was_training = net.training
        net.eval()
        with bare.disable_adapter():
            yield net
        net.train(was_training)

    def dpo_terms(policy: Any, pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
        """The DPO loss of a batch of pairs, and the implicit reward margins."""
        batch = collate([c for c, _ in pairs] + [r for _, r in pairs], pad, s.device)
        logp = sequence_logprobs(policy, batch)
        with torch.no_grad(), reference_model() as ref:
            ref_logp = sequence_logprobs(ref, batch)
        n = len(pairs)
        margin = cfg.beta * ((logp[:n] - ref_logp[:n]) - (logp[n:] - ref_logp[n:]))
        return -F.logsigmoid(margin).mean(), margin.detach()

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        net = s.net(model)
        net.eval()
        size = cfg.eval.batch_size or cfg.optim.batch_size
        losses, margins = [], []
        for start in range(0, len(val_pairs), size):
            chunk = val_pairs[start : start + size]
            loss, margin = dpo_terms(net, chunk)
            losses.append(loss * len(chunk))
            margins.append(margin)
        m = torch.cat(margins)
        return {
            "loss": float(torch.stack(losses).sum() / len(val_pairs)),
            "reward_accuracy": float((m > 0).float().mean()),
            "reward_margin": float(m.mean()),
        }

    # 3. Optimisation -------------------------------------------------------------------------
    plan, model, optimizer, scheduler = s.start_training(model, len(train_pairs))
    s.evaluate_start(evaluate)

    while s.running():
        model.train()
        losses, tokens = [], 0
        for indices in plan.step(s.step):
            pairs = [train_pairs[i] for i in indices]
            with s.accelerator.accumulate(model):
                loss, _ = dpo_terms(model, pairs)
                s.accelerator.backward(loss)
            losses.append(loss.detach())
            tokens += sum(len(c[0]) + len(r[0]) for c, r in pairs)
        s.update(model, optimizer, scheduler, losses, tokens, evaluate)

    # 4. Save ---------------------------------------------------------------------------------
    return s.finish(model, tokenizer, task="dpo")


__all__ = ["Config", "DPOData", "run"]
