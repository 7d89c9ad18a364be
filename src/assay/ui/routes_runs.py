"""Runs: the list with filters, a run's page (metrics, figures, samples), a sample, and the
comparison of runs of one task."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from assay.evals.runs import RunRow, RunStore
from assay.reports import analysis
from assay.reports.html import metrics_table
from assay.ui.app import NotFound, found, state_of
from assay.ui.views import PAGE_SIZE, disagreements, filter_samples, run_filters, run_index

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Any:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs", response_class=HTMLResponse)
def runs(
    request: Request, task: str = "", model: str = "", status: str = "", since: str = ""
) -> Any:
    ui = state_of(request)
    every = RunStore(ui.workspace).list(limit=10_000)
    shown = run_filters(every, task, model, status, since)
    rows = []
    for r in shown:
        first = next(iter(analysis.metric_estimates(r).items()), None)
        rows.append({"run": r, "metric": first})
    return ui.page(
        "runs.html",
        title="Runs",
        rows=rows,
        tasks=sorted({r.task for r in every}),
        statuses=sorted({r.status for r in every}),
        f={"task": task, "model": model, "status": status, "since": since},
        total=len(every),
    )


def _run(request: Request, run_id: str) -> RunRow:
    run: RunRow = found(RunStore(state_of(request).workspace).get, run_id)
    return run


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> Any:
    ui = state_of(request)
    run = _run(request, run_id)
    data = ui.samples.get(RunStore(ui.workspace), run)
    page, total = filter_samples(data, size=PAGE_SIZE)
    return ui.page(
        "run.html",
        title=run.id,
        run=run,
        metrics_html=metrics_table(run),
        metric=data.metric,
        statuses=data.statuses,
        samples=page,
        total=total,
        page_size=PAGE_SIZE,
        failures=(run.metrics or {}).get("extraction_failures"),
    )


@router.get("/runs/{run_id}/samples.json")
def samples_json(
    request: Request,
    run_id: str,
    q: str = "",
    status: str = "",
    min_score: float | None = None,
    max_score: float | None = None,
    page: int = 1,
    size: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
) -> Any:
    ui = state_of(request)
    run = _run(request, run_id)
    data = ui.samples.get(RunStore(ui.workspace), run)
    rows, total = filter_samples(
        data, q=q, status=status, min_score=min_score, max_score=max_score, page=page, size=size
    )
    keep = ("id", "idx", "status", "input", "output", "extracted", "target")
    return JSONResponse(
        {
            "total": total,
            "page": page,
            "size": size,
            "metric": data.metric,
            "rows": [
                {
                    **{k: _preview(s.get(k)) for k in keep},
                    "score": (s.get("scores") or {}).get(data.metric),
                }
                for s in rows
            ],
        }
    )


def _preview(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    if isinstance(value, dict | list):
        return _preview(json.dumps(value, default=str), limit)
    return value


@router.get("/runs/{run_id}/figures", response_class=HTMLResponse)
def figures(request: Request, run_id: str) -> Any:
    """The report's figures as an HTML fragment (drawn once per run state, then kept)."""
    from assay.reports.figures import run_figures
    from assay.reports.html import figure_html

    ui = state_of(request)
    run = _run(request, run_id)
    data = ui.samples.get(RunStore(ui.workspace), run)
    key = ("figures", run.id, run.status, run.n_done, json.dumps(run.metrics, sort_keys=True))
    if key not in ui.cache:
        import matplotlib.pyplot as plt

        figs = run_figures(run, data.samples)
        ui.cache[key] = (
            "".join(figure_html(f) for f in figs) or "<p class='muted'>No figures for this run.</p>"
        )
        for f in figs:
            plt.close(f.figure)
    return HTMLResponse(ui.cache[key])


@router.get("/runs/{run_id}/samples/{sample_id}", response_class=HTMLResponse)
def sample_page(request: Request, run_id: str, sample_id: str) -> Any:
    ui = state_of(request)
    run = _run(request, run_id)
    data = ui.samples.get(RunStore(ui.workspace), run)
    sample = data.by_id.get(sample_id)
    if sample is None:
        raise NotFound(f"run {run.id} has no sample '{sample_id}'")
    cost = (run.metrics or {}).get("cost")
    return ui.page(
        "sample.html",
        title=f"{run.id} · {sample_id}",
        run=run,
        s=sample,
        run_cost=cost,
        dumps=_pretty,
    )


def _pretty(value: Any) -> str:
    return (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, default=str, ensure_ascii=False)
    )


# -- compare ---------------------------------------------------------------------------------------


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    task: str = "",
    runs: Annotated[list[str] | None, Query()] = None,
    metric: str = "",
    page: int = 1,
) -> Any:
    from assay.evals.compare import compare_runs, to_table

    ui = state_of(request)
    store = RunStore(ui.workspace)
    every = run_index(ui.workspace, status="done")
    chosen = [found(store.get, r) for r in runs or []]
    if chosen and not task:
        task = chosen[0].task
    table: list[list[str]] = []
    diffs: list[dict[str, Any]] = []
    metrics: list[str] = []
    if len(chosen) >= 2:
        key = (
            "compare",
            *(r.id for r in chosen),
            *(r.n_done for r in chosen),
            *(json.dumps(r.metrics, sort_keys=True) for r in chosen),
        )
        if key not in ui.cache:
            ui.cache[key] = to_table(compare_runs(store, [r.id for r in chosen]))
        table = ui.cache[key]
        metrics = list(dict.fromkeys(row[2] for row in table[1:]))
        metric = metric or (metrics[0] if metrics else "")
        if metric:
            if (key, metric) not in ui.cache:
                ui.cache[(key, metric)] = disagreements(store, chosen, metric, ui.samples)
            diffs = ui.cache[(key, metric)]
    return ui.page(
        "compare.html",
        title="Compare",
        tasks=sorted({r.task for r in every}),
        task=task,
        candidates=[r for r in every if r.task == task] if task else [],
        chosen=chosen,
        table=table,
        metric=metric,
        metrics=metrics,
        diffs=diffs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        n_diffs=len(diffs),
        page=page,
        pages=max(1, -(-len(diffs) // PAGE_SIZE)),
    )
