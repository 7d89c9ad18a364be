"""Models and cost (model cards with the memory verdict, the call log, tokens and cost by model
and by day) and training (finetuning runs with their loss and metric curves)."""

from __future__ import annotations

import html
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from assay.ui.app import NotFound, found, state_of
from assay.ui.views import recent_calls, training_curves, training_runs, usage

router = APIRouter()


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, model: str = "") -> Any:
    from assay.config import load_settings
    from assay.models.catalog import list_models

    ui = state_of(request)
    by_model = usage(ui.workspace, "model")
    known = list_models(load_settings(ui.workspace.config_path), ui.workspace)
    return ui.page(
        "models.html",
        title="Models and cost",
        known=known,
        by_model=by_model,
        by_day=usage(ui.workspace, "day"),
        calls=recent_calls(ui.workspace, 100, model),
        model=model,
    )


@router.get("/models/card", response_class=HTMLResponse)
def card(request: Request, address: str) -> Any:
    """A model's card (read from its files, no weights loaded) with the memory verdict."""
    from assay.config import load_settings
    from assay.models.card import model_card, render_card

    ui = state_of(request)
    settings = load_settings(ui.workspace.config_path)
    c = found(model_card, address, settings=settings, workspace=ui.workspace)
    return ui.page("model_card.html", title=address, text=render_card(c), verdicts=c.verdicts)


@router.get("/training", response_class=HTMLResponse)
def training(request: Request) -> Any:
    ui = state_of(request)
    return ui.page("training.html", title="Training", runs=training_runs(ui.workspace))


def _folder(request: Request, run_id: str) -> Any:
    from assay.finetune.runs import run_dir

    ui = state_of(request)
    names = {r["id"] for r in training_runs(ui.workspace)}
    if run_id not in names:
        raise NotFound(f"no finetuning run '{run_id}'", "see the Training page")
    return run_dir(ui.workspace, run_id)


@router.get("/training/{run_id}", response_class=HTMLResponse)
def training_run(request: Request, run_id: str) -> Any:
    ui = state_of(request)
    folder = _folder(request, run_id)
    info = next(r for r in training_runs(ui.workspace) if r["id"] == run_id)
    return ui.page(
        "training_run.html", title=run_id, info=info, chart=curve_svg(training_curves(folder))
    )


@router.get("/training/{run_id}/chart", response_class=HTMLResponse)
def chart(request: Request, run_id: str) -> Any:
    return HTMLResponse(curve_svg(training_curves(_folder(request, run_id))))


@router.get("/training/{run_id}/curves.json")
def curves(request: Request, run_id: str) -> Any:
    return JSONResponse(training_curves(_folder(request, run_id)))


def _series(points: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    return [
        (float(p["step"]), float(p[key]))
        for p in points
        if isinstance(p.get(key), int | float) and math.isfinite(float(p[key]))
    ]


def curve_svg(data: dict[str, list[dict[str, Any]]], width: int = 720, height: int = 280) -> str:
    """The training loss and each evaluation metric as lines on one SVG chart (each series
    scaled to its own range; the legend gives the ranges)."""
    series: list[tuple[str, list[tuple[float, float]]]] = [
        ("train loss", _series(data["train"], "loss"))
    ]
    metric_names = sorted({k for p in data["eval"] for k in p if k != "step"})
    series += [(f"eval {k}", _series(data["eval"], k)) for k in metric_names]
    series = [(name, pts) for name, pts in series if pts]
    if not series:
        return "<p class='muted' id='curve'>No steps recorded yet.</p>"
    colors = ["#2f5d9e", "#c44e52", "#55a868", "#8172b2", "#ccb974", "#64b5cd"]
    max_step = max(x for _, pts in series for x, _ in pts) or 1.0
    pad = 40
    parts = [
        f'<svg id="curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20 * len(series)}" role="img">'
    ]
    parts.append(
        f'<rect x="{pad}" y="10" width="{width - 2 * pad}" height="{height - 40}" fill="#fff" stroke="#e3e7ee"/>'
    )
    for i, (name, pts) in enumerate(series):
        lo, hi = min(y for _, y in pts), max(y for _, y in pts)
        span = (hi - lo) or 1.0
        xy = " ".join(
            f"{pad + (x / max_step) * (width - 2 * pad):.1f},{10 + (height - 40) * (1 - (y - lo) / span):.1f}"
            for x, y in pts
        )
        color = colors[i % len(colors)]
        name = html.escape(name, quote=True)
        parts.append(
            f'<polyline class="series" data-name="{name}" fill="none" stroke="{color}" stroke-width="2" points="{xy}"/>'
        )
        parts.append(
            f'<text x="{pad}" y="{height + 4 + 20 * i}" font-size="12" fill="{color}">{name}: '
            f"{pts[-1][1]:.4g} at step {pts[-1][0]:.0f} (range {lo:.4g} to {hi:.4g})</text>"
        )
    parts.append(
        f'<text x="{width - pad}" y="{height - 16}" font-size="11" text-anchor="end" fill="#5b6574">step {max_step:.0f}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
