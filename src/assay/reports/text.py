"""A run's metrics as plain text, for terminals (``assay eval``, ``assay runs show``, the tour)."""

from __future__ import annotations

from typing import Any

from assay.stats import Estimate


def format_metrics(metrics: dict[str, Any]) -> list[str]:
    """A run's stored metrics (``RunRow.metrics``) as indented lines: each metric with its
    interval, unreadable answers, calibration."""
    lines = []
    for name, est in metrics.get("metrics", {}).items():
        lines.append(f"  {name:16} {Estimate.from_dict(est)}")
    failures = metrics.get("extraction_failures")
    if failures:
        lines.append(
            f"  {'extraction':16} {failures} of {metrics['n']} answers could not be read (scored wrong, flagged)"
        )
    if "calibration" in metrics:
        cal = metrics["calibration"]
        lines.append(f"  {'calibration':16} ECE {cal['ece']:.3f} (max {cal['mce']:.3f})")
    return lines


__all__ = ["format_metrics"]
