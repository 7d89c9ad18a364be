"""Run a sweep: every cell an ordinary evaluation run on the same seeded items.

What the cells share is done once: each task's dataset is loaded once, and each model (at each
precision) is loaded once for all the cells that use it. A cell whose run already finished is
reused as it is; an interrupted one resumes through the runner (same run key); a cell whose
model cannot load, or cannot do what the task needs, is recorded failed and the others run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError
from assay.models.types import stable_hash
from assay.sweeps.config import SweepConfig, resolve_task
from assay.sweeps.grid import Cell, expand
from assay.sweeps.store import CellRow, SweepRow, SweepStore

if TYPE_CHECKING:
    from assay.evals.datasets import Dataset
    from assay.models.facade import Model
    from assay.workspace import Workspace

NEEDS_LOGLIKELIHOOD = ("multiple_choice", "perplexity")
"""Task kinds that score text by log-likelihood, which only some models give."""


def sweep_key(config: SweepConfig, cells: list[Cell]) -> str:
    return stable_hash(
        {"config": config.model_dump(mode="json"), "cells": [c.axes() for c in cells]}
    )


def _error_text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, AssayError) else f"{type(exc).__name__}: {exc}"


def _load(cell: Cell, workspace: Workspace) -> Model:
    from assay.config import load_settings
    from assay.models.facade import Model

    overrides = {"dtype": cell.dtype()} if cell.dtype() else None
    settings = load_settings(workspace.config_path, overrides=overrides)
    return Model.load(cell.model, settings=settings, workspace=workspace)


def _reset_peak(model: Model) -> None:
    reset = getattr(model.backend, "reset_peak_memory", None)
    if callable(reset):
        reset()


def _memory(model: Model) -> tuple[int | None, str]:
    """The cell's memory: the GPU peak where there is one, else the weights as loaded."""
    peak = getattr(model.backend, "peak_memory_bytes", None)
    value = peak() if callable(peak) else None
    if value is not None:
        return int(value), "peak"
    measure = getattr(model.backend, "weights_bytes", None)
    return (int(measure()), "weights") if callable(measure) else (None, "")


def _cannot_run(task: Any, model: Model) -> str | None:
    if task.kind in NEEDS_LOGLIKELIHOOD and not model.capabilities.loglikelihood:
        return (
            f"task '{task.name}' ({task.kind}) scores answers by log-likelihood, which "
            f"{model.address} does not give; run it with a local model, or a generate task"
        )
    return None


class _Cells:
    """Models and datasets loaded once for the cells that share them."""

    def __init__(self, config: SweepConfig, workspace: Workspace) -> None:
        self.config = config
        self.workspace = workspace
        self.tasks: dict[str, Any] = {}
        self.datasets: dict[str, Dataset] = {}
        self.model_key: tuple[str, str] | None = None
        self.model: Model | None = None
        self.model_error: str | None = None

    def task(self, cell: Cell) -> Any:
        if cell.task not in self.tasks:
            self.tasks[cell.task] = resolve_task(self.config, cell.task)
        base = self.tasks[cell.task]
        changes = cell.overrides()
        return base.with_overrides(**changes) if changes else base

    def dataset(self, cell: Cell, task: Any) -> Dataset:
        from assay.evals.steps import load_dataset

        if cell.task not in self.datasets:
            self.datasets[cell.task] = load_dataset(task.dataset)
        return self.datasets[cell.task]

    def load(self, cell: Cell) -> Model:
        """The cell's model, loaded once while consecutive cells use it; a failure to load is
        remembered and raised for each of them."""
        key = (cell.model, cell.precision)
        if key != self.model_key:
            self.model, self.model_error, self.model_key = None, None, key
            try:
                self.model = _load(cell, self.workspace)
            except (AssayError, OSError, RuntimeError, ValueError, ImportError) as exc:
                self.model_error = f"the model could not be loaded: {_error_text(exc)}"
        if self.model is None:
            raise _CellFailed(self.model_error or "the model could not be loaded")
        return self.model


class _CellFailed(Exception):
    pass


def _run_cell(
    cell: Cell, shared: _Cells, *, rerun: bool, progress: bool, say: Callable[[str], None]
) -> CellRow:
    from assay.evals.runner import EvalOptions, evaluate

    row = CellRow(cell.index, cell.label, cell.axes(), "pending")
    start = time.perf_counter()
    try:
        task = shared.task(cell)
        model = shared.load(cell)
        problem = _cannot_run(task, model)
        if problem:
            raise _CellFailed(problem)
        messages: list[str] = []

        def status(msg: str) -> None:
            messages.append(msg)
            say(f"  {msg}")

        options = EvalOptions(
            limit=shared.config.limit,
            progress=progress,
            rerun=rerun,
            dataset=shared.dataset(cell, task),
        )
        _reset_peak(model)
        hits_before = model.cache_hits
        run = evaluate(task, model, options, on_status=status)
    except _CellFailed as exc:
        row.status, row.error = "failed", str(exc)
        return row
    except AssayError as exc:
        row.status, row.error = "failed", exc.message
        return row
    except Exception as exc:  # one cell's crash is that cell's failure; the others still run
        row.status, row.error = "failed", _error_text(exc)
        return row
    row.status, row.run_id = "done", run.id
    row.reused = any(m.startswith("already evaluated") for m in messages)
    row.cache_hits = model.cache_hits - hits_before
    row.wall_s = round(time.perf_counter() - start, 3)
    row.memory_bytes, row.memory_source = _memory(model)
    return row


def run_sweep(
    config: SweepConfig,
    *,
    workspace: Workspace | None = None,
    rerun: bool = False,
    progress: bool = True,
    on_status: Callable[[str], None] | None = None,
) -> SweepRow:
    """Run every cell of ``config`` not yet done; returns the sweep as recorded."""
    from assay.workspace import Workspace as WorkspaceClass

    say = on_status or (lambda msg: print(msg, file=sys.stderr))
    ws = workspace or WorkspaceClass.find()
    cells = expand(config)
    store = SweepStore(ws)
    key = sweep_key(config, cells)
    existing = store.find(key)
    if existing is None:
        rows = [CellRow(c.index, c.label, c.axes(), "pending") for c in cells]
        sweep_id = store.create(key, config.name, config.model_dump(mode="json"), rows)
        say(f"sweep {sweep_id}: {len(cells)} cells")
    else:
        sweep_id = existing.id
        done = sum(c.status == "done" for c in existing.cells)
        say(f"continuing sweep {sweep_id}: {done}/{len(cells)} cells already done")
        store.set_status(sweep_id, "running")
    recorded = {c.index: c for c in (existing.cells if existing else [])}
    shared = _Cells(config, ws)
    # Cells that share a model run one after another, so each model is loaded once.
    loads = list(dict.fromkeys((c.model, c.precision) for c in cells))
    order = sorted(cells, key=lambda c: loads.index((c.model, c.precision)))
    for n, cell in enumerate(order, 1):
        before = recorded.get(cell.index)
        if before is not None and before.status == "done" and not rerun:
            continue
        say(f"[{n}/{len(cells)}] {cell.label}")
        row = _run_cell(cell, shared, rerun=rerun, progress=progress, say=say)
        if row.status == "failed":
            say(f"  cell failed: {row.error}")
        store.record_cell(sweep_id, row)
    final = store.get(sweep_id)
    failed = sum(c.status == "failed" for c in final.cells)
    store.set_status(sweep_id, "done" if not failed else "incomplete")
    return store.get(sweep_id)


__all__ = ["NEEDS_LOGLIKELIHOOD", "run_sweep", "sweep_key"]
