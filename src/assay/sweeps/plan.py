"""What a sweep will cost before it runs (``--dry-run``), and whether its items are enough.

Prompt tokens are estimated from the rendered prompts of the sampled items (characters / 4,
the usual rule of thumb for English with BPE tokenizers); completion tokens at most
``max_tokens`` per answer for generating tasks. Cost comes from the price table in the
settings; time from this workspace's call log (the mean latency per request of earlier,
uncached calls of the same model), else it is unknown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import UserError
from assay.sweeps.config import SweepConfig, resolve_task
from assay.sweeps.grid import Cell, expand

if TYPE_CHECKING:
    from assay.workspace import Workspace

CHARS_PER_TOKEN = 4.0
ASSUMED_AGREEMENT = 0.8
"""Paired agreement assumed before any cell has run (``assay compare`` shows the real one)."""


@dataclass
class CellPlan:
    index: int
    label: str
    items: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    seconds: float | None


@dataclass
class SweepPlan:
    name: str
    cells: list[CellPlan]
    axes: dict[str, list[Any]]
    warnings: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(c.calls for c in self.cells)

    @property
    def cost(self) -> float:
        return sum(c.cost for c in self.cells)

    @property
    def seconds(self) -> float | None:
        known = [c.seconds for c in self.cells if c.seconds is not None]
        return sum(known) if len(known) == len(self.cells) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "axes": self.axes,
            "cells": [asdict(c) for c in self.cells],
            "calls": self.calls,
            "cost": self.cost,
            "seconds": self.seconds,
            "warnings": self.warnings,
        }


def _latency_per_request(workspace: Workspace, address: str) -> float | None:
    row = workspace.db.execute(
        "SELECT SUM(latency_s), SUM(n_requests) FROM calls WHERE model = ? AND cached = 0 "
        "AND error IS NULL",
        (address,),
    ).fetchone()
    return float(row[0]) / float(row[1]) if row and row[1] else None


def _resolved(address: str, workspace: Workspace) -> str:
    from assay.config import load_settings
    from assay.models.registry import resolve_alias

    return resolve_alias(address, load_settings(workspace.config_path).aliases)


def _prompt_chars(task: Any, dataset: Any) -> int:
    from assay.evals.steps import PromptBuilder

    builder = PromptBuilder(task, dataset)
    total = 0
    for rid, row in zip(dataset.ids, dataset.rows, strict=True):
        prompt = builder.prompt(row, str(rid))
        total += len(prompt) if isinstance(prompt, str) else sum(len(m.content) for m in prompt)
    return total


def plan_sweep(config: SweepConfig, workspace: Workspace | None = None) -> SweepPlan:
    """The grid with the calls, tokens, cost and time each cell will take."""
    from assay.config import load_settings
    from assay.evals.datasets import select
    from assay.evals.steps import load_dataset
    from assay.workspace import Workspace as WorkspaceClass

    ws = workspace or WorkspaceClass.find()
    settings = load_settings(ws.config_path)
    cells = expand(config)
    datasets: dict[str, Any] = {}
    plans: list[CellPlan] = []
    for cell in cells:
        task = _cell_task(config, cell)
        if cell.task not in datasets:
            datasets[cell.task] = load_dataset(task.dataset)
        dataset = datasets[cell.task]
        n = config.limit or task.limit
        sample = dataset if n is None or n >= len(dataset.rows) else None
        if sample is None:
            sample = select(dataset, limit=n, shuffle=True, seed=task.seed)
        ids = [str(i) for i in sample.ids]
        try:
            chars = _prompt_chars(task, sample)
        except UserError:
            chars = 0  # a template that cannot render: the run itself names the row
        prompt_tokens = int(chars / CHARS_PER_TOKEN)
        generates = task.kind not in ("multiple_choice", "perplexity")
        completion = task.generation.max_tokens * len(ids) if generates else 0
        resolved = _resolved(cell.model, ws)
        name = resolved.split(":", 1)[-1].split("@", 1)[0]
        price = settings.prices.get(resolved) or settings.price_for(name)
        cost = (prompt_tokens * price.prompt + completion * price.completion) / 1e6
        latency = _latency_per_request(ws, resolved)
        plans.append(
            CellPlan(
                cell.index,
                cell.label,
                len(ids),
                len(ids),
                prompt_tokens,
                completion,
                cost,
                None if latency is None else latency * len(ids),
            )
        )
    plan = SweepPlan(config.name, plans, _axes(cells))
    n_items = min((c.items for c in plans), default=0)
    warning = too_few_items(n_items, config.effect, 1.0 - ASSUMED_AGREEMENT, assumed=True)
    plan.warnings = [w for w in [precision_warning(config, cells)] if w]
    if warning and len(plans) > 1:
        plan.warnings.append(warning)
    return plan


def precision_warning(config: SweepConfig, cells: list[Cell]) -> str | None:
    """A precision axis that no cell can use: no model of the sweep is a local hf: model."""
    from assay.sweeps.grid import SERVED

    asked = [p for p in config.axes.precision if p != "auto"]
    if asked and all(c.precision == SERVED for c in cells):
        return (
            f"precision {', '.join(asked)} applies to local hf: models only; "
            "every model of this sweep runs as it is served"
        )
    return None


def sweep_warnings(config: SweepConfig) -> list[str]:
    """What to know before a sweep runs: a precision axis no cell uses, and items too few to
    tell the cells ``effect`` apart (at an assumed paired agreement)."""
    cells = expand(config)
    out = [w for w in [precision_warning(config, cells), items_warning(config, cells)] if w]
    return out


def items_warning(config: SweepConfig, cells: list[Cell]) -> str | None:
    from assay.evals.steps import load_dataset

    if len(cells) < 2:
        return None
    sizes = []
    for name in config.task_names:
        task = resolve_task(config, name)
        available = len(load_dataset(task.dataset).rows)
        limit = config.limit or task.limit
        sizes.append(min(limit, available) if limit else available)
    return too_few_items(min(sizes), config.effect, 1.0 - ASSUMED_AGREEMENT, assumed=True)


def _cell_task(config: SweepConfig, cell: Cell) -> Any:
    task = resolve_task(config, cell.task)
    changes = cell.overrides()
    return task.with_overrides(**changes) if changes else task


def _axes(cells: list[Cell]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for cell in cells:
        for key, value in cell.axes().items():
            if value is not None and value not in out.setdefault(key, []):
                out[key].append(value)
    return out


def too_few_items(
    n: int,
    effect: float,
    discordance: float | None,
    *,
    sd_diff: float | None = None,
    assumed: bool = False,
) -> str | None:
    """A warning when ``n`` paired items cannot tell two cells ``effect`` apart with 80% power
    (``assay plan``'s computation), else None."""
    from assay.stats.power import plan_sample_size

    try:
        if sd_diff is not None:
            plan = plan_sample_size(effect=effect, sd_diff=sd_diff)
            basis = f"the observed sd of per-item differences {sd_diff:.3g}"
            command = f"assay plan --metric score --effect {effect:g} --sd-diff {sd_diff:.3g}"
        elif discordance is not None:
            agreement = 1.0 - discordance
            plan = plan_sample_size(effect=effect, paired_agreement=agreement)
            basis = (
                f"an assumed paired agreement of {agreement:.2f}"
                if assumed
                else f"the observed paired agreement {agreement:.2f}"
            )
            command = f"assay plan --effect {effect:g} --paired-agreement {agreement:.2f}"
        else:
            return None
    except UserError:
        return None  # e.g. cells that disagree on fewer items than the effect: no plan applies
    if plan.n <= n:
        return None
    return (
        f"{n} items are too few to tell cells {effect:g} apart: with {basis}, 80% power needs "
        f"{plan.n} ({command})"
    )


__all__ = ["CellPlan", "SweepPlan", "plan_sweep", "sweep_warnings", "too_few_items"]
