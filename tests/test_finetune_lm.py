"""The causal-LM recipes (causal_lm, sft, dpo) and LoRA on the tiny random Llama."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.errors import ConfigError, UserError
from assay.finetune import merge_adapter, train
from assay.finetune.lm import IGNORE, encode_chat, marked_pairs
from assay.finetune.runs import model_folder
from finetune_util import run_config as _cfg
from finetune_util import write_jsonl


def _qa(n: int = 16) -> list[dict[str, str]]:
    return [{"prompt": f"What is {i} plus one?", "response": f"It is {i + 1}."} for i in range(n)]


def _decreases(record: dict[str, Any]) -> bool:
    losses = [r["loss"] for r in record["curves"]["train"]]
    evals = [r["loss"] for r in record["curves"]["eval"]]
    return losses[-1] < losses[0] and evals[-1] < evals[0]


def test_sft_labels_only_the_responses(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    chat = [
        {"role": "user", "content": "What is 3 plus one?"},
        {"role": "assistant", "content": "It is 4."},
        {"role": "user", "content": "And 5?"},
        {"role": "assistant", "content": "Six."},
    ]
    ids, labels, n = encode_chat(tok, chat, None)
    assert n == len(ids) and len(labels) == len(ids)
    learned = tok.decode([t for t in labels if t != IGNORE])
    assert learned == "It is 4.<|im_end|>\nSix.<|im_end|>\n"  # responses and their end marker
    assert "What is 3" in tok.decode(ids)
    cut_ids, _, full = encode_chat(tok, chat, 20)
    assert len(cut_ids) == 20 and full == n


def test_sft_trains_and_generates(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "qa.jsonl", [{"q": r["prompt"], "a": r["response"]} for r in _qa()]
    )
    result = train(
        _cfg(
            "sft",
            tiny_model_dir,
            {"train": str(data), "prompt_field": "q", "response_field": "a"},
            max_length=48,
        ),
        quiet=True,
    )
    assert _decreases(result.record)
    assert {"loss", "perplexity"} <= set(result.metrics)
    assert result.record["data"]["stats"]["train"]["n"] == 14
    # Trained without a key/value cache; saved with it on, for generation.
    assert json.loads((result.path / "config.json").read_text())["use_cache"] is True
    model = assay.load("run:sft")  # a finished run is a model like any other
    assert isinstance(model.complete("What is 3 plus one?", max_tokens=4), str)
    assert model.info().fingerprint


def test_sft_markers_and_messages_formats(tiny_model_dir: Path, tmp_path: Path) -> None:
    text = "<|endoftext|>".join(
        f"QUESTION: Why number {i}? RESPONSE: Because {i} matters." for i in range(10)
    )
    qa_file = tmp_path / "qa.txt"
    qa_file.write_text(text)
    from assay.finetune.data import read_examples

    pairs = marked_pairs(
        read_examples(str(qa_file)),
        prompt_marker="QUESTION:",
        response_marker="RESPONSE:",
        separator="<|endoftext|>",
    )
    assert pairs.items[2].data == {"prompt": "Why number 2?", "response": "Because 2 matters."}
    assert pairs.items[2].where.endswith("qa.txt record 3")
    bad = tmp_path / "bad.txt"
    bad.write_text("QUESTION: a RESPONSE: b<|endoftext|>just text")
    with pytest.raises(
        UserError, match=r"bad.txt record 2: expected 'QUESTION: <prompt> RESPONSE: <response>'"
    ):
        train(_cfg("sft", tiny_model_dir, {"train": str(bad)}), quiet=True)
    skipped = marked_pairs(
        read_examples(str(bad)),
        prompt_marker="QUESTION:",
        response_marker="RESPONSE:",
        separator="<|endoftext|>",
        skip_malformed=True,
    )
    assert len(skipped) == 1 and "left out 1 malformed (" in skipped.notes[-1]
    result = train(
        _cfg(
            "sft", tiny_model_dir, {"train": str(qa_file)}, optim={"max_steps": 2, "batch_size": 4}
        ),
        quiet=True,
        fresh=True,
    )
    assert result.record["data"]["train"]["notes"][0] == "10 QUESTION:/RESPONSE: records"

    chats = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"Hi {i}"},
                {"role": "assistant", "content": f"Hello {i}."},
            ]
        }
        for i in range(8)
    ]
    chats.append({"messages": [{"role": "user", "content": "no answer"}]})
    path = write_jsonl(tmp_path / "chats.jsonl", chats)
    with pytest.raises(UserError, match=r"chats.jsonl:9: no assistant message"):
        train(_cfg("sft", tiny_model_dir, {"train": str(path)}), quiet=True, fresh=True)
    write_jsonl(path, [*chats[:-1], {"messages": [{"role": "robot", "content": "x"}]}])
    with pytest.raises(UserError, match=r"chats.jsonl:9: message 1 has role 'robot'"):
        train(_cfg("sft", tiny_model_dir, {"train": str(path)}), quiet=True, fresh=True)


def test_causal_lm_packs_raw_text(tiny_model_dir: Path, tmp_path: Path) -> None:
    raw = tmp_path / "press.txt"
    raw.write_text(" ".join(f"The President said number {i} is fine." for i in range(120)))
    result = train(
        _cfg(
            "causal_lm",
            tiny_model_dir,
            {"train": str(raw), "validation_fraction": 0.1},
            block_size=32,
        ),
        quiet=True,
    )
    packing = result.record["packing"]
    assert packing["blocks"] == packing["tokens"] // 32
    assert packing["validation_blocks"] >= 1 and packing["tokens_dropped"] < 32
    assert _decreases(result.record)
    assert result.record["data"]["stats"]["train"]["n"] == 1  # one document
    # The base model is evaluated at step 0: a baseline, never the best step.
    evals = result.record["curves"]["eval"]
    assert [e["step"] for e in evals] == [0, 3, 6]
    assert evals[0]["perplexity"] > evals[-1]["perplexity"]
    assert result.record["best"]["step"] in (3, 6)
    assert (result.path / result.record["outputs"]["plot"]).is_file()


def test_step_0_evaluation_can_be_left_out(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", _qa())
    cfg = _cfg("sft", tiny_model_dir, {"train": str(data)}, optim={"max_steps": 2, "batch_size": 4})
    result = train({**cfg, "eval": {"every_steps": 1, "at_start": False}}, quiet=True)
    assert [e["step"] for e in result.record["curves"]["eval"]] == [1, 2]


def test_the_plot_draws_the_step_0_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.axes import Axes

    from assay.finetune.plots import plot_curves

    drawn: list[tuple[str, list[int]]] = []
    original = Axes.plot

    def spy(self: Axes, x: Any, *args: Any, **kwargs: Any) -> Any:
        drawn.append((kwargs.get("label", ""), list(x)))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy)
    curves = {
        "train": [{"step": s, "loss": 3.0 - 0.1 * s} for s in range(1, 5)],
        "eval": [{"step": s, "loss": 3.2 - 0.1 * s, "perplexity": 20.0 - s} for s in (0, 2, 4)],
    }
    assert plot_curves(curves, tmp_path / "curves.png") == tmp_path / "curves.png"
    assert ("validation loss", [0, 2, 4]) in drawn
    assert ("", [0, 2, 4]) in drawn  # the validation perplexity panel


def test_lora_targets_merge_and_run_address(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", _qa())
    with pytest.raises(ConfigError, match="no layer named qkv, wq") as info:
        train(
            _cfg(
                "sft",
                tiny_model_dir,
                {"train": str(data)},
                lora={"enabled": True, "target_modules": ["q_proj", "qkv", "wq"]},
            ),
            quiet=True,
        )
    assert info.value.hint is not None
    assert (
        "q_proj" in info.value.hint
        and "gate_proj" in info.value.hint
        and "o_proj" in info.value.hint
    )

    with pytest.raises(ConfigError, match=r"QLoRA .* needs a CUDA GPU; this run is on cpu"):
        train(
            _cfg(
                "sft",
                tiny_model_dir,
                {"train": str(data)},
                lora={"enabled": True, "quantize": "4bit"},
            ),
            quiet=True,
        )

    result = train(
        _cfg(
            "sft",
            tiny_model_dir,
            {"train": str(data)},
            max_length=48,
            optim={"max_steps": 6, "batch_size": 4, "learning_rate": 5e-3},
            lora={
                "enabled": True,
                "r": 4,
                "alpha": 8,
                "target_modules": ["q_proj", "v_proj"],
                "merge": True,
            },
        ),
        quiet=True,
    )
    assert _decreases(result.record)
    assert result.record["outputs"]["kind"] == "adapter"
    assert (result.path / "adapter_config.json").is_file() and not (
        result.path / "config.json"
    ).exists()
    merged = Path(result.record["outputs"]["merged"])
    assert (merged / "config.json").is_file() and (merged / "tokenizer.json").is_file()
    # the run's own model card, not peft's template
    card = (result.path / "README.md").read_text()
    assert "More Information Needed" not in card and "base_model: " + str(tiny_model_dir) in card
    assert "LoRA: r 4, alpha 8, dropout 0.05, on q_proj, v_proj" in card
    assert result.record["data"]["train"]["rows_sha256"][:16] in card
    assert 'assay.load("run:sft")' in card and "AutoPeftModelForCausalLM" in card
    assert f"| loss | {result.metrics['loss']:.4g} |" in card
    assert model_folder(result.path) == merged
    generated = assay.load("run:sft").complete("What is 2 plus one?", max_tokens=4)

    # The merged model equals base + adapter: merging again gives the same weights.
    again = merge_adapter(result.path, out=tmp_path / "merged-again")
    from safetensors.torch import load_file

    a, b = load_file(str(merged / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert all((a[k] - b[k]).abs().max() == 0 for k in a)
    assert assay.load(f"hf:{again}").complete("What is 2 plus one?", max_tokens=4) == generated


def test_dpo_prefers_the_chosen(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = [
        {"prompt": f"Say hi {i}", "chosen": "Hello there, friend!", "rejected": "Go away now."}
        for i in range(12)
    ]
    data = write_jsonl(tmp_path / "prefs.jsonl", rows)
    result = train(
        _cfg(
            "dpo",
            tiny_model_dir,
            {"train": str(data), "validation_fraction": 0.25},
            max_length=48,
            lora={"enabled": True, "target_modules": ["q_proj", "v_proj", "o_proj"]},
            optim={"max_steps": 4, "batch_size": 4, "learning_rate": 5e-3},
        ),
        quiet=True,
    )
    assert _decreases(result.record)
    assert result.metrics["reward_accuracy"] == 1.0 and result.metrics["reward_margin"] > 0
    write_jsonl(data, [*rows, {"prompt": "x", "chosen": "same", "rejected": "same"}])
    with pytest.raises(
        UserError, match=r"prefs.jsonl:13: the chosen and rejected responses are the same"
    ):
        train(_cfg("dpo", tiny_model_dir, {"train": str(data)}), quiet=True, fresh=True)


def test_dpo_full_finetuning_uses_a_frozen_reference(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = [{"prompt": f"Say hi {i}", "chosen": "Hello!", "rejected": "No."} for i in range(8)]
    data = write_jsonl(tmp_path / "prefs.jsonl", rows)
    result = train(
        _cfg(
            "dpo",
            tiny_model_dir,
            {"train": str(data), "validation_fraction": 0.25},
            max_length=40,
            optim={"max_steps": 3, "batch_size": 4, "learning_rate": 1e-3},
        ),
        quiet=True,
    )
    first = result.record["curves"]["train"][0]["loss"]
    assert first == pytest.approx(0.6931, abs=1e-3)  # policy == reference at the start: log 2
    assert result.record["outputs"]["kind"] == "model"
    saved = json.loads((result.path / "assay_training.json").read_text())
    assert saved["recipe"] == "dpo"
