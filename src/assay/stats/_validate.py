"""Input checks shared by the statistics modules: bad input is the caller's mistake (UserError)."""

from __future__ import annotations

from typing import Any

import numpy as np

from assay.errors import UserError


def check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise UserError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    return float(confidence)


def check_probability(value: float, name: str) -> float:
    if not 0.0 < value < 1.0:
        raise UserError(f"{name} must be between 0 and 1 (exclusive), got {value}")
    return float(value)


def as_values(values: Any, name: str = "values", min_n: int = 1) -> np.ndarray:
    """A 1-D float array of finite numbers with at least ``min_n`` entries."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{name} must be numbers: {exc}") from None
    if arr.ndim != 1:
        raise UserError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_n:
        raise UserError(f"{name} needs at least {min_n} value(s), got {arr.size}")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise UserError(f"{name} has {bad} missing or infinite value(s) (NaN/inf)")
    return arr


def as_binary(values: Any, name: str) -> np.ndarray:
    """A 1-D bool array from booleans or 0/1 numbers."""
    arr = as_values(values, name)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise UserError(f"{name} must be binary (True/False or 0/1)")
    return arr.astype(bool)
