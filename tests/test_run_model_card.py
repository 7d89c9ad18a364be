"""``assay models info run:ID`` for a fully finetuned model: the ``run`` provider builds the card
of its own models (its training record over the run folder's files), not a path check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import assay
from assay.finetune import train
from assay.finetune.provider_card import card as run_card_builder
from assay.models.registry import PROVIDERS, card_builder
from cli_util import run_assay
from finetune_util import run_config, write_jsonl


@pytest.mark.slow
def test_info_of_a_fully_finetuned_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    qa = [{"prompt": f"What is {i} plus one?", "response": f"It is {i + 1}."} for i in range(8)]
    config = run_config(
        "sft",
        tiny_model_dir,
        {"train": str(write_jsonl(tmp_path / "qa.jsonl", qa))},
        run_id="full-sft",
        max_length=48,
        optim={"max_steps": 1, "batch_size": 4, "learning_rate": 1e-3},
    )
    run = train(config, quiet=True).path
    assert (run / "config.json").is_file()  # the whole model, not an adapter

    assert card_builder("run") is run_card_builder
    assert PROVIDERS.get("run").card == "assay.finetune.provider_card:card"
    code, out, err = run_assay(["models", "info", "run:full-sft", "--json"])
    assert code == 0, err
    card = json.loads(out)
    base = assay.model_card(f"hf:{tiny_model_dir}", devices=[])
    assert card["provider"] == "run" and card["name"] == "full-sft" and card["path"] == str(run)
    assert card["format"] == "safetensors" and card["parameters"] == base.parameters
    assert card["metadata"]["training"]["recipe"] == "sft"
    assert "adapter" not in card["metadata"] and card["instruction_tuned"] == "yes"
    assert card["memory"] is not None  # a local model: its memory is estimated
    code, text, _ = run_assay(["models", "info", "run:full-sft"])
    assert code == 0 and "trained with assay train (recipe sft)" in text
