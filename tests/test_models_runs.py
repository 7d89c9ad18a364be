"""``assay models list`` and ``assay models info run:ID`` on real (tiny) training runs: a LoRA
adapter, a classifier, an unfinished run and a run id that does not exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.finetune import train
from cli_util import run_assay
from finetune_util import run_config, sentiment_rows, tiny_encoder, write_jsonl


def _train(recipe: str, run_id: str, model: Path, data: dict[str, Any], **extra: Any) -> Path:
    """A two-step run: enough to write every file a finished run has."""
    steps = {
        "optim": {"max_steps": 2, "batch_size": 4, "learning_rate": 5e-3},
        "eval": {"every_steps": 2},
    }
    return train(run_config(recipe, model, data, run_id=run_id, **steps, **extra), quiet=True).path


@pytest.fixture
def two_runs(tiny_model_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    qa = [{"prompt": f"What is {i} plus one?", "response": f"It is {i + 1}."} for i in range(12)]
    lora = _train(
        "sft",
        "lora-sft",
        tiny_model_dir,
        {"train": str(write_jsonl(tmp_path / "qa.jsonl", qa))},
        max_length=48,
        lora={"enabled": True, "r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
    )
    sentiment = write_jsonl(tmp_path / "sent.jsonl", sentiment_rows(30))
    clf = _train(
        "classifier",
        "clf",
        tiny_encoder(tmp_path / "encoder"),
        {"train": str(sentiment), "validation_fraction": 0.2},
        max_length=16,
    )
    return lora, clf


def _json(args: list[str]) -> object:
    code, out, err = run_assay(args)
    assert code == 0, err
    return json.loads(out)


def test_list_and_info_for_a_lora_and_a_classifier_run(
    two_runs: tuple[Path, Path], tiny_model_dir: Path
) -> None:
    lora, clf = two_runs
    assert (lora / "adapter_config.json").is_file() and not (lora / "config.json").exists()

    entries = {e["name"]: e for e in _json(["models", "list", "--json"])}  # type: ignore[union-attr]
    for run in ("lora-sft", "clf"):
        assert entries[run]["kind"] == "finetuned" and entries[run]["available"] is True
        assert entries[run]["address"] == f"run:{run}"
    assert "LoRA adapter" in entries["lora-sft"]["description"]
    assert entries["clf"]["details"]["recipe"] == "classifier"
    code, out, _ = run_assay(["models", "list"])
    assert "run:lora-sft" in out and "run:clf" in out

    # A LoRA run not merged yet: the base model's shape, the adapter's files and settings.
    card = _json(["models", "info", "run:lora-sft", "--json"])
    base = _json(["models", "info", f"hf:{tiny_model_dir}", "--json"])
    assert isinstance(card, dict) and isinstance(base, dict)
    assert card["path"] == str(lora) and card["name"] == "lora-sft"
    assert card["parameters"] == base["parameters"] and card["layers"] == base["layers"]
    adapter = card["metadata"]["adapter"]
    assert adapter["r"] == 4 and adapter["alpha"] == 8
    assert adapter["target_modules"] == ["q_proj", "v_proj"]
    # q_proj (64 -> 64) and v_proj (64 -> 32) in 2 layers, A (r x in) and B (out x r) each.
    assert adapter["parameters"] == 2 * (4 * 64 + 64 * 4 + 4 * 64 + 32 * 4)
    assert "adapter_model.safetensors" in {f["name"] for f in card["files"]}
    assert card["metadata"]["training"]["recipe"] == "sft"
    assert card["instruction_tuned"] == "yes"
    code, text, err = run_assay(["models", "info", "run:lora-sft"])
    assert code == 0, err
    assert "LoRA adapter (r=4, alpha=8, on q_proj, v_proj" in text
    assert "the first load merges it" in text and "recipe sft" in text

    # Once loaded (merged), the card describes the merged folder.
    assert isinstance(assay.load("run:lora-sft").complete("What is 2 plus one?", max_tokens=2), str)
    code, text, _ = run_assay(["models", "info", "run:lora-sft"])
    assert "merged with its base model into merged/" in text

    card = _json(["models", "info", "run:clf", "--json"])
    assert isinstance(card, dict)
    assert card["architecture_class"] == "BertForSequenceClassification"
    assert card["generative"] is False and card["path"] == str(clf)
    assert card["metadata"]["training"]["labels"] == ["neg", "pos"]
    code, text, _ = run_assay(["models", "info", "run:clf"])
    assert code == 0 and "recipe classifier" in text and "labels neg, pos" in text


def test_unknown_run_is_one_clear_line() -> None:
    code, out, err = run_assay(["models", "info", "run:nope"])
    assert code == 2 and not out
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: the training run 'nope' does not exist")
    assert "assay models list" in lines[1] and "assay runs list" in lines[1]
    assert "Traceback" not in err
    code, _, err = run_assay(["generate", "run:nope", "hi"])
    assert code == 2 and "the training run 'nope' does not exist" in err


def test_unfinished_run_is_listed_with_how_to_resume(assay_home: Path) -> None:
    (assay_home / "models" / "half" / "checkpoints" / "step-4").mkdir(parents=True)
    entries = {e["name"]: e for e in _json(["models", "list", "--json"])}  # type: ignore[union-attr]
    assert entries["half"]["status"] == "unfinished" and entries["half"]["available"] is False
    assert "assay train" in entries["half"]["hint"]
    code, _, err = run_assay(["models", "info", "run:half"])
    assert code == 2 and "the training run 'half' has not finished" in err
