"""Membership signals where the truth is known: a small model finetuned (the causal_lm recipe)
on 16 of 32 GSM8K questions tells them from the 16 it never saw (Min-K% Prob and Min-K%++,
AUROC with its interval above 0.5); the same run: model's recorded training data is what the
contamination pre-flight of `assay eval` checks."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.checks.membership import auroc, auroc_ci, min_k_plus_plus, min_k_prob
from assay.checks.record import CheckStore
from assay.errors import UserError
from assay.workspace import Workspace
from cli_util import run_assay
from tiny_models import save_word_llama


def test_scores_on_a_hand_made_case() -> None:
    logprobs = [-0.1, -5.0, -0.2, -3.0, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8]
    assert min_k_prob(logprobs, 0.2) == pytest.approx(-4.0)  # the two lowest of ten
    assert min_k_prob(logprobs, 0.01) == pytest.approx(-5.0)  # at least one token
    means, stds = [-1.0] * 10, [2.0] * 10
    assert min_k_plus_plus(logprobs, means, stds, 0.2) == pytest.approx((-2.0 + -1.0) / 2)
    assert auroc([3, 4, 5], [1, 2, 3]) == pytest.approx((3 + 3 + 2.5) / 9)
    est = auroc_ci([5, 6, 7, 8], [1, 2, 3, 4])
    assert est.value == 1.0 and est.ci_low == 1.0
    with pytest.raises(UserError, match="at least two texts"):
        auroc_ci([1.0], [2.0, 3.0])


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Steps of a model this small wait on each other's threads on a busy machine: one is
    several times faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_a_finetuned_model_remembers_its_training_items(tmp_path: Path, shared_data: Path) -> None:
    from assay.finetune import train

    lines = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:32]
    texts = [json.loads(line)["question"] for line in lines]
    random.Random(0).shuffle(texts)
    seen, unseen = texts[:16], texts[16:]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in seen))
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(json.dumps({"id": f"s{i}", "text": t}) + "\n" for i, t in enumerate(seen))
    )
    reference = tmp_path / "unseen.jsonl"
    reference.write_text("".join(json.dumps({"text": t}) + "\n" for t in unseen))
    task = tmp_path / "items.yaml"
    task.write_text(
        json.dumps(
            {
                "name": "items",
                "kind": "perplexity",
                "input": "text",
                "dataset": {"source": str(items)},
            }
        )
    )
    base = save_word_llama(tmp_path / "base", texts)
    train(
        {
            "recipe": "causal_lm",
            "model": str(base),
            "run_id": "mem",
            "progress": False,
            "data": {"train": str(tmp_path / "train.jsonl"), "validation_fraction": 0.0},
            "block_size": 64,
            "optim": {"max_steps": 24, "batch_size": 4, "learning_rate": 1.5e-2},
            "eval": {"every_steps": 1000, "at_start": False},
        },
        quiet=True,
    )

    code, out, err = run_assay(
        ["check", "membership", str(task), "-m", "run:mem", "--reference", str(reference)]
    )
    assert code == 0, err
    assert "membership: flagged: the task's items look seen in training" in out
    (trained,) = CheckStore(Workspace.find()).list()
    for name in ("AUROC Min-K% Prob (k=20%)", "AUROC Min-K%++ (k=20%)"):
        auc = trained.figures[name]
        assert auc.value > 0.8 and auc.ci_low > 0.5, (name, auc)
    assert (
        trained.figures["Min-K%++, task items"].value > trained.figures["Min-K%++, reference"].value
    )
    # The same texts on the model before training: far less separation.
    code, out, err = run_assay(
        ["check", "membership", str(task), "-m", f"hf:{base}", "--reference", str(reference)]
    )
    assert code == 0, err
    before = CheckStore(Workspace.find()).list()[0]
    for name in ("AUROC Min-K% Prob (k=20%)", "AUROC Min-K%++ (k=20%)"):
        assert before.figures[name].value < trained.figures[name].value - 0.15

    # The run: model's recorded training data is checked before it is evaluated.
    code, _, err = run_assay(["eval", str(task), "-m", "run:mem"])
    assert code == 0, err
    assert (
        "contamination pre-flight: 16 of 16 items share a 13-gram with the training data of run:mem (train.jsonl)"
        in err
    )


def test_token_distributions_are_the_models_own(tiny_model_dir: Path) -> None:
    """The per-token figures Min-K%++ reads: log-probabilities as `prompt_logprobs` gives them,
    and the mean and standard deviation of log p over the vocabulary under p, from the logits."""
    import torch
    from transformers import AutoModelForCausalLM

    import assay
    from assay.config import Settings

    model = assay.load(f"hf:{tiny_model_dir}", settings=Settings(cache=False))
    text = "Natalia sold clips to 48 of her friends in April."
    (dist,) = model.token_distributions([text])
    (scores,) = model.prompt_logprobs([text], top=0)
    assert dist.logprobs == pytest.approx([t.logprob for t in scores.tokens[1:]], abs=1e-5)
    ids = model.backend.tokenizer(text)["input_ids"]  # type: ignore[attr-defined]
    with torch.no_grad():
        logits = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(torch.tensor([ids])).logits
    logp = torch.log_softmax(logits[0, :-1].double(), dim=-1)
    mean = (logp.exp() * logp).sum(-1)
    std = ((logp.exp() * (logp - mean[:, None]) ** 2).sum(-1)).sqrt()
    assert dist.means == pytest.approx(mean.tolist(), abs=1e-5)
    assert dist.stds == pytest.approx(std.tolist(), abs=1e-5)
    with pytest.raises(UserError, match="cannot give the distribution"):
        assay.load("fake:").token_distributions(["a b c"])
