"""Runs and comparisons in a notebook: tables and the main figure, shown by Jupyter.

    >>> import assay
    >>> r = assay.run("mmlu-science-20240501")      # an id or a unique prefix
    >>> r                                          # metrics table and the main figure
    >>> r.metrics["mc_acc"]                          # an Estimate
    >>> df = r.samples()                           # a DataFrame (a list of dicts without pandas)
    >>> r.report("mmlu.html")                      # the full self-contained HTML report
    >>> r.compare("mmlu-science-20240502")         # paired tests, shown as a table

Views only read the workspace.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.evals.runs import RunRow, RunStore
from assay.stats import Estimate
from assay.workspace import WORKSPACE_DIR, Workspace

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from assay.evals.compare import Row
    from assay.reports.figures import ReportFigure

MAIN_FIGURES = ("categories", "calibration", "confusion", "scores")
"""The figure a run's view shows: the first of these kinds the run has."""


def _store(workspace: Workspace | str | Path | None) -> RunStore:
    if workspace is None:
        return RunStore(Workspace.find())
    if isinstance(workspace, Workspace):
        return RunStore(workspace)
    root = Path(workspace).expanduser().resolve()
    if (root / WORKSPACE_DIR).is_dir():  # a project folder rather than its workspace
        root = root / WORKSPACE_DIR
    return RunStore(Workspace(root))


def _style() -> str:
    from assay.reports.style import CSS

    return f"<style>{CSS}</style>"


class Run:
    """A read-only view of one evaluation run."""

    def __init__(self, store: RunStore, record: RunRow) -> None:
        self.store = store
        self.record = record

    # -- the record ------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.record.id

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def model(self) -> str:
        return self.record.model

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    @property
    def provenance(self) -> dict[str, Any]:
        return self.record.provenance

    @property
    def metrics(self) -> dict[str, Estimate]:
        """``{metric: Estimate}`` (value, confidence interval, n, method)."""
        from assay.reports.analysis import metric_estimates

        return metric_estimates(self.record)

    @property
    def by_category(self) -> dict[str, dict[str, Estimate]]:
        from assay.reports.analysis import category_estimates

        return category_estimates(self.record)

    def records(self) -> list[dict[str, Any]]:
        """The per-sample records as stored (plain dicts)."""
        return self.store.samples(self.id)

    def samples(self) -> Any:
        """The samples as a pandas DataFrame indexed by sample id, one column per score;
        without pandas, the records as a list of dicts."""
        rows = self.records()
        try:
            import pandas as pd
        except ImportError:
            return rows
        flat = []
        for r in rows:
            scores = r.get("scores") or {}
            row = {k: v for k, v in r.items() if k != "scores"}
            for name, value in scores.items():
                row[name if name not in row else f"score_{name}"] = value
            flat.append(row)
        frame = pd.DataFrame(flat)
        if "id" in frame.columns:
            frame = frame.set_index("id")
        return frame

    # -- figures ---------------------------------------------------------------------------------
    def _figures(self) -> list[ReportFigure]:
        from assay.reports.figures import run_figures

        return run_figures(self.record, self.records())

    def figures(self) -> list[Figure]:
        """Every figure of the report, as matplotlib figures."""
        return [f.figure for f in self._figures()]

    def plot(self) -> Figure | None:
        """The main figure: per-category bars, else reliability, confusion or scores."""
        main = self._main_figure()
        return main.figure if main is not None else None

    def _main_figure(self) -> ReportFigure | None:
        figs = self._figures()
        for kind in MAIN_FIGURES:
            for f in figs:
                if f.key.split("-")[0] == kind:
                    return f
        return None

    # -- output ----------------------------------------------------------------------------------
    def report(self, path: str | Path | None = None, *, max_samples: int | None = None) -> Path:
        """Write the self-contained HTML report (default ``<workspace>/reports/<id>.html``)."""
        from assay.reports.html import MAX_SAMPLES, write_report

        return write_report(
            self.store,
            self.id,
            path,
            max_samples=MAX_SAMPLES if max_samples is None else max_samples,
        )

    def compare(self, *others: str | Run, metrics: Sequence[str] | None = None) -> Comparison:
        """Paired comparison of other runs against this one (the baseline)."""
        ids = [self.id, *(o.id if isinstance(o, Run) else o for o in others)]
        return compare(*ids, workspace=self.store.ws, metrics=metrics)

    def _repr_html_(self) -> str:
        from assay.reports.html import category_table, esc, metric_notes, metrics_table

        r = self.record
        main = self._main_figure()
        fig = (
            f'<figure style="margin-top:12px;display:inline-block">{main.img()}'
            f"<figcaption>{esc(main.caption)}</figcaption></figure>"
            if main is not None
            else ""
        )
        return (
            f'{_style()}<div class="assay">'
            f'<div class="kicker">assay run · {esc(r.status)} · {r.n_done} of {r.n_total} samples'
            "</div>"
            f'<div style="font-size:17px;font-weight:650">{esc(r.task)} · '
            f'<span class="model">{esc(r.model)}</span></div>'
            f'<div class="id">{esc(r.id)}</div>'
            f'<div style="margin-top:10px">{metrics_table(r)}</div>'
            f"{metric_notes(r)}{category_table(r)}{fig}</div>"
        )

    def __repr__(self) -> str:
        r = self.record
        lines = [f"<Run {r.id}: {r.task} on {r.model}, {r.status}, {r.n_done}/{r.n_total} samples>"]
        lines += [f"  {name:16} {est}" for name, est in self.metrics.items()]
        return "\n".join(lines)


class Comparison:
    """Paired comparisons of runs against a baseline (see :mod:`assay.evals.compare`)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def to_markdown(self) -> str:
        from assay.evals.compare import to_markdown

        return to_markdown(self.rows)

    def to_dicts(self) -> list[dict[str, Any]]:
        from assay.evals.compare import to_dicts

        return to_dicts(self.rows)

    def to_html(self, title: str = "Paired comparison") -> str:
        """A whole HTML page with the table."""
        from assay.evals.compare import to_html

        return to_html(self.rows, title)

    def _repr_html_(self) -> str:
        from assay.evals.compare import to_html

        page = to_html(self.rows)
        start = page.find("<table")
        table = page[start:] if start >= 0 else html.escape(self.to_markdown())
        return f'{_style()}<div class="assay">{table}</div>'

    def __repr__(self) -> str:
        return "\n".join(
            [f"<Comparison of {len(self.rows)} run/metric pair(s)>"]
            + [
                f"  {r.other} vs {r.baseline} [{r.metric}]: {r.result.difference.format(signed=True)}"
                f", p(Holm) {r.p_holm:.3g}{' *' if r.reject else ''}"
                for r in self.rows
            ]
        )


def run(run_id: str, workspace: Workspace | str | Path | None = None) -> Run:
    """A view of run ``run_id`` (an id or a unique prefix) in ``workspace`` (default: the
    current one); in a notebook it shows its metrics table and main figure."""
    store = _store(workspace)
    return Run(store, store.get(run_id))


def compare(
    *run_ids: str,
    workspace: Workspace | str | Path | None = None,
    metrics: Sequence[str] | None = None,
) -> Comparison:
    """Paired comparison of runs; the first is the baseline."""
    from assay.evals.compare import compare_runs

    return Comparison(
        compare_runs(_store(workspace), list(run_ids), list(metrics) if metrics else None)
    )


__all__ = ["Comparison", "Run", "compare", "run"]
