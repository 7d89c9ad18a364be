"""Resumable checkpoints, written atomically.

A checkpoint is a folder ``<run>/checkpoints/step-000120/`` holding

- ``weights.safetensors``: the trainable parameters (all of them for full finetuning, only the
  adapter for LoRA: the frozen base is rebuilt from the base model);
- ``optim.pt``: optimizer, learning-rate scheduler and (fp16) gradient-scaler states;
- under FSDP or DeepSpeed, instead of the weights and the optimizer state: ``sharded/``, each
  process's part written by ``accelerator.save_state`` (the run folder must be on storage that
  every node sees);
- ``rng-<rank>.pt``: the Python, NumPy and torch (CPU and CUDA) random states of each process;
- ``state.json``: the step, the data position (micro-batches consumed, hence epoch and offset),
  tokens seen, the loss and evaluation curves so far, early-stopping state, the config hash and
  the data hashes. It is written last.

It is built in ``checkpoints/.tmp-step-000120/`` and renamed into place when complete, so a process
killed mid-write leaves a temporary folder (removed on the next start) and never a half checkpoint.
:func:`latest` returns the newest complete one. Restoring weights, optimizer, scheduler, RNG and
data position makes the continued run take the same steps, with the same losses, as one that was
never interrupted.

Everything is saved as tensors, plain lists and JSON, so it loads with ``torch.load(...,
weights_only=True)``: no pickled code runs when a checkpoint is read.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from assay.errors import UserError
from assay.finetune.runs import CHECKPOINTS_DIR

CHECKPOINTS = CHECKPOINTS_DIR
_STEP = re.compile(r"^step-(\d+)$")
STATE_FILE = "state.json"
WEIGHTS_FILE = "weights.safetensors"
OPTIM_FILE = "optim.pt"
SHARDED_DIR = "sharded"


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / CHECKPOINTS


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _STEP.match(p.name)
        if m and p.is_dir() and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest(run_dir: Path) -> Path | None:
    found = complete_checkpoints(run_dir)
    return found[-1] if found else None


def remove_partial(run_dir: Path) -> list[Path]:
    """Delete temporary folders left by a process killed while writing a checkpoint."""
    folder = checkpoints_dir(run_dir)
    removed = []
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


# --------------------------------------------------------------------------------------------
# Random states


def capture_rng() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    np_state: tuple[Any, ...] = tuple(np.random.get_state())
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [
            str(np_state[0]),
            np_state[1].tolist(),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------------------------
# Weights


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().to("cpu").contiguous().clone()
        for name, p in model.named_parameters()
        if p.requires_grad
    }


def save_trainable(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file(trainable_state(model), str(path))
    _fsync(path)


def load_trainable(model: torch.nn.Module, path: Path) -> None:
    """Load trainable parameters saved by :func:`save_trainable`; every one must be there."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    wanted = {name for name, p in model.named_parameters() if p.requires_grad}
    missing = sorted(wanted - set(tensors))
    if missing:
        raise UserError(
            f"{path} does not hold {len(missing)} trainable parameters of this model "
            f"(e.g. {missing[0]})",
            hint="the checkpoint was written for a different model or LoRA setting",
        )
    device_state = {k: v for k, v in tensors.items() if k in wanted}
    result = model.load_state_dict(device_state, strict=False)
    if result.unexpected_keys:  # pragma: no cover - filtered above
        raise UserError(f"{path}: unexpected parameters {result.unexpected_keys[:3]}")


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: to a temporary file in the same folder, then rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    _fsync(tmp)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Save and load


def save(
    run_dir: Path,
    step: int,
    *,
    accelerator: Any,
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
    state: dict[str, Any],
    keep: int,
    sharded: bool = False,
) -> Path:
    """Write the checkpoint of ``step`` atomically (every process calls this; see the module doc).

    ``sharded`` (FSDP, DeepSpeed): weights and optimizer state are split across processes, so
    each process writes its part with ``accelerator.save_state`` into ``sharded/``.
    """
    folder = checkpoints_dir(run_dir)
    final = folder / f"step-{step:06d}"
    tmp = folder / f".tmp-step-{step:06d}"
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    accelerator.wait_for_everyone()
    rng_path = tmp / f"rng-{accelerator.process_index}.pt"
    torch.save(capture_rng(), rng_path)
    _fsync(rng_path)
    if sharded:
        accelerator.save_state(str(tmp / SHARDED_DIR))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        optim_state: dict[str, Any] = {"scheduler": scheduler.state_dict()}
        if not sharded:
            save_trainable(accelerator.unwrap_model(model), tmp / WEIGHTS_FILE)
            optim_state["optimizer"] = optimizer.state_dict()
        scaler = getattr(accelerator, "scaler", None)
        if scaler is not None:
            optim_state["scaler"] = scaler.state_dict()
        torch.save(optim_state, tmp / OPTIM_FILE)
        _fsync(tmp / OPTIM_FILE)
        write_json(tmp / STATE_FILE, {**state, "step": step, "saved_at": time.time()})
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync(folder)
        for old in complete_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def read_state(checkpoint: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
    return data


def load(
    checkpoint: Path,
    *,
    accelerator: Any,
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
    sharded: bool = False,
) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and this process's RNG; return the saved state.

    Call it after everything that consumes random numbers at set-up (model building, LoRA
    initialisation), so the restored RNG is what the next training step sees.
    """
    state = read_state(checkpoint)
    optim_state = torch.load(checkpoint / OPTIM_FILE, map_location="cpu", weights_only=True)
    if (checkpoint / SHARDED_DIR).is_dir() != sharded:
        raise UserError(
            f"{checkpoint} was written {'with' if not sharded else 'without'} FSDP/DeepSpeed "
            f"sharding and this run is {'not ' if not sharded else ''}sharded",
            hint="resume with the same accelerate config, or start over with --fresh",
        )
    if sharded:
        accelerator.load_state(str(checkpoint / SHARDED_DIR))
    else:
        load_trainable(accelerator.unwrap_model(model), checkpoint / WEIGHTS_FILE)
        optimizer.load_state_dict(optim_state["optimizer"])
    scheduler.load_state_dict(optim_state["scheduler"])
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None and "scaler" in optim_state:
        scaler.load_state_dict(optim_state["scaler"])
    rng_path = checkpoint / f"rng-{accelerator.process_index}.pt"
    if not rng_path.is_file():
        raise UserError(
            f"{checkpoint} has no random state for process {accelerator.process_index}",
            hint="resume with the same number of processes the run started with",
        )
    restore_rng(torch.load(rng_path, weights_only=True))
    return state


__all__ = [
    "capture_rng",
    "checkpoints_dir",
    "complete_checkpoints",
    "latest",
    "load",
    "load_trainable",
    "read_state",
    "remove_partial",
    "restore_rng",
    "save",
    "save_trainable",
    "seed_everything",
    "trainable_state",
    "write_json",
]
