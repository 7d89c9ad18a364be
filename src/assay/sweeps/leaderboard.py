"""The answer of a sweep: every cell's quality with its interval, paired against the best cell
(Holm-corrected), next to what it costs (tokens, money, latency, throughput, memory) and what
its model is (from the model card), with a recommendation in plain words.

One leaderboard per task: cells of different tasks are not on the same items.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from assay.config_file import did_you_mean
from assay.errors import UserError
from assay.evals.compare import compare_runs
from assay.evals.runs import RunRow, RunStore
from assay.reports.analysis import higher_is_better
from assay.stats import Estimate
from assay.stats.variance import VarianceComponents, variance_components
from assay.sweeps.grid import SERVED
from assay.sweeps.plan import ASSUMED_AGREEMENT, too_few_items
from assay.sweeps.store import CellRow, SweepRow, SweepStore

if TYPE_CHECKING:
    from assay.workspace import Workspace


@dataclass
class Entry:
    index: int
    label: str
    axes: dict[str, Any]
    status: str
    run_id: str | None = None
    error: str | None = None
    metric: Estimate | None = None
    difference: Estimate | None = None
    """This cell minus the best cell, on their shared items."""
    p_holm: float | None = None
    distinguishable: bool | None = None
    """From the best cell at alpha 0.05 after Holm's correction; None: not tested."""
    n: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_p50: float | None = None
    latency_p95: float | None = None
    items_per_s: float | None = None
    tokens_per_s: float | None = None
    memory_bytes: int | None = None
    memory_source: str = ""
    """``peak`` (GPU peak during the cell), ``weights`` (the weights as loaded) or ``card``
    (estimated from the model's files)."""
    parameters: int | None = None
    license: str | None = None
    access: str = ""
    """open weights, API or scripted."""
    quantization: str | None = None
    instruction_tuned: str = "unknown"
    wall_s: float | None = None
    cache_hits: int = 0
    """Answers taken from the response cache: the speed columns are then left empty (the
    cache's speed is not the model's)."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("metric", "difference"):
            value = getattr(self, key)
            out[key] = value.to_dict() if value is not None else None
        return out


@dataclass
class Leaderboard:
    sweep_id: str
    name: str
    task: str
    metric: str
    higher_is_better: bool
    effect: float
    entries: list[Entry]
    variance: list[tuple[str, VarianceComponents]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recommendation: str = ""

    @property
    def done(self) -> list[Entry]:
        return [e for e in self.entries if e.metric is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep_id,
            "name": self.name,
            "task": self.task,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "effect": self.effect,
            "cells": [e.to_dict() for e in self.entries],
            "variance": [{"group": g, **v.to_dict()} for g, v in self.variance],
            "warnings": self.warnings,
            "recommendation": self.recommendation,
        }


# -- per cell ------------------------------------------------------------------------------------


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _run_seconds(run: RunRow) -> float | None:
    from datetime import datetime

    if not run.finished:
        return None
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    try:
        return (
            datetime.strptime(run.finished, fmt) - datetime.strptime(run.created, fmt)
        ).total_seconds()
    except ValueError:
        return None


def _usage(entry: Entry, store: RunStore, run: RunRow, cell: CellRow, prices: Any) -> None:
    records = store.records(run.id)
    entry.n = len(records)
    entry.prompt_tokens = sum(int(r.prompt_tokens or 0) for r in records)
    entry.completion_tokens = sum(int(r.completion_tokens or 0) for r in records)
    entry.wall_s = _run_seconds(run) if cell.reused or cell.wall_s is None else cell.wall_s
    latencies = [float(r.latency_s) for r in records if r.latency_s is not None]
    if not latencies and entry.wall_s and entry.n:
        latencies = [entry.wall_s / entry.n]  # batched scoring: the mean time per item
    entry.latency_p50, entry.latency_p95 = _quantile(latencies, 0.5), _quantile(latencies, 0.95)
    if entry.wall_s:
        entry.items_per_s = entry.n / entry.wall_s
        if entry.completion_tokens:
            entry.tokens_per_s = entry.completion_tokens / entry.wall_s
    entry.cache_hits = cell.cache_hits
    if cell.cache_hits:  # served (partly) from the cache: no measurement of the model's speed
        entry.latency_p50 = entry.latency_p95 = entry.items_per_s = entry.tokens_per_s = None
    price = prices(run.model)
    entry.cost = (
        entry.prompt_tokens * price.prompt + entry.completion_tokens * price.completion
    ) / 1e6


def _card_facts(entries: list[Entry], workspace: Workspace) -> None:
    """Parameters, licence, access, quantisation and instruction tuning from each model's card;
    memory from the card where it was not measured."""
    from assay.models.card import model_card

    cards: dict[str, Any] = {}
    for e in entries:
        address = str(e.axes.get("model"))
        if address not in cards:
            try:
                cards[address] = model_card(address, workspace=workspace)
            except Exception:  # a card is a nicety: an unreachable server leaves it blank
                cards[address] = None
        card = cards[address]
        precision = str(e.axes.get("precision"))
        if card is None:
            continue
        e.parameters = card.parameters
        e.license = card.license
        e.instruction_tuned = card.instruction_tuned
        e.access = {"api": "API", "fake": "scripted"}.get(card.format, "open weights")
        if precision == "int8":
            e.quantization = "int8 (dynamic)"
        elif card.quantization and precision != SERVED:
            e.quantization = f"{card.quantization} file, dequantised"  # hf: loads it unpacked
        else:
            e.quantization = card.quantization or None

        if e.memory_bytes is None and card.memory is not None and precision != SERVED:
            dtype = {"auto": "fp32", "fp16": "bf16"}.get(precision, precision)
            row = card.memory.row(dtype)
            if row is not None:
                e.memory_bytes, e.memory_source = row.weights_bytes, "card"


# -- the board -----------------------------------------------------------------------------------


def _metric_name(config: dict[str, Any], runs: list[RunRow]) -> str:
    available = list((runs[0].metrics or {}).get("metrics", {}))
    wanted = config.get("metric")
    if wanted is None:
        if not available:
            raise UserError(f"run {runs[0].id} has no metric to rank cells by")
        return available[0]
    if wanted not in available:
        raise UserError(
            f"metric '{wanted}' is not among the cells' metrics ({', '.join(available)})",
            hint=did_you_mean(wanted, available) + "set metric: in the sweep file",
        )
    return str(wanted)


def _paired(store: RunStore, board: Leaderboard) -> None:
    done = board.done
    if len(done) < 2:
        return
    best = done[0]
    others = done[1:]
    try:
        rows = compare_runs(
            store, [str(best.run_id), *(str(e.run_id) for e in others)], [board.metric]
        )
    except UserError as exc:
        board.warnings.append(f"no paired tests: {exc.message}")
        return
    for entry, row in zip(others, rows, strict=True):
        entry.difference = row.result.difference
        entry.p_holm = row.p_holm
        entry.distinguishable = row.reject


def _scores(store: RunStore, run_id: str, metric: str) -> dict[str, float]:
    return {str(r.id): float(r.scores[metric]) for r in store.records(run_id) if metric in r.scores}


def _variance(store: RunStore, board: Leaderboard) -> None:
    """Prompt vs item spread within each group of cells that differ only in their prompt."""
    groups: dict[str, list[Entry]] = {}
    for e in board.done:
        if e.axes.get("prompt") is None:
            continue
        rest = {k: v for k, v in e.axes.items() if k not in ("prompt", "task") and v is not None}
        key = " ".join(f"{k}={v}" for k, v in rest.items())
        groups.setdefault(key, []).append(e)
    for key, entries in groups.items():
        if len(entries) < 2:
            continue
        scores = [_scores(store, str(e.run_id), board.metric) for e in entries]
        shared = sorted(set.intersection(*(set(s) for s in scores)))
        if len(shared) < 2:
            continue
        matrix = [[s[i] for i in shared] for s in scores]
        board.variance.append((key, variance_components(matrix)))


def _power(store: RunStore, board: Leaderboard) -> None:
    """Warn when the items are too few to tell two cells ``effect`` apart, planned with the
    mean paired disagreement (or sd of differences) between the best cell and the others."""
    done = board.done
    if len(done) < 2:
        return
    best = _scores(store, str(done[0].run_id), board.metric)
    pairs = [(best, _scores(store, str(e.run_id), board.metric)) for e in done[1:]]
    shared = [[k for k in a if k in b] for a, b in pairs]
    n = min(len(s) for s in shared)
    if n < 2:
        return
    values = [v for a, b in pairs for k in a if k in b for v in (a[k], b[k])]
    if all(v in (0.0, 1.0) for v in values):
        psi = statistics.mean(
            sum(a[k] != b[k] for k in keys) / len(keys)
            for (a, b), keys in zip(pairs, shared, strict=True)
        )
        assumed = psi < board.effect  # cells that barely disagree: plan as `assay plan` would
        warning = too_few_items(
            n, board.effect, 1.0 - ASSUMED_AGREEMENT if assumed else psi, assumed=assumed
        )
    else:
        sds = [
            statistics.stdev([a[k] - b[k] for k in keys])
            for (a, b), keys in zip(pairs, shared, strict=True)
        ]
        sd = statistics.mean(sds)
        warning = too_few_items(n, board.effect, None, sd_diff=sd) if sd > 0 else None
    if warning:
        board.warnings.append(warning)


def build_leaderboards(sweep: SweepRow, workspace: Workspace) -> list[Leaderboard]:
    """One leaderboard per task of ``sweep``, best cell first, failed cells last."""
    from assay.config import load_settings
    from assay.sweeps.recommend import recommend

    store = RunStore(workspace)
    settings = load_settings(workspace.config_path)

    def prices(address: str) -> Any:
        name = address.split(":", 1)[-1].split("@", 1)[0]
        return settings.prices.get(address) or settings.price_for(name)

    boards = []
    tasks = list(dict.fromkeys(str(c.axes.get("task")) for c in sweep.cells))
    for task in tasks:
        cells = [c for c in sweep.cells if c.axes.get("task") == task]
        runs = {c.index: store.get(c.run_id) for c in cells if c.status == "done" and c.run_id}
        finished = [r for r in runs.values() if r.status == "done"]
        metric = _metric_name(sweep.config, finished) if finished else "-"
        higher = higher_is_better(finished[0], metric) if finished else True
        entries = []
        for cell in cells:
            e = Entry(cell.index, cell.label, cell.axes, cell.status, cell.run_id, cell.error)
            run = runs.get(cell.index)
            if run is not None and run.status == "done":
                raw = (run.metrics or {}).get("metrics", {}).get(metric)
                e.metric = Estimate.from_dict(raw) if raw else None
                _usage(e, store, run, cell, prices)
                if cell.memory_bytes is not None:
                    e.memory_bytes, e.memory_source = cell.memory_bytes, cell.memory_source
            entries.append(e)
        sign = 1.0 if higher else -1.0
        entries.sort(
            key=lambda e: (e.metric is None, -sign * (e.metric.value if e.metric else 0.0))
        )
        board = Leaderboard(
            sweep.id,
            sweep.name,
            task,
            metric,
            higher,
            float(sweep.config.get("effect") or 0.05),
            entries,
        )
        _card_facts(entries, workspace)
        _paired(store, board)
        _variance(store, board)
        _power(store, board)
        cached = [f"{e.label} ({e.cache_hits})" for e in entries if e.cache_hits]
        if cached:
            board.warnings.append(
                "speed not measured where answers came from the response cache: "
                + ", ".join(cached)
                + "; rerun those cells with the cache off (ASSAY_CACHE=0) to time them"
            )
        board.recommendation = recommend(board)
        boards.append(board)
    return boards


def leaderboards(sweep_id: str, workspace: Workspace | None = None) -> list[Leaderboard]:
    """The leaderboards of a recorded sweep (an id or a unique prefix of one)."""
    from assay.workspace import Workspace as WorkspaceClass

    ws = workspace or WorkspaceClass.find()
    return build_leaderboards(SweepStore(ws).get(sweep_id), ws)


__all__ = ["Entry", "Leaderboard", "build_leaderboards", "leaderboards"]
