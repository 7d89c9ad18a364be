"""Where the model runs and in which precision, and seeded sampling that leaves the caller's random
state alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

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
    """``auto`` is float32 on CPU and MPS, bfloat16 on CUDA when supported (else float16).
    ``int8`` loads float32 weights, which :func:`quantize_int8` then quantises."""
    if preference == "int8":
        return torch.float32
    if preference != "auto":
        dtype: torch.dtype = getattr(torch, preference)
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def quantize_int8(model: Any, device: torch.device) -> Any:
    """Every ``nn.Linear`` of ``model`` quantised to int8 weights (activations quantised on the
    fly): torch's dynamic quantisation, which runs on the CPU only."""
    if device.type != "cpu":
        raise ConfigError(
            f"dtype int8 (dynamic quantisation) runs on the CPU, but the model is on {device}",
            hint="set device to cpu (config.yaml 'device' or ASSAY_DEVICE=cpu), or use bfloat16",
        )
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch's notice that its quantised tensors will move
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def weights_bytes(model: Any) -> int:
    """Bytes the model's weights take as loaded: parameters, buffers and the packed int8
    weights of dynamically quantised layers (which are neither)."""
    total = 0
    for value in model.state_dict().values():
        for tensor in value if isinstance(value, tuple) else (value,):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()
    return total


def reset_peak_memory(device: torch.device) -> None:
    """Start counting the peak of allocated GPU memory afresh (nothing to do on a CPU)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> int | None:
    """The most GPU memory allocated since :func:`reset_peak_memory`; None off CUDA (a CPU
    process's peak cannot be told apart from everything else it holds)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.max_memory_allocated(device))


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
