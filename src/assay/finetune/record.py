"""The run record (``assay_training.json``) a finished training run writes next to its model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.finetune.session import Session


def run_record(
    s: Session,
    *,
    task: str,
    metrics: dict[str, Any],
    adapter: bool,
    merged: Path | None,
    plot: Path | None,
    restored: bool,
    curves: dict[str, Any],
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    """The record of a finished run (``assay_training.json``): what was trained, from what, on
    which data, with which results, on which machine and versions."""
    from assay.provenance import git_state, machine, package_versions

    st = s.state
    return {
        "format": 1,
        "status": "complete",
        "run_id": s.run_id,
        "recipe": s.cfg.recipe,
        "task": task,
        "started": _iso(s._started),
        "finished": _iso(time.time()),
        "config": s.cfg.model_dump(mode="json"),
        "config_hash": s.cfg.config_hash(),
        "base_model": {
            "name": s.cfg.model,
            "path": str(s.base_path) if s.base_path else None,
            "fingerprint": s.base_fingerprint,
        },
        "outputs": {
            "kind": "adapter" if adapter else "model",
            "path": str(s.run_dir),
            "merged": str(merged) if merged else None,
            "plot": plot.name if plot else None,
        },
        "data": {**s.data, "stats": s.stats, "leakage": s.leakage},
        "metrics": metrics,
        "best": {
            "metric": s.metric,
            "value": st.best,
            "step": st.best_step,
            "restored": restored,
        },
        "training": {
            "steps": st.step,
            "total_steps": s.total_steps,
            "epochs": s.plan_.epoch_at(st.step) if s.plan_ else None,
            "tokens": st.tokens,
            "train_time_s": round(st.train_time_s, 3),
            "tokens_per_s": round(st.tokens / st.train_time_s, 1) if st.train_time_s else None,
            "stopped_early": st.stopped_early,
            "resumed_from_steps": st.resumed_from,
            "processes": s.accelerator.num_processes,
            "device": str(s.device),
            "mixed_precision": s.cfg.optim.mixed_precision,
        },
        "curves": curves,
        **s.extra,
        **(extra or {}),
        "versions": package_versions(),
        "git": git_state(),
        "machine": machine(),
    }


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


__all__ = ["run_record"]
