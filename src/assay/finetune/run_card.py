"""The README.md of a trained run: a model card written from its run record.

``save_pretrained`` of a PEFT adapter leaves a template README ("More Information Needed"). The
run's own record (``assay_training.json``) knows what the card should say: the base model and
its fingerprint, the recipe and its settings, the data and their hashes, the metrics, and how
to load the result, with assay and without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

README = "README.md"


def write_run_card(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``<run_dir>/README.md`` from ``record`` (replacing any template there)."""
    path = run_dir / README
    path.write_text(run_card(record), encoding="utf-8")
    return path


def run_card(record: dict[str, Any]) -> str:
    """The model card of a finished run, as Markdown with a Hugging Face metadata header."""
    config = record.get("config") or {}
    base = record.get("base_model") or {}
    outputs = record.get("outputs") or {}
    adapter = outputs.get("kind") == "adapter"
    run_id = str(record.get("run_id"))
    lines = [
        "---",
        f"base_model: {base.get('name')}",
        f"library_name: {'peft' if adapter else 'transformers'}",
        f"tags: [assay, {record.get('recipe')}{', lora' if adapter else ''}]",
        "---",
        "",
        f"# {run_id}",
        "",
        f"{'A LoRA adapter on' if adapter else 'A finetuned copy of'} `{base.get('name')}`, "
        f"trained with assay's `{record.get('recipe')}` recipe (task: {record.get('task')}) and "
        f"finished {record.get('finished')}.",
        "",
        "## Base model",
        "",
        f"- name: `{base.get('name')}`",
        f"- folder: `{base.get('path')}`",
        f"- weights fingerprint: `{base.get('fingerprint')}`",
        "",
        "## Training",
        "",
        *_training(record, config, adapter),
        "",
        "## Data",
        "",
        *_data(record.get("data") or {}),
        "",
        "## Results",
        "",
        *_results(record),
        "",
        "## Loading",
        "",
        *_loading(run_id, outputs, record.get("task"), adapter),
        "",
        "Everything above, and the loss curves, versions, git state and machine, is in "
        "`assay_training.json` next to this file.",
        "",
    ]
    return "\n".join(lines)


def _training(record: dict[str, Any], config: dict[str, Any], adapter: bool) -> list[str]:
    training = record.get("training") or {}
    optim = config.get("optim") or {}
    lines = [
        f"- config hash: `{record.get('config_hash')}`",
        f"- steps: {training.get('steps')} of {training.get('total_steps')} "
        f"({_num(training.get('epochs'))} epochs, {training.get('tokens')} tokens"
        f"{', stopped early' if training.get('stopped_early') else ''})",
        f"- optimizer: learning rate {optim.get('learning_rate')} ({optim.get('lr_schedule')}), "
        f"batch {optim.get('batch_size')} x {optim.get('gradient_accumulation_steps')} "
        f"accumulation x {training.get('processes')} processes, "
        f"mixed precision {training.get('mixed_precision')}, seed {config.get('seed')}",
        f"- device: {training.get('device')}, {training.get('train_time_s')} s",
    ]
    lora = config.get("lora") or {}
    if adapter and lora:
        lines.append(
            f"- LoRA: r {lora.get('r')}, alpha {lora.get('alpha')}, dropout {lora.get('dropout')}, "
            f"on {', '.join(lora.get('target_modules') or [])}"
            + (f", quantized {lora.get('quantize')}" if lora.get("quantize") != "none" else "")
        )
    return lines


def _data(data: dict[str, Any]) -> list[str]:
    lines = [
        "| split | source | rows | sha256 (file) | sha256 (rows used) |",
        "|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for split in ("train", "validation"):
        part = data.get(split)
        if not isinstance(part, dict):
            continue
        lines.append(
            f"| {split} | `{part.get('path') or part.get('source')}` | {part.get('rows')} | "
            f"`{str(part.get('sha256'))[:16]}` | `{str(part.get('rows_sha256'))[:16]}` |"
        )
        notes += [f"- {split}: {note}" for note in part.get("notes") or []]
    leakage = data.get("leakage")
    if isinstance(leakage, dict) and leakage.get("sources"):
        notes.append(
            f"- leakage check against {', '.join(leakage['sources'])}: "
            f"{leakage.get('overlapping_items')} of {leakage.get('eval_items_checked')} evaluation "
            f"items share a {leakage.get('ngram')}-gram with the training data"
        )
    return lines + (["", *notes] if notes else [])


def _results(record: dict[str, Any]) -> list[str]:
    metrics = {k: v for k, v in (record.get("metrics") or {}).items() if isinstance(v, int | float)}
    if not metrics:
        return ["No evaluation during training (no validation data)."]
    best = record.get("best") or {}
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {_num(value)} |" for name, value in metrics.items()]
    if best.get("restored"):
        lines += ["", f"Weights of step {best.get('step')}, the best {best.get('metric')}."]
    return lines


def _loading(run_id: str, outputs: dict[str, Any], task: Any, adapter: bool) -> list[str]:
    folder = outputs.get("path")
    lines = [
        "With assay, in the workspace that trained it:",
        "",
        "```python",
        "import assay",
        f'model = assay.load("run:{run_id}")',
        'print(model.complete("..."))',
        "```",
        "",
    ]
    if task in ("classification", "regression"):
        lines += [
            "or label texts with `assay.finetune.predict(" + f'"{run_id}", texts)`. '
            "With transformers:",
            "",
            "```python",
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            f'model = AutoModelForSequenceClassification.from_pretrained("{folder}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
            "```",
        ]
    elif adapter:
        lines += [
            "With peft (the base model is read from `adapter_config.json`):",
            "",
            "```python",
            "from peft import AutoPeftModelForCausalLM",
            "from transformers import AutoTokenizer",
            f'model = AutoPeftModelForCausalLM.from_pretrained("{folder}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
            "```",
        ]
        if outputs.get("merged"):
            lines += [
                "",
                f"The adapter merged into the base model is a plain model folder: `{outputs['merged']}`.",
            ]
    else:
        lines += [
            "With transformers:",
            "",
            "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            f'model = AutoModelForCausalLM.from_pretrained("{folder}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
            "```",
        ]
    return lines


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


__all__ = ["README", "run_card", "write_run_card"]
