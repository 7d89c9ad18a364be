"""Where the model runs and in which precision, and seeded sampling that leaves the caller's random
state alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from assay.errors import ConfigError


def pick_device(preference: str) -> torch.device:
    """``auto`` is CUDA, else Apple MPS, else CPU; an explicit device must be available."""
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (preference == "cuda" and not cuda) or (preference == "mps" and not mps):
        raise ConfigError(
            f"device '{preference}' was asked for, but it is not available here",
            hint="set device to auto or cpu (config.yaml 'device' or ASSAY_DEVICE)",
        )
    return torch.device(preference)


def pick_dtype(preference: str, device: torch.device) -> torch.dtype:
    """``auto`` is float32 on CPU and MPS, bfloat16 on CUDA when supported (else float16)."""
    if preference != "auto":
        dtype: torch.dtype = getattr(torch, preference)
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run under ``seed`` without disturbing the caller's random state."""
    if seed is None:
        yield
        return
    devices: list[int] = []
    if device.type == "cuda":
        # "cuda" without an index is the current device, which a launcher sets per process
        devices = [torch.cuda.current_device() if device.index is None else device.index]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
