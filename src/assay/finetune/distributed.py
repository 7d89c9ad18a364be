"""Which kind of distributed run Accelerate set up, and whether this machine has an accelerator."""

from __future__ import annotations

from typing import Any

import torch

SHARDED = ("FSDP", "DEEPSPEED")


def distributed_kind(accelerator: Any) -> str:
    """``NO``, ``MULTI_CPU``, ``MULTI_GPU``, ``FSDP``, ``DEEPSPEED``, ..."""
    return str(accelerator.distributed_type).rsplit(".", 1)[-1]


def sharding_requested() -> bool:
    import os

    return any(
        os.environ.get(f"ACCELERATE_USE_{name}", "").lower() == "true"
        for name in ("FSDP", "DEEPSPEED")
    )


def has_accelerator() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps is not None and mps.is_available())


__all__ = ["SHARDED", "distributed_kind", "has_accelerator", "sharding_requested"]
