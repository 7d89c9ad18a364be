"""The data behind the app's pages, read from the workspace through the stores the CLI uses.

Nothing here writes. A finished run's samples are parsed once and kept (keyed by the run's
status, sample count and metrics, so a run that is still being written, or gains a review
metric, is read again), which keeps a page of a 10,000-sample run fast.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.evals.runs import RunRow, RunStore
from assay.reports import analysis
from assay.workspace import Workspace

PAGE_SIZE = 50
_CACHE_RUNS = 8


@dataclass
class RunSamples:
    """One run's samples, worst first, with the columns the table shows."""

    run: RunRow
    samples: list[dict[str, Any]]
    metric: str | None
    binary: bool
    by_id: dict[str, dict[str, Any]]
    statuses: list[str]


class SampleCache:
    """The last few runs' parsed samples (the app's only state besides the token)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: OrderedDict[tuple[Any, ...], RunSamples] = OrderedDict()

    def get(self, store: RunStore, run: RunRow) -> RunSamples:
        key = (
            str(store.ws.root),
            run.id,
            run.status,
            run.n_done,
            json.dumps(run.metrics, sort_keys=True),
        )
        with self._lock:
            hit = self._runs.get(key)
            if hit is not None:
                self._runs.move_to_end(key)
                return hit
        samples = store.samples(run.id)
        metric = analysis.primary_metric(run, samples)
        binary = analysis.is_binary(analysis.score_values(samples, metric)) if metric else False
        higher = analysis.higher_is_better(run, metric) if metric else True
        ordered = [dict(s) for s in analysis.failures_first(samples, metric, higher)]
        for s in ordered:
            s["status"] = analysis.status_of(s, metric, binary)
        found = RunSamples(
            run,
            ordered,
            metric,
            binary,
            {s["id"]: s for s in ordered},
            sorted({s["status"] for s in ordered}),
        )
        with self._lock:
            self._runs[key] = found
            while len(self._runs) > _CACHE_RUNS:
                self._runs.popitem(last=False)
        return found


def _matches(s: Mapping[str, Any], q: str) -> bool:
    q = q.lower()
    return any(
        q in str(s.get(k) or "").lower() for k in ("id", "input", "output", "target", "extracted")
    )


def filter_samples(
    data: RunSamples,
    *,
    q: str = "",
    status: str = "",
    min_score: float | None = None,
    max_score: float | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> tuple[list[dict[str, Any]], int]:
    """One page of samples (worst first) that match; and how many match in all."""
    rows: Sequence[dict[str, Any]] = data.samples
    if status:
        rows = [s for s in rows if s["status"] == status]
    if data.metric and (min_score is not None or max_score is not None):
        lo = float("-inf") if min_score is None else min_score
        hi = float("inf") if max_score is None else max_score
        rows = [
            s
            for s in rows
            if isinstance(v := (s.get("scores") or {}).get(data.metric), int | float)
            and lo <= v <= hi
        ]
    if q:
        rows = [s for s in rows if _matches(s, q)]
    page = max(1, page)
    return list(rows[(page - 1) * size : page * size]), len(rows)


def run_filters(
    runs: Sequence[RunRow], task: str = "", model: str = "", status: str = "", since: str = ""
) -> list[RunRow]:
    """Runs by task, model (substring), status and creation date (``YYYY-MM-DD`` or later)."""
    return [
        r
        for r in runs
        if (not task or r.task == task)
        and (not model or model.lower() in r.model.lower())
        and (not status or r.status == status)
        and (not since or r.created[:10] >= since)
    ]


@dataclass
class RunEntry:
    """A run as a picker lists it (no sample count: that costs a scan per run)."""

    id: str
    task: str
    model: str
    status: str
    created: str


def run_index(ws: Workspace, status: str = "") -> list[RunEntry]:
    rows = ws.db.execute(
        "SELECT id, task, model, status, created FROM runs"
        + (" WHERE status = ?" if status else "")
        + " ORDER BY created DESC",
        (status,) if status else (),
    ).fetchall()
    return [RunEntry(*tuple(r)) for r in rows]


def disagreements(
    store: RunStore, runs: Sequence[RunRow], metric: str, cache: SampleCache
) -> list[dict[str, Any]]:
    """Items on which the runs' scores differ, with each run's output and score."""
    per_run = [cache.get(store, r).by_id for r in runs]
    shared = [sid for sid in per_run[0] if all(sid in p for p in per_run[1:])]
    out = []
    for sid in shared:
        scores = [(p[sid].get("scores") or {}).get(metric) for p in per_run]
        if len({json.dumps(s) for s in scores}) > 1:
            out.append(
                {
                    "id": sid,
                    "input": per_run[0][sid].get("input"),
                    "target": per_run[0][sid].get("target"),
                    "cells": [
                        {"output": p[sid].get("output"), "score": sc}
                        for p, sc in zip(per_run, scores, strict=True)
                    ],
                }
            )
    return out


# -- review ----------------------------------------------------------------------------------------


def run_samples(ws: Workspace, queue: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """The samples a queue shows: run id -> sample id -> record."""
    store = RunStore(ws)
    ids = [queue.run_a] + ([queue.run_b] if queue.run_b else [])
    return {rid: {s["id"]: s for s in store.samples(rid)} for rid in ids}


def item_view(
    queue: Any, item: Any, samples: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """What a reviewer sees for an item: the input, the reference, and the output(s), in the
    item's drawn order and without run names when the queue is blind."""
    a = samples[queue.run_a][item.sample_id]
    outputs = [{"run": queue.run_a, "value": "a", "output": a.get("output")}]
    if queue.run_b:
        b = samples[queue.run_b][item.sample_id]
        outputs.append({"run": queue.run_b, "value": "b", "output": b.get("output")})
        if item.b_first:
            outputs.reverse()
    for i, side in enumerate(outputs, 1):
        side["label"] = (
            f"output {i}"
            if queue.blind
            else f"output {i} ({side['run']})"
            if queue.run_b
            else "output"
        )
        if queue.blind:
            side.pop("run")
    return {"input": a.get("input"), "target": a.get("target"), "outputs": outputs}


def label_keys(queue: Any, item: Any) -> dict[str, str]:
    """Key -> the label it stores. A pairwise item's keys follow what is shown: 1 = the output
    shown first, 2 = second, 3 = tie, stored un-blinded (a, b, tie)."""
    if not queue.pairwise:
        return dict(queue.rubric.keys)
    first, second = ("b", "a") if item.b_first else ("a", "b")
    return {"1": first, "2": second, "3": "tie"}


def typed_label(queue: Any, item: Any, text: str) -> str:
    """What a reviewer typed (a key, or a label of a single-run rubric) as the label to store."""
    keys = label_keys(queue, item)
    if text in keys:
        return keys[text]
    if queue.pairwise:
        from assay.errors import UserError

        raise UserError(f"'{text}' is not an answer for a pairwise item", hint=key_help(queue))
    return text


def key_help(queue: Any) -> str:
    if queue.pairwise:
        return "1 = first output better, 2 = second better, 3 = tie"
    return ", ".join(f"{k} = {p}" for k, p in queue.rubric.keys.items())


# -- models, calls and cost ------------------------------------------------------------------------


def usage(ws: Workspace, by: str) -> list[dict[str, Any]]:
    """Calls, tokens and cost from the call log, by ``model`` or by ``day``."""
    column = "model" if by == "model" else "substr(ts, 1, 10)"
    rows = ws.db.execute(
        f"SELECT {column} AS k, COUNT(*) AS calls, SUM(n_requests) AS requests, "
        "SUM(prompt_tokens) AS prompt, SUM(completion_tokens) AS completion, SUM(cost) AS cost, "
        "SUM(cached) AS cached, SUM(latency_s) AS latency FROM calls GROUP BY k ORDER BY k"
    ).fetchall()
    return [dict(r) for r in rows]


def recent_calls(ws: Workspace, limit: int = 100, model: str = "") -> list[dict[str, Any]]:
    query = (
        "SELECT * FROM calls"
        + (" WHERE model LIKE ?" if model else "")
        + " ORDER BY id DESC LIMIT ?"
    )
    args: tuple[Any, ...] = (f"%{model}%", limit) if model else (limit,)
    return [dict(r) for r in ws.db.execute(query, args)]


# -- training --------------------------------------------------------------------------------------


def training_runs(ws: Workspace) -> list[dict[str, Any]]:
    """Every finetuning run folder: finished ones from their record, running ones from their
    newest checkpoint's state."""
    from assay.finetune.runs import models_dir, read_record

    out = []
    root = models_dir(ws)
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if not folder.is_dir():
                continue
            record = read_record(folder)
            curves = training_curves(folder)
            out.append(
                {
                    "id": folder.name,
                    "status": (record or {}).get("status", "training"),
                    "recipe": (record or {}).get("recipe"),
                    "base_model": ((record or {}).get("base_model") or {}).get("name"),
                    "metrics": (record or {}).get("metrics", {}),
                    "finished": (record or {}).get("finished"),
                    "steps": len(curves["train"]),
                }
            )
    return out


def training_curves(folder: Any) -> dict[str, list[dict[str, Any]]]:
    """Loss and evaluation curves: the record's, else the newest checkpoint's (while training)."""
    from assay.finetune.runs import CHECKPOINTS_DIR, read_record

    record = read_record(folder)
    if record and record.get("curves"):
        curves = record["curves"]
        return {"train": list(curves.get("train") or []), "eval": list(curves.get("eval") or [])}
    ckpts = (
        sorted((folder / CHECKPOINTS_DIR).glob("step-*"))
        if (folder / CHECKPOINTS_DIR).is_dir()
        else []
    )
    for ckpt in reversed(ckpts):
        try:
            state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        progress = state.get("progress") or {}
        return {
            "train": list(progress.get("train") or []),
            "eval": list(progress.get("eval") or []),
        }
    return {"train": [], "eval": []}


__all__ = [
    "PAGE_SIZE",
    "RunSamples",
    "SampleCache",
    "disagreements",
    "filter_samples",
    "item_view",
    "recent_calls",
    "run_filters",
    "run_samples",
    "training_curves",
    "training_runs",
    "usage",
]
