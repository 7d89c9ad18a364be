"""Kill -9 in the middle of training, run the same command again: it resumes from the latest
checkpoint and the loss curve is the one an uninterrupted run draws. A changed config is refused
with the differences. Two processes (DDP over gloo) run the same config."""

from __future__ import annotations

import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from finetune_util import (
    REPO,
    assay_cli,
    curve,
    env,
    sentiment_rows,
    tiny_encoder,
    write_jsonl,
    write_yaml,
)

# Runs `assay ...` but SIGKILLs itself in the middle of writing checkpoint KILL_AT_STEP, after its
# weights file is written and before the checkpoint is complete: the worst moment to die.
KILLER = """
import os, signal, sys
from assay.finetune import checkpoint
original = checkpoint.save_trainable
def save_trainable(model, path):
    original(model, path)
    if ".tmp-step-%06d" % int(os.environ["KILL_AT_STEP"]) in str(path):
        os.kill(os.getpid(), signal.SIGKILL)
checkpoint.save_trainable = save_trainable
from assay.cli.main import main
sys.argv = ["assay", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


def _record(home: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (home / "models" / run_id / "assay_training.json").read_text()
    )
    return data


def _weights(home: Path, run_id: str, name: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(home / "models" / run_id / name))


def _configs(tmp_path: Path, encoder_dir: Path, tiny_model_dir: Path | None) -> dict[str, Path]:
    data = write_jsonl(tmp_path / "sentiment.jsonl", sentiment_rows(40))
    common = {
        "seed": 3,
        "progress": False,
        "optim": {
            "max_steps": 8,
            "batch_size": 4,
            "gradient_accumulation_steps": 2,
            "learning_rate": 3e-3,
            "lr_schedule": "cosine",
            "warmup_steps": 2,
        },
        "eval": {"every_steps": 3},
        "checkpoint": {"every_steps": 2, "keep": 2},
    }
    out = {
        # BERT has dropout: the resumed run must restore torch's RNG to draw the same masks.
        "classifier": write_yaml(
            tmp_path / "clf.yaml",
            {
                "recipe": "classifier",
                "model": str(encoder_dir),
                "max_length": 16,
                "data": {"train": str(data), "validation_fraction": 0.2},
                **common,
            },
        ),
    }
    if tiny_model_dir is not None:
        qa = write_jsonl(
            tmp_path / "qa.jsonl",
            [
                {"prompt": f"What is {i} plus one?", "response": f"It is {i + 1}."}
                for i in range(24)
            ],
        )
        out["sft-lora"] = write_yaml(
            tmp_path / "sft.yaml",
            {
                "recipe": "sft",
                "model": str(tiny_model_dir),
                "max_length": 48,
                "data": {"train": str(qa)},
                "lora": {"enabled": True, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
                **common,
            },
        )
    return out


def _resume_matches_uninterrupted(tmp_path: Path, config: Path, weights_file: str) -> None:
    home = tmp_path / "home"
    run_id = config.stem
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    import subprocess

    killed = subprocess.run(
        [sys.executable, str(killer), "train", str(config)],
        env={**env(home), "KILL_AT_STEP": "6"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    ckdir = home / "models" / run_id / "checkpoints"
    assert (ckdir / "step-000004" / "state.json").is_file()
    assert (ckdir / ".tmp-step-000006").is_dir()  # the interrupted write, never used
    assert not (home / "models" / run_id / "assay_training.json").exists()

    # The same command with a changed config is refused, showing what changed.
    changed = assay_cli(["train", str(config), "optim.learning_rate=0.005"], home)
    assert changed.returncode == 2, changed.stderr[-2000:]
    assert "trained with a different config" in changed.stderr
    assert "optim.learning_rate: 0.003 → 0.005" in changed.stderr

    resumed = assay_cli(["train", str(config)], home)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from step-000004 (step 4 of 8)" in resumed.stderr
    straight = assay_cli(["train", str(config), "run_id=straight"], home)
    assert straight.returncode == 0, straight.stderr[-3000:]

    a, b = _record(home, run_id), _record(home, "straight")
    assert a["training"]["resumed_from_steps"] == [4] and b["training"]["resumed_from_steps"] == []
    assert len(curve(a)) == len(curve(b)) == 8
    assert curve(a) == pytest.approx(curve(b), abs=1e-6, rel=0)
    assert [e["loss"] for e in a["curves"]["eval"]] == pytest.approx(
        [e["loss"] for e in b["curves"]["eval"]], abs=1e-6, rel=0
    )
    wa, wb = _weights(home, run_id, weights_file), _weights(home, "straight", weights_file)
    assert wa.keys() == wb.keys()
    assert all((wa[k] - wb[k]).abs().max() < 1e-6 for k in wa)
    assert not ckdir.exists()  # checkpoints are removed once the run has finished


def test_kill_and_resume_classifier(tmp_path: Path, encoder_dir: Path) -> None:
    config = _configs(tmp_path, encoder_dir, None)["classifier"]
    _resume_matches_uninterrupted(tmp_path, config, "model.safetensors")


@pytest.mark.slow
def test_kill_and_resume_sft_lora(tmp_path: Path, encoder_dir: Path, tiny_model_dir: Path) -> None:
    config = _configs(tmp_path, encoder_dir, tiny_model_dir)["sft-lora"]
    _resume_matches_uninterrupted(tmp_path, config, "adapter_model.safetensors")


@pytest.mark.slow
def test_two_processes_with_accelerate_launch(tmp_path: Path, encoder_dir: Path) -> None:
    """``accelerate launch`` with 2 CPU processes (torchrun + gloo) runs the same config. It is
    launched with the example FSDP config file: without a GPU accelerate runs it as plain data
    parallelism, and the run says so."""
    import subprocess

    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    if launcher is None:
        pytest.skip("the accelerate command is not installed")
    config = _configs(tmp_path, encoder_dir, None)["classifier"]
    home = tmp_path / "home"
    done = subprocess.run(
        [
            launcher,
            "launch",
            "--config_file",
            str(REPO / "examples" / "finetune" / "accelerate" / "fsdp.yaml"),
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "assay.cli.main",
            "train",
            str(config),
            "optim.max_steps=3",
        ],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "without a GPU, accelerate runs this as MULTI_CPU" in done.stderr
    record = _record(home, config.stem)
    assert record["training"]["processes"] == 2 and record["training"]["steps"] == 3
    assert len(curve(record)) == 3
