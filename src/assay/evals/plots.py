"""Figures for reports: the reliability diagram and a bar chart with confidence intervals.

matplotlib is imported inside each function (never at import time) and figures are drawn on a
``matplotlib.figure.Figure`` rendered by the Agg canvas, so nothing touches pyplot's global state
or needs a display. Each function either draws on the axes it is given or makes its own figure,
saves it to ``path`` if one is given, and returns the figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import MissingExtraError, UserError
from assay.stats.calibration import Calibration, CalibrationBin
from assay.stats.estimate import Estimate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _figure(figsize: tuple[float, float]) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("plotting", "matplotlib", "pip install matplotlib") from None
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path | None) -> None:
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=150)


def reliability_diagram(
    bins: Calibration | Sequence[CalibrationBin],
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    hist_ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Accuracy per confidence bin against the diagonal, with gap bars and a confidence histogram.

    ``bins`` is a ``Calibration`` (its ECE/MCE are printed on the plot) or its bins. Without ``ax``
    a two-panel figure is made: the diagram on top, the histogram of confidences (samples per bin)
    below. With ``ax`` the diagram goes there, and the histogram on ``hist_ax`` if one is given.
    """
    summary = bins if isinstance(bins, Calibration) else None
    table = list(bins.bins if isinstance(bins, Calibration) else bins)
    if not table:
        raise UserError("the reliability diagram needs at least one bin")
    if ax is None:
        fig = _figure((5.0, 6.0))
        ax, hist_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    centres = [(b.lower + b.upper) / 2 for b in table]
    widths = [b.upper - b.lower for b in table]
    filled = [i for i, b in enumerate(table) if b.count > 0]
    acc = [table[i].accuracy or 0.0 for i in filled]
    conf = [table[i].mean_confidence or 0.0 for i in filled]
    x = [centres[i] for i in filled]
    w = [widths[i] for i in filled]
    ax.bar(x, acc, width=w, color="#4C72B0", edgecolor="black", linewidth=0.6, label="Accuracy")
    ax.bar(
        x,
        [c - a for c, a in zip(conf, acc, strict=True)],
        bottom=acc,
        width=w,
        color="#DD8452",
        alpha=0.35,
        edgecolor="#C44E52",
        hatch="//",
        linewidth=0.6,
        label="Gap to confidence",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1, label="Perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Accuracy")
    ax.legend(loc="upper left", fontsize="small")
    if summary is not None:
        ax.text(
            0.97,
            0.05,
            f"ECE = {summary.ece:.3f}\nMCE = {summary.mce:.3f}\nn = {summary.n}",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize="small",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )
    if title:
        ax.set_title(title)
    if hist_ax is not None:
        hist_ax.bar(
            centres,
            [b.count for b in table],
            width=widths,
            color="gray",
            edgecolor="black",
            linewidth=0.6,
        )
        hist_ax.set_xlim(0, 1)
        hist_ax.set_ylabel("Samples")
        hist_ax.set_xlabel("Confidence")
    else:
        ax.set_xlabel("Confidence")
    _save(fig, path)
    return fig


def bar_with_ci(
    labels: Sequence[str],
    estimates: Sequence[Estimate],
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str | None = None,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """One bar per category at the estimate, with its confidence interval as an error bar.

    Each label gets its sample count underneath (``n=...``), since intervals differ mostly by n.
    """
    if len(labels) != len(estimates):
        raise UserError(f"got {len(labels)} labels but {len(estimates)} estimates")
    if not labels:
        raise UserError("bar_with_ci needs at least one category")
    if ax is None:
        fig = _figure((max(4.0, 0.8 * len(labels) + 2.0), 4.0))
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    x = list(range(len(labels)))
    values = [e.value for e in estimates]
    below = [max(0.0, e.value - e.ci_low) for e in estimates]
    above = [max(0.0, e.ci_high - e.value) for e in estimates]
    ax.bar(x, values, color="#4C72B0", edgecolor="black", linewidth=0.6)
    ax.errorbar(x, values, yerr=[below, above], fmt="none", ecolor="black", capsize=4, linewidth=1)
    ax.set_xticks(x, [f"{lab}\nn={e.n}" for lab, e in zip(labels, estimates, strict=True)])
    if len(labels) > 6:
        ax.tick_params(axis="x", labelrotation=45)
    levels = {round(e.confidence, 6) for e in estimates}
    level = f"{levels.pop():.0%} CI" if len(levels) == 1 else "CI"
    ax.set_ylabel(f"{ylabel or 'Score'} ({level})")
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    _save(fig, path)
    return fig


__all__ = ["bar_with_ci", "reliability_diagram"]
