"""``assay compare``: paired statistics between runs on their shared samples."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option(
    "--metric", "metrics", multiple=True, help="Only these metrics (default: all shared)."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the table: .md for Markdown, .html for HTML (both written when no suffix).",
)
@click.option("--json", "as_json", is_flag=True)
def compare(
    runs: tuple[str, ...], metrics: tuple[str, ...], output: Path | None, as_json: bool
) -> None:
    """Compare RUNS with paired tests; the first run is the baseline.

    \b
    Exact McNemar for 0/1 scores, paired bootstrap otherwise; corpus metrics (BLEU, chrF,
    macro-F1, perplexity) are recomputed on every bootstrap resample. Holm's correction across
    all comparisons, and the minimum detectable effect at this sample size.
      assay compare RUN_A RUN_B
      assay compare BASELINE RUN_1 RUN_2 -o comparison.md
    """
    from assay.cli.common import echo_json, workspace
    from assay.evals.compare import compare_runs, to_dicts, to_html, to_markdown
    from assay.evals.runs import RunStore

    rows = compare_runs(RunStore(workspace()), list(runs), list(metrics) or None)
    if as_json:
        echo_json(to_dicts(rows))
    else:
        for r in rows:
            click.secho(f"{r.other} vs {r.baseline} — {r.metric}", bold=True)
            click.echo(str(r.result))
            click.echo(f"  Holm-adjusted p: {r.p_holm:.4g}{' (significant)' if r.reject else ''}")
    if output is not None:
        targets = (
            [output]
            if output.suffix in (".md", ".html")
            else [output.with_suffix(".md"), output.with_suffix(".html")]
        )
        for path in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(to_markdown(rows) if path.suffix == ".md" else to_html(rows))
            click.echo(f"wrote {path}", err=True)
