"""Helpers for the finetuning tests: tiny models and data built at test time, offline and fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

_WORD_LIST = """
this is a the item review movie film book great good wonderful lovely superb bad awful terrible
poor dreadful sports politics team match game vote election minister number hello there go away
say hi what plus one it
"""
WORDS = _WORD_LIST.split()


def tiny_encoder(folder: Path) -> Path:
    """A 2-layer random BERT (hidden 32) with a 100-token WordPiece vocabulary, saved with its
    tokenizer. Small enough that an optimizer step takes milliseconds."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *list("abcdefghijklmnopqrstuvwxyz0123456789"),
    ]
    vocab += [w for w in WORDS if w not in vocab]
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def run_config(recipe: str, model: Path, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A short training run of ``recipe`` (6 steps, run id = recipe); ``extra`` replaces keys."""
    cfg: dict[str, Any] = {
        "recipe": recipe,
        "model": str(model),
        "run_id": recipe,
        "progress": False,
        "data": data,
        "optim": {"max_steps": 6, "batch_size": 4, "learning_rate": 2e-3},
        "eval": {"every_steps": 3},
    }
    cfg.update(extra)
    return cfg


def sentiment_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Trivially learnable: the label is given by one word of the sentence."""
    import random

    rng = random.Random(seed)
    pos, neg = ["great", "good", "wonderful", "lovely"], ["bad", "awful", "terrible", "poor"]
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        word = rng.choice(pos if label == "pos" else neg)
        thing = rng.choice(["movie", "film", "book", "item"])
        rows.append({"text": f"this {thing} is {word} {i}", "label": label})
    return rows


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def env(home: Path) -> dict[str, str]:
    """Environment for a training subprocess: its own workspace, one thread, offline."""
    out = dict(os.environ)
    out.update(
        ASSAY_HOME=str(home),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=str(REPO / "src") + os.pathsep + out.get("PYTHONPATH", ""),
    )
    return out


def assay_cli(
    args: Sequence[str], home: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay.cli.main", *args],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def curve(record: dict[str, Any]) -> list[float]:
    return [r["loss"] for r in record["curves"]["train"]]
