"""How much memory a model needs, how much this machine has free, and whether one fits the other.

Everything here is arithmetic on numbers passed in, so it is easy to test with made-up machines;
:func:`detect_devices` is the one function that looks at the real machine.

Weights need ``parameters x bytes per parameter``. The KV cache needs
``2 (K and V) x layers x kv_heads x head_dim x context x batch x bytes`` and is kept in the compute
dtype: 4 bytes next to fp32 weights, 2 bytes (fp16/bf16) next to bf16, int8 and int4 weights, and
2 bytes for llama.cpp (its default f16 cache). Activations and the framework need some room on
top, so a need above :data:`TIGHT_FRACTION` of the free memory is called "tight".
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, computed_field

TIGHT_FRACTION = 0.8
"""A need up to this fraction of the free memory "fits"; up to all of it is "tight"."""

WEIGHT_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
KV_BYTES: dict[str, int] = {"fp32": 4, "bf16": 2, "int8": 2, "int4": 2}
STORED_KV_BYTES = 2

Status = Literal["fits", "tight", "will not fit"]


class MemoryRow(BaseModel):
    dtype: str
    """``fp32``, ``bf16``, ``int8``, ``int4``, or ``stored`` (a GGUF as it is on disk)."""
    label: str
    weights_bytes: int
    kv_cache_bytes: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes


class MemoryEstimate(BaseModel):
    context: int | None
    batch: int
    kv_bytes_per_token: int | None
    """KV cache bytes per token of context per sequence at 16 bits; None when unknown (or no cache)."""
    rows: list[MemoryRow] = Field(default_factory=list)

    def row(self, dtype: str) -> MemoryRow | None:
        return next((r for r in self.rows if r.dtype == dtype), None)


class DeviceMemory(BaseModel):
    name: str
    """``RAM`` or ``cuda:0`` and so on."""
    description: str = ""
    free_bytes: int
    total_bytes: int | None = None


class Verdict(BaseModel):
    device: str
    free_bytes: int
    dtype: str
    """The row judged: how the chosen backend would load the model on this device."""
    needed_bytes: int
    status: Status
    advice: list[str] = Field(default_factory=list)
    """What to try when it does not fit (or is tight): smaller dtypes, llama.cpp, shorter context."""
    message: str = ""


def kv_cache_bytes(
    layers: int, kv_heads: int, head_dim: int, context: int, batch: int, bytes_per_value: float
) -> int:
    """``2 x layers x kv_heads x head_dim x context x batch x bytes`` (keys and values)."""
    return int(2 * layers * kv_heads * head_dim * context * batch * bytes_per_value)


def estimate(
    parameters: int | None,
    *,
    layers: int | None,
    kv_heads: int | None,
    head_dim: int | None,
    context: int | None,
    batch: int = 1,
    stored_bytes: int | None = None,
    stored_label: str | None = None,
    has_kv_cache: bool = True,
) -> MemoryEstimate:
    """Weights + KV cache per dtype. ``stored_bytes`` adds a row for the file as stored (GGUF)."""
    per_token: int | None = None
    if has_kv_cache and layers and kv_heads and head_dim:
        per_token = kv_cache_bytes(layers, kv_heads, head_dim, 1, 1, 2)
    est = MemoryEstimate(context=context, batch=batch, kv_bytes_per_token=per_token)
    if parameters is None:
        return est

    def kv(bytes_per_value: int) -> int:
        if per_token is None or context is None:
            return 0
        return int(per_token / 2 * bytes_per_value * context * batch)

    for dtype, size in WEIGHT_BYTES.items():
        est.rows.append(
            MemoryRow(
                dtype=dtype,
                label=dtype,
                weights_bytes=int(parameters * size),
                kv_cache_bytes=kv(KV_BYTES[dtype]),
            )
        )
    if stored_bytes is not None:
        est.rows.append(
            MemoryRow(
                dtype="stored",
                label=f"{stored_label} as stored" if stored_label else "as stored",
                weights_bytes=stored_bytes,
                kv_cache_bytes=kv(STORED_KV_BYTES),
            )
        )
    return est


def status_for(needed: int, free: int) -> Status:
    if needed <= TIGHT_FRACTION * free:
        return "fits"
    if needed <= free:
        return "tight"
    return "will not fit"


def _max_context(row: MemoryRow, est: MemoryEstimate, budget: float, kv_bytes: int) -> int | None:
    """The longest power-of-two context (>= 256) whose KV cache fits in ``budget`` with ``row``."""
    if est.kv_bytes_per_token is None or est.context is None:
        return None
    per_token = est.kv_bytes_per_token / 2 * kv_bytes * est.batch
    room = budget - row.weights_bytes
    if room <= 0 or per_token <= 0:
        return None
    tokens = int(room // per_token)
    if tokens < 256:
        return None
    best = 256
    while best * 2 <= tokens:
        best *= 2
    return best if best < est.context else None


def judge(
    est: MemoryEstimate,
    dtype: str,
    device: DeviceMemory,
    *,
    how: str = "",
    gguf_available: bool = False,
) -> Verdict | None:
    """Whether the ``dtype`` row fits ``device``, with what to try when it does not.

    ``how`` says why this row is the one judged ("the hf backend's choice on CPU").
    """
    row = est.row(dtype)
    if row is None:
        return None
    status = status_for(row.total_bytes, device.free_bytes)
    verdict = Verdict(
        device=device.name,
        free_bytes=device.free_bytes,
        dtype=row.label,
        needed_bytes=row.total_bytes,
        status=status,
    )
    if status != "fits":
        verdict.advice = _advice(est, row, device, gguf_available=gguf_available)
    verdict.message = _message(verdict, device, how)
    return verdict


def _advice(
    est: MemoryEstimate, row: MemoryRow, device: DeviceMemory, *, gguf_available: bool
) -> list[str]:
    budget = TIGHT_FRACTION * device.free_bytes
    tips: list[str] = []
    order = ["fp32", "bf16", "int8", "int4"]
    smaller = [
        r
        for r in est.rows
        if r.dtype in order
        and r.dtype != row.dtype
        and r.total_bytes < row.total_bytes
        and r.total_bytes <= budget
    ]
    if row.dtype == "stored":
        smaller = []  # a GGUF is already as small as it is; only the context can shrink
    for r in smaller[:1]:
        if r.dtype == "bf16":
            tips.append(f"bf16 weights (dtype: bfloat16, {format_bytes(r.total_bytes)})")
        elif r.dtype == "int8":
            tips.append(
                f"an 8-bit GGUF (Q8_0) via llama.cpp (gguf:, ~{format_bytes(r.total_bytes)})"
            )
        elif r.dtype == "int4":
            tips.append(
                f"a GGUF int4 (Q4_K_M) via llama.cpp (gguf:, ~{format_bytes(r.total_bytes)})"
            )
    int4 = est.row("int4")
    stored = est.row("stored")
    if (
        gguf_available
        and stored is not None
        and row.dtype != "stored"
        and stored.total_bytes <= budget
    ):
        tips.append(f"this GGUF as it is via llama.cpp (gguf:, {format_bytes(stored.total_bytes)})")
    elif (
        int4 is not None
        and row.dtype not in ("int4", "stored")
        and int4.total_bytes <= budget
        and not any("int4" in t for t in tips)
    ):
        tips.append(f"a GGUF int4 via llama.cpp (gguf:, ~{format_bytes(int4.total_bytes)})")
    kv = KV_BYTES.get(row.dtype, STORED_KV_BYTES)
    ctx = _max_context(row, est, budget, kv)
    if ctx is not None:
        tips.append(f"a shorter context (--context-tokens {ctx})")
    if est.batch > 1:
        tips.append("a smaller batch")
    if not tips:
        tips.append("a machine with more memory or a smaller model")
    return tips


def _message(v: Verdict, device: DeviceMemory, how: str) -> str:
    where = "free RAM" if device.name == "RAM" else f"free on {device.name}"
    what = f"{v.dtype} ({how})" if how else v.dtype
    base = f"{what} needs {format_bytes(v.needed_bytes)} of {format_bytes(v.free_bytes)} {where}"
    if v.status == "fits":
        return f"fits - {base}"
    tips = "; or ".join(v.advice)
    if v.status == "tight":
        return f"tight - {base}, little room for activations; try {tips}"
    return f"will not fit - {base}; try {tips}"


def detect_devices() -> list[DeviceMemory]:
    """Free RAM (psutil) and, when torch sees CUDA, free memory on each GPU.

    torch is imported only when it is installed and the machine has a GPU driver, so a card on a
    CPU-only machine costs no torch import.
    """
    import psutil

    vm = psutil.virtual_memory()
    devices = [
        DeviceMemory(
            name="RAM", description="system memory", free_bytes=vm.available, total_bytes=vm.total
        )
    ]
    devices.extend(_cuda_devices())
    return devices


def _gpu_driver_present() -> bool:
    return (
        Path("/proc/driver/nvidia").exists()
        or Path("/dev/kfd").exists()
        or shutil.which("nvidia-smi") is not None
    )


def _cuda_devices() -> list[DeviceMemory]:
    if "torch" not in sys.modules and (
        importlib.util.find_spec("torch") is None or not _gpu_driver_present()
    ):
        return []
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        out = []
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            out.append(
                DeviceMemory(
                    name=f"cuda:{i}",
                    description=torch.cuda.get_device_name(i),
                    free_bytes=int(free),
                    total_bytes=int(total),
                )
            )
        return out
    except Exception:  # a broken driver must not break a model card
        return []


def format_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def format_count(n: int | None) -> str:
    """A parameter count the way model names write it: 134.5M, 7.2B, 950.0K."""
    if n is None:
        return "?"
    for unit, size in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def best_fit(verdicts: Sequence[Verdict]) -> Verdict | None:
    """The verdict worth a headline: the first device it fits on, else the first one judged."""
    for v in verdicts:
        if v.status == "fits":
            return v
    return verdicts[0] if verdicts else None


__all__ = [
    "KV_BYTES",
    "TIGHT_FRACTION",
    "WEIGHT_BYTES",
    "DeviceMemory",
    "MemoryEstimate",
    "MemoryRow",
    "Verdict",
    "best_fit",
    "detect_devices",
    "estimate",
    "format_bytes",
    "format_count",
    "judge",
    "kv_cache_bytes",
    "status_for",
]
