"""``assay report``: one self-contained HTML file for a run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The HTML file to write (default: <workspace>/reports/<run id>.html).",
)
@click.option(
    "--max-samples",
    type=click.IntRange(min=0),
    default=None,
    help="Samples in the table, worst first (default 2000; the rest via `assay runs export`).",
)
def report(run: str, output: Path | None, max_samples: int | None) -> None:
    """Write a self-contained HTML report of RUN (an id or a unique prefix of one).

    Summary, metrics with 95% confidence intervals, figures (per category, confusion matrix,
    reliability diagram, score distributions), the samples worst first with extraction
    failures flagged, and the provenance needed to reproduce the run. The file opens offline
    and can be attached to a paper's supplementary material as it is.

    \b
      assay report RUN
      assay report RUN -o results/mmlu.html
    """
    from assay.cli.common import workspace
    from assay.evals.runs import RunStore
    from assay.reports.html import MAX_SAMPLES, write_report

    path = write_report(
        RunStore(workspace()),
        run,
        output,
        max_samples=MAX_SAMPLES if max_samples is None else max_samples,
    )
    click.echo(str(path))
