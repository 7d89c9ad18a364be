"""Calibration of confidences: does "90% sure" mean right 90% of the time?

Confidences in [0, 1] go into ``n_bins`` equal-width bins; bin i holds (i/M, (i+1)/M], and a
confidence of exactly 0 goes into the first bin. For each bin: count, mean confidence, accuracy.

    ECE = Σ_b (n_b / N) · |accuracy_b - mean confidence_b|      (expected calibration error)
    MCE = max_b |accuracy_b - mean confidence_b| over non-empty bins (maximum calibration error)

ECE from a finite sample is biased upwards (each bin's |gap| is positive even when the model is
calibrated), by roughly Σ_b (n_b/N) · √(2 p_b(1-p_b) / (π n_b)); read small ECEs from small runs with
that in mind, or bootstrap the ECE with ``bootstrap_ci(expected_calibration_error, conf, correct)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from assay.errors import UserError
from assay.stats._validate import as_binary, as_values


@dataclass(frozen=True)
class CalibrationBin:
    lower: float
    upper: float
    count: int
    mean_confidence: float | None
    """None for an empty bin."""
    accuracy: float | None
    """None for an empty bin."""

    @property
    def gap(self) -> float | None:
        """mean confidence - accuracy: positive where the model is over-confident."""
        if self.mean_confidence is None or self.accuracy is None:
            return None
        return self.mean_confidence - self.accuracy


@dataclass(frozen=True)
class Calibration:
    bins: tuple[CalibrationBin, ...]
    ece: float
    mce: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """The per-bin table as aligned text."""
        rows = [f"{'bin':>13}  {'count':>6}  {'confidence':>10}  {'accuracy':>8}  {'gap':>7}"]
        for b in self.bins:
            if b.count == 0:
                rows.append(
                    f"({b.lower:.2f}, {b.upper:.2f}]  {0:>6}  {'-':>10}  {'-':>8}  {'-':>7}"
                )
                continue
            assert b.mean_confidence is not None and b.accuracy is not None and b.gap is not None
            rows.append(
                f"({b.lower:.2f}, {b.upper:.2f}]  {b.count:>6}  {b.mean_confidence:>10.3f}  "
                f"{b.accuracy:>8.3f}  {b.gap:>+7.3f}"
            )
        rows.append(f"ECE {self.ece:.4f}, MCE {self.mce:.4f} (n={self.n}, {len(self.bins)} bins)")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()


def _bin_index(confidences: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.digitize(confidences, edges, right=True) - 1, 0, n_bins - 1)


def _check(confidences: Any, correct: Any, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    if int(n_bins) != n_bins or n_bins < 1:
        raise UserError(f"n_bins must be a positive whole number, got {n_bins}")
    conf = as_values(confidences, "confidences")
    right = as_binary(correct, "correct")
    if conf.size != right.size:
        raise UserError(
            f"confidences and correct must have the same length, got {conf.size} and {right.size}"
        )
    if (conf < 0).any() or (conf > 1).any():
        raise UserError("confidences must be probabilities in [0, 1]")
    return conf, right


def calibration(confidences: Any, correct: Any, *, n_bins: int = 10) -> Calibration:
    """The per-bin reliability table with ECE and MCE (see the module docstring)."""
    conf, right = _check(confidences, correct, n_bins)
    idx = _bin_index(conf, n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    right_sum = np.bincount(idx, weights=right.astype(np.float64), minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = []
    gaps = []
    for i in range(n_bins):
        c = int(counts[i])
        if c:
            mc, acc = float(conf_sum[i] / c), float(right_sum[i] / c)
            gaps.append((c, abs(mc - acc)))
            bins.append(CalibrationBin(float(edges[i]), float(edges[i + 1]), c, mc, acc))
        else:
            bins.append(CalibrationBin(float(edges[i]), float(edges[i + 1]), 0, None, None))
    n = int(conf.size)
    ece = float(sum(c * g for c, g in gaps) / n)
    mce = float(max(g for _, g in gaps))
    return Calibration(tuple(bins), ece, mce, n)


def expected_calibration_error(confidences: Any, correct: Any, *, n_bins: int = 10) -> Any:
    """ECE with equal-width bins.

    Works on one sample (1-D inputs -> float) or on a batch of resamples (2-D inputs, one row per
    resample -> array), so it can be passed to ``bootstrap_ci(..., vectorized=True)``.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    if conf.ndim == 1:
        conf_c, right_c = _check(conf, right, n_bins)
        return calibration(conf_c, right_c, n_bins=n_bins).ece
    if conf.shape != right.shape or conf.ndim != 2:
        raise UserError("batched confidences and correct must be 2-D arrays of the same shape")
    rows, n = conf.shape
    idx = _bin_index(conf, n_bins) + n_bins * np.arange(rows)[:, None]
    size = rows * n_bins
    conf_sum = np.bincount(idx.ravel(), weights=conf.ravel(), minlength=size).reshape(rows, n_bins)
    right_sum = np.bincount(idx.ravel(), weights=right.ravel(), minlength=size).reshape(
        rows, n_bins
    )
    return np.abs(conf_sum - right_sum).sum(axis=1) / n
