"""Checkpoint helpers: data order, schedules, RNG states, atomic writes, weights."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from assay.errors import UserError
from assay.finetune import checkpoint as ckpt
from assay.finetune.session import BatchPlan, lr_factor


def test_batch_plan_is_a_function_of_the_step() -> None:
    plan = BatchPlan(n=10, batch_size=3, accumulation=2, seed=0)
    assert plan.per_epoch == 4
    epoch0 = [i for k in range(4) for i in plan.micro_batch(k)]
    assert sorted(epoch0) == list(range(10))  # every example once per epoch
    epoch1 = [i for k in range(4, 8) for i in plan.micro_batch(k)]
    assert sorted(epoch1) == list(range(10)) and epoch1 != epoch0  # reshuffled
    fresh = BatchPlan(n=10, batch_size=3, accumulation=2, seed=0)
    assert fresh.step(3) == plan.step(3)  # no hidden state: a resumed run sees the same batches
    assert BatchPlan(n=10, batch_size=3, accumulation=2, seed=1).step(0) != plan.step(0)
    assert plan.epoch_at(2) == 1.0


def test_batch_plan_shards_across_processes() -> None:
    ranks = [
        BatchPlan(n=7, batch_size=2, accumulation=1, seed=3, world=2, rank=r) for r in range(2)
    ]
    assert ranks[0].per_epoch == 2
    seen: list[int] = []
    for k in range(ranks[0].per_epoch):
        a, b = ranks[0].micro_batch(k), ranks[1].micro_batch(k)
        assert len(a) == len(b)  # equal work per process (the order is padded)
        seen += a + b
    assert set(seen) == set(range(7)) and len(seen) == 8
    single = BatchPlan(n=7, batch_size=4, accumulation=1, seed=3)
    assert sorted(ranks[0].micro_batch(0) + ranks[1].micro_batch(0)) == sorted(
        single.micro_batch(0)
    )


def test_lr_schedules() -> None:
    assert [round(lr_factor(s, 10, 2, "linear"), 3) for s in (0, 1, 2, 6, 9)] == [
        0.333,
        0.667,
        1.0,
        0.5,
        0.125,
    ]
    assert lr_factor(2, 10, 2, "cosine") == pytest.approx(1.0)
    assert lr_factor(6, 10, 2, "cosine") == pytest.approx(0.5)
    assert lr_factor(9, 10, 0, "constant") == 1.0


def test_rng_states_round_trip() -> None:
    ckpt.seed_everything(5)
    state = ckpt.capture_rng()
    first = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.random(), np.random.rand(), torch.rand(3)
    ckpt.restore_rng(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == first


class _FakeAccelerator:
    is_main_process = True
    process_index = 0
    num_processes = 1
    scaler = None

    def wait_for_everyone(self) -> None:
        pass

    def unwrap_model(self, model: Any) -> Any:
        return model


def _save(run: Path, step: int, model: torch.nn.Module, keep: int = 2) -> Path:
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return ckpt.save(
        run,
        step,
        accelerator=_FakeAccelerator(),
        model=model,
        optimizer=opt,
        scheduler=sched,
        state={"config_hash": "h", "progress": {"step": step}},
        keep=keep,
    )


def test_checkpoints_are_atomic_and_pruned(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    for step in (2, 4, 6):
        _save(tmp_path, step, model)
    names = [p.name for p in ckpt.complete_checkpoints(tmp_path)]
    assert names == ["step-000004", "step-000006"]  # keep=2
    # A write killed half way leaves a temporary folder: never picked, removed on restart.
    partial = ckpt.checkpoints_dir(tmp_path) / ".tmp-step-000008"
    partial.mkdir()
    (partial / ckpt.WEIGHTS_FILE).write_bytes(b"half")
    # A folder named like a checkpoint but without its state file is not complete either.
    (ckpt.checkpoints_dir(tmp_path) / "step-000010").mkdir()
    latest = ckpt.latest(tmp_path)
    assert latest is not None and latest.name == "step-000006"
    assert ckpt.read_state(latest)["step"] == 6
    assert ckpt.remove_partial(tmp_path) == [partial] and not partial.exists()
    assert {p.name for p in latest.iterdir()} == {
        "weights.safetensors",
        "optim.pt",
        "rng-0.pt",
        "state.json",
    }


def test_weights_restore_and_mismatch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    path = _save(tmp_path, 1, model)
    other = torch.nn.Linear(3, 2)
    ckpt.load(
        path,
        accelerator=_FakeAccelerator(),
        model=other,
        optimizer=torch.optim.AdamW(other.parameters()),
        scheduler=SimpleNamespace(load_state_dict=lambda s: None),
    )
    assert torch.equal(other.weight, model.weight)
    bigger = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    with pytest.raises(UserError, match="does not hold 4 trainable parameters"):
        ckpt.load_trainable(bigger, path / ckpt.WEIGHTS_FILE)
