"""Recipe ``classifier``: a classification (or regression) head on an encoder.

Data: ``text,label`` rows (CSV, JSONL, ...; the column names are ``data.text_field`` and
``data.label_field``). Labels are class names (strings or integers) or, with
``task: regression``, numbers. Validation metrics: loss, accuracy and macro-F1 (classification)
or loss, MSE and MAE (regression). The trained model is a plain transformers folder; use
:func:`predict` to label new texts with it.

Example: ``examples/finetune/classifier-bbc.yaml`` (all-MiniLM-L6-v2 on BBC News).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from assay.errors import UserError
from assay.finetune.config import DataConfig, RecipeConfig
from assay.finetune.data import (
    Examples,
    as_float,
    dedup,
    label_kind,
    read_examples,
    require_columns,
    sample,
    split,
)
from assay.finetune.session import Environment, Session, TrainResult


class ClassifierData(DataConfig):
    text_field: str = "text"
    label_field: str = "label"


class Config(RecipeConfig):
    recipe: Literal["classifier"] = "classifier"
    model: str = "all-MiniLM-L6-v2"
    data: ClassifierData
    task: Literal["classification", "regression"] = "classification"
    labels: list[str] | None = None
    """Class names in the order of the model's outputs; default: the sorted training labels."""
    max_length: int = Field(default=256, ge=8)
    """Tokens per text; longer texts are truncated (how many is reported before training)."""


def run(cfg: Config, env: Environment) -> TrainResult:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    s = Session.start(cfg, env)
    d = cfg.data
    regression = cfg.task == "regression"

    # 1. Data: read, check, clean, split ---------------------------------------------------
    def load(source: str, what: str) -> Examples:
        examples = read_examples(source, what=what)
        require_columns(
            examples,
            [d.text_field, d.label_field],
            text=[d.text_field],
            config_key="data.text_field / data.label_field",
        )
        kind = label_kind(examples, d.label_field)
        if regression:
            for ex in examples.items:
                as_float(ex, d.label_field)
        elif kind == "number" and any(
            not float(ex[d.label_field]).is_integer() for ex in examples.items
        ):
            bad = next(ex for ex in examples.items if not float(ex[d.label_field]).is_integer())
            raise UserError(
                f"{bad.where}: label {bad[d.label_field]!r} is not a class name",
                hint="class labels are strings or integers; set task: regression for numbers",
            )
        return examples

    train = load(d.train, "training data")
    if d.dedup:
        train, _ = dedup(train, lambda ex: [ex[d.text_field], ex[d.label_field]])
    train = sample(train, d.limit, cfg.seed)
    val: Examples | None
    if d.validation:
        val = load(d.validation, "validation data")
    else:
        stratify = None if regression else (lambda ex: str(ex[d.label_field]))
        train, val = split(train, d.validation_fraction, cfg.seed, stratify=stratify)
    labels = cfg.labels or sorted({str(ex[d.label_field]) for ex in train.items})
    if not regression:
        for part in (train, val):
            for ex in part.items if part else ():
                if str(ex[d.label_field]) not in labels:
                    raise UserError(
                        f"{ex.where}: label {ex[d.label_field]!r} is not one of the labels "
                        f"({', '.join(labels)})",
                        hint="add it to labels:, or remove the row",
                    )
        if len(labels) < 2:
            raise UserError(f"{train.path}: only one class ({labels[0]}); a classifier needs two")
    s.check_leakage([(ex.where, ex[d.text_field]) for ex in train.items])

    # 2. Tokenizer and model ------------------------------------------------------------------
    base = s.base_model()
    tokenizer = AutoTokenizer.from_pretrained(str(base))

    def encode(part: Examples) -> tuple[list[list[int]], list[float] | list[int], list[int]]:
        texts = [ex[d.text_field] for ex in part.items]
        full = tokenizer(texts, truncation=False, verbose=False)["input_ids"]
        ids = tokenizer(texts, truncation=True, max_length=cfg.max_length)["input_ids"]
        if regression:
            targets: list[Any] = [as_float(ex, d.label_field) for ex in part.items]
        else:
            targets = [labels.index(str(ex[d.label_field])) for ex in part.items]
        return ids, targets, [len(x) for x in full]

    train_ids, train_y, train_lengths = encode(train)
    s.add_data("train", train, train_lengths, cfg.max_length)
    val_ids: list[list[int]] = []
    val_y: list[Any] = []
    if val is not None:
        val_ids, val_y, val_lengths = encode(val)
        s.add_data("validation", val, val_lengths, cfg.max_length)
        if cfg.eval.max_examples:
            val_ids, val_y = val_ids[: cfg.eval.max_examples], val_y[: cfg.eval.max_examples]

    head: dict[str, Any] = (
        {"num_labels": 1, "problem_type": "regression"}
        if regression
        else {
            "num_labels": len(labels),
            "problem_type": "single_label_classification",
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    )
    # The head starts untrained by design; transformers' report of its missing weights is noise.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(base), ignore_mismatched_sizes=True, **head
        )
    finally:
        hf_logging.set_verbosity(verbosity)

    def collate(
        indices: Sequence[int], ids: list[list[int]], ys: list[Any]
    ) -> dict[str, torch.Tensor]:
        batch = tokenizer.pad({"input_ids": [ids[i] for i in indices]}, return_tensors="pt")
        dtype = torch.float32 if regression else torch.long
        batch["labels"] = torch.tensor([ys[i] for i in indices], dtype=dtype)
        return {k: v.to(s.device) for k, v in batch.items()}

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        net = s.net(model)
        net.eval()
        size = cfg.eval.batch_size or cfg.optim.batch_size
        losses, outputs = [], []
        for start in range(0, len(val_ids), size):
            idx = range(start, min(start + size, len(val_ids)))
            out = net(**collate(idx, val_ids, val_y))
            losses.append(out.loss.float() * len(idx))
            outputs.append(out.logits.float().cpu())
        logits = torch.cat(outputs)
        metrics = {"loss": float(torch.stack(losses).sum() / len(val_ids))}
        if regression:
            metrics.update(regression_metrics(logits.squeeze(-1).tolist(), val_y))
        else:
            metrics.update(classification_metrics(logits.argmax(-1).tolist(), val_y))
        return metrics

    # 3. Optimisation -------------------------------------------------------------------------
    plan, model, optimizer, scheduler = s.start_training(model, len(train_ids))
    s.evaluate_start(evaluate)

    while s.running():
        model.train()
        losses, tokens = [], 0
        for indices in plan.step(s.step):
            batch = collate(indices, train_ids, train_y)
            with s.accelerator.accumulate(model):
                loss = model(**batch).loss
                s.accelerator.backward(loss)
            losses.append(loss.detach())
            tokens += int(batch["attention_mask"].sum())
        s.update(model, optimizer, scheduler, losses, tokens, evaluate)

    # 4. Save ---------------------------------------------------------------------------------
    return s.finish(
        model,
        tokenizer,
        task=cfg.task,
        extra={"labels": None if regression else labels},
    )


# --------------------------------------------------------------------------------------------
# Metrics


def classification_metrics(pred: Sequence[int], gold: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro-F1 (over the classes present in the gold labels or predictions)."""
    n = len(gold)
    accuracy = sum(p == g for p, g in zip(pred, gold, strict=True)) / n if n else 0.0
    f1s = []
    for c in sorted(set(gold) | set(pred)):
        tp = sum(p == c and g == c for p, g in zip(pred, gold, strict=True))
        fp = sum(p == c and g != c for p, g in zip(pred, gold, strict=True))
        fn = sum(p != c and g == c for p, g in zip(pred, gold, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0}


def regression_metrics(pred: Sequence[float], gold: Sequence[float]) -> dict[str, float]:
    n = max(len(gold), 1)
    return {
        "mse": sum((p - g) ** 2 for p, g in zip(pred, gold, strict=True)) / n,
        "mae": sum(abs(p - g) for p, g in zip(pred, gold, strict=True)) / n,
    }


# --------------------------------------------------------------------------------------------
# Using the trained model


def load_classifier(model_dir: str | Path) -> tuple[Any, Any, int]:
    """Model (in eval mode), tokenizer and the max_length it was trained with, from a run folder,
    ``run:<id>`` or a run id in the current workspace."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from assay.finetune.runs import read_record, resolve_run
    from assay.workspace import Workspace

    path = Path(str(model_dir).removeprefix("run:")).expanduser()
    if not (path / "config.json").is_file():
        path = resolve_run(str(model_dir), Workspace.find())
    record = read_record(path) or {}
    max_length = int((record.get("config") or {}).get("max_length") or 512)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    return model, tokenizer, max_length


@torch.no_grad()
def classifier_logits(
    model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 32
) -> tuple[torch.Tensor, list[int]]:
    """Logits for ``texts`` (truncated to ``max_length`` tokens), and each text's token count."""
    out, lengths = [], []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]),
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        lengths += batch["attention_mask"].sum(-1).tolist()
        out.append(model(**batch).logits.float())
    if not out:
        return torch.empty(0, model.config.num_labels), []
    return torch.cat(out), lengths


def labels_from_logits(model: Any, logits: torch.Tensor) -> list[Any]:
    """Class names (numbers for regression) from a classifier's logits."""
    if model.config.problem_type == "regression":
        return [float(v) for v in logits.squeeze(-1).tolist()]
    id2label = model.config.id2label
    return [id2label[int(i)] for i in logits.argmax(-1).tolist()]


def predict(model_dir: str | Path, texts: Sequence[str], *, batch_size: int = 32) -> list[Any]:
    """Labels (class names; numbers for regression) for ``texts`` from a trained classifier.

    ``model_dir`` is a run folder, ``run:<id>`` or a run id in the current workspace.
    """
    model, tokenizer, max_length = load_classifier(model_dir)
    logits, _ = classifier_logits(model, tokenizer, texts, max_length, batch_size)
    return labels_from_logits(model, logits)


def predict_proba(
    model_dir: str | Path, texts: Sequence[str], *, batch_size: int = 32
) -> list[dict[str, float]]:
    """Class probabilities (softmax) for each text, keyed by class name."""
    model, tokenizer, max_length = load_classifier(model_dir)
    logits, _ = classifier_logits(model, tokenizer, texts, max_length, batch_size)
    probs = logits.softmax(-1).tolist()
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return [dict(zip(names, row, strict=True)) for row in probs]


__all__ = [
    "ClassifierData",
    "Config",
    "classification_metrics",
    "classifier_logits",
    "labels_from_logits",
    "load_classifier",
    "predict",
    "predict_proba",
    "run",
]
