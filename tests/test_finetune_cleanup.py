"""A failed training run leaves no empty run folder, but keeps the checkpoints a resume needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.errors import UserError
from assay.finetune import checkpoint as ckpt
from assay.finetune import train
from assay.finetune.runs import run_dir
from assay.finetune.session import Session
from assay.workspace import Workspace
from finetune_util import sentiment_rows, tiny_encoder, write_jsonl
from test_finetune_classifier import _config


class Interrupted(BaseException):
    """Stands for Ctrl-C: not an Exception."""


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


def config(encoder_dir: Path, train_file: Path) -> dict[str, Any]:
    return _config(encoder_dir, train_file, optim={"max_steps": 12}, checkpoint={"every_steps": 4})


def test_a_run_refused_after_it_started_leaves_no_folder(tmp_path: Path, encoder_dir: Path) -> None:
    bad = write_jsonl(tmp_path / "t.jsonl", [{"body": "no text column", "label": "pos"}] * 4)
    folder = run_dir(Workspace.find(), "clf")
    with pytest.raises(UserError, match="no column 'text'"):
        train(config(encoder_dir, bad), quiet=True)
    assert not folder.exists()

    folder.mkdir(parents=True)  # left by a run killed before its first checkpoint
    with pytest.raises(UserError, match="no column 'text'"):
        train(config(encoder_dir, bad), quiet=True)
    assert not folder.exists()


def test_an_interrupted_run_keeps_its_checkpoints_and_resumes(
    tmp_path: Path, encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", sentiment_rows(40))
    folder = run_dir(Workspace.find(), "clf")
    original = Session.end_step

    def stop_at_six(self: Session, *args: Any, **kwargs: Any) -> float:
        if self.state.step == 6:
            raise Interrupted
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        patch.setattr(Session, "end_step", stop_at_six)
        train(config(encoder_dir, data), quiet=True)
    latest = ckpt.latest(folder)
    assert latest is not None and latest.name == "step-000004"

    result = train(config(encoder_dir, data), quiet=True)
    assert result.resumed_from == 4 and result.record["training"]["steps"] == 12
