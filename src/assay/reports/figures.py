"""The figures of a run report, as matplotlib figures that embed themselves as base64 PNG.

Per-category bars with confidence intervals and the reliability diagram are drawn by
:mod:`assay.evals.plots`; the confusion matrix and the score histograms are drawn here. Like the
plots there, nothing touches pyplot's global state, and matplotlib is imported on first use.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.evals.plots import _figure, bar_with_ci, reliability_diagram
from assay.evals.runs import RunRow
from assay.reports import analysis
from assay.stats import Estimate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_VERTICAL_BARS = 16
"""More categories than this are drawn as horizontal bars, sorted by value."""
MAX_HISTOGRAMS = 6
DPI = 150
BLUE = "#4C72B0"
RED = "#C44E52"


@dataclass
class ReportFigure:
    """One figure of a report: what it shows, how to read it, and the matplotlib figure."""

    key: str
    title: str
    caption: str
    figure: Figure

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=DPI)
        return buf.getvalue()

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png()).decode("ascii")

    def img(self) -> str:
        """An ``<img>`` tag with the PNG inline, shown at the figure's size in CSS pixels."""
        width = round(float(self.figure.get_size_inches()[0]) * 96)
        return (
            f'<img src="{self.data_uri()}" width="{width}" '
            f'alt="{html.escape(self.title, quote=True)}">'
        )


# -- per category --------------------------------------------------------------------------------


def category_figures(run: RunRow) -> list[ReportFigure]:
    """One bar chart per metric with per-category values and their confidence intervals."""
    by_cat = analysis.category_estimates(run)
    if not by_cat:
        return []
    metrics = list(dict.fromkeys(m for per in by_cat.values() for m in per))
    out = []
    for metric in metrics:
        cats = [c for c in by_cat if metric in by_cat[c]]
        ests = [by_cat[c][metric] for c in cats]
        if not cats:
            continue
        unit = analysis.in_unit_range(*(v for e in ests for v in (e.ci_low, e.ci_high)))
        if len(cats) <= MAX_VERTICAL_BARS:
            width = min(12.0, max(4.5, 0.75 * len(cats) + 2.0))
            fig = _figure((width, 3.8))
            bar_with_ci(
                cats,
                ests,
                ax=fig.add_subplot(),
                title=f"{metric} by category",
                ylabel=metric,
                ylim=(0.0, 1.0) if unit else None,
            )
        else:
            fig = _horizontal_bars(cats, ests, metric, unit)
        overall = analysis.metric_estimates(run).get(metric)
        if overall is not None:
            for ax in fig.axes:
                line = ax.axvline if len(cats) > MAX_VERTICAL_BARS else ax.axhline
                line(overall.value, color=RED, linestyle="--", linewidth=1, label="overall")
                ax.legend(loc="best", fontsize="small")
        out.append(
            ReportFigure(
                f"categories-{metric}",
                f"{metric} by category",
                "Bars: the metric in each category with its 95% confidence interval; n under each "
                "label. Dashed line: the whole run. Small categories have wide intervals: read "
                "differences between them with that in mind.",
                fig,
            )
        )
    return out


def _horizontal_bars(
    labels: Sequence[str], estimates: Sequence[Estimate], metric: str, unit: bool
) -> Figure:
    order = sorted(range(len(labels)), key=lambda i: estimates[i].value)
    fig = _figure((8.0, max(4.0, 0.24 * len(labels) + 1.2)))
    ax = fig.add_subplot()
    y = list(range(len(order)))
    values = [estimates[i].value for i in order]
    left = [max(0.0, estimates[i].value - estimates[i].ci_low) for i in order]
    right = [max(0.0, estimates[i].ci_high - estimates[i].value) for i in order]
    ax.barh(y, values, color=BLUE, edgecolor="black", linewidth=0.4, height=0.7)
    ax.errorbar(values, y, xerr=[left, right], fmt="none", ecolor="black", capsize=2, linewidth=0.8)
    ax.set_yticks(y, [f"{labels[i]} (n={estimates[i].n})" for i in order], fontsize="small")
    ax.set_xlabel(f"{metric} (95% CI)")
    ax.set_ylim(-0.6, len(order) - 0.4)
    if unit:
        ax.set_xlim(0.0, 1.0)
    ax.set_title(f"{metric} by category")
    return fig


# -- confusion matrix ----------------------------------------------------------------------------


def confusion_figure(conf: analysis.Confusion) -> ReportFigure:
    n_rows, n_cols = len(conf.rows), len(conf.columns)
    longest = max(len(c) for c in (*conf.rows, *conf.columns))
    cell = 0.55 if n_cols <= 10 else 0.4
    fig = _figure(
        (
            min(12.0, max(4.0, cell * n_cols + 1.6 + 0.07 * longest)),
            min(12.0, max(3.4, cell * n_rows + 1.4 + 0.05 * longest)),
        )
    )
    ax = fig.add_subplot()
    counts = [list(r) for r in conf.counts]
    top = max((v for r in counts for v in r), default=0) or 1
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=top, aspect="auto")
    size = "medium" if max(n_rows, n_cols) <= 8 else "small" if max(n_rows, n_cols) <= 14 else 7
    for i, row in enumerate(counts):
        for j, v in enumerate(row):
            if v:
                ax.text(
                    j,
                    i,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if v > top * 0.55 else "black",
                    fontweight="bold" if i == j else "normal",
                )
    ax.set_xticks(range(n_cols), list(conf.columns))
    ax.set_yticks(range(n_rows), list(conf.rows))
    if longest > 3 or n_cols > 8:
        ax.tick_params(axis="x", labelrotation=40)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
    extra = n_cols - n_rows
    if extra > 0:
        ax.axvline(n_rows - 0.5, color="gray", linewidth=1, linestyle=":")
    ax.set_xlabel(conf.column_title)
    ax.set_ylabel(conf.row_title)
    ax.set_title(f"Confusion matrix (n={conf.n})")
    return ReportFigure("confusion", "Confusion matrix", conf.caption, fig)


# -- calibration ---------------------------------------------------------------------------------


def calibration_figure(run: RunRow) -> ReportFigure | None:
    found = analysis.calibration_of(run)
    if found is None or found[1].n == 0:
        return None
    metric, cal = found
    fig = reliability_diagram(cal, title=f"Reliability ({metric})" if metric else "Reliability")
    fig.set_size_inches(4.8, 5.4)
    return ReportFigure(
        "calibration",
        "Calibration",
        "Accuracy against confidence (the probability mass of the chosen option among the "
        "options), in 10 equal-width bins. Bars below the diagonal: over-confident. Bottom: "
        "samples per bin. ECE from a small run is biased upwards.",
        fig,
    )


# -- score distributions -------------------------------------------------------------------------


def score_histograms(
    samples: Sequence[Mapping[str, Any]], metrics: Sequence[str]
) -> ReportFigure | None:
    """One histogram per metric whose per-sample scores are continuous (ROUGE, F1, ...)."""
    names = analysis.continuous_metrics(samples, metrics)[:MAX_HISTOGRAMS]
    if not names:
        return None
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _figure((min(12.0, 4.0 * cols), 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(names):
            ax.set_visible(False)
            continue
        metric = names[k]
        values = analysis.score_values(samples, metric)
        unit = analysis.in_unit_range(*values)
        bins: Any = [i / 20 for i in range(21)] if unit else 20
        ax.hist(values, bins=bins, color=BLUE, edgecolor="black", linewidth=0.4)
        mean = sum(values) / len(values)
        ax.axvline(mean, color=RED, linestyle="--", linewidth=1.2, label=f"mean {mean:.3f}")
        if unit:
            ax.set_xlim(0.0, 1.0)
        ax.set_title(metric)
        ax.set_xlabel("score per sample")
        ax.set_ylabel("samples")
        ax.legend(loc="upper right", fontsize="small")
    return ReportFigure(
        "scores",
        "Score distributions",
        "Per-sample scores of each continuous metric. A heap at 0 means answers that share "
        "nothing with the reference; a mean carried by a few high scores reads differently from "
        "one every sample is near.",
        fig,
    )


# -- all of them ---------------------------------------------------------------------------------


def run_figures(run: RunRow, samples: Sequence[Mapping[str, Any]]) -> list[ReportFigure]:
    """The figures a report of this run shows, in order; each only when its data exists."""
    out = category_figures(run)
    conf = analysis.confusion(run, samples)
    if conf is not None:
        out.append(confusion_figure(conf))
    cal = calibration_figure(run)
    if cal is not None:
        out.append(cal)
    metrics = list(analysis.metric_estimates(run)) or list(
        dict.fromkeys(m for s in samples for m in (s.get("scores") or {}))
    )
    hist = score_histograms(samples, metrics)
    if hist is not None:
        out.append(hist)
    return out


__all__ = [
    "ReportFigure",
    "calibration_figure",
    "category_figures",
    "confusion_figure",
    "run_figures",
    "score_histograms",
]
