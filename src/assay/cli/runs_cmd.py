"""``assay runs``: the evaluation runs recorded in this workspace."""

from __future__ import annotations

from pathlib import Path

import click

MODEL_COLUMN = 40  # the widest a model address is shown in `runs list`; --json has it whole


@click.group()
def runs() -> None:
    """List, show and export evaluation runs."""


@runs.command(name="list")
@click.option("-n", "--limit", default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_(limit: int, as_json: bool) -> None:
    """Recent runs: id, task, model, status, samples and the first metric."""
    from assay.cli.common import echo_json, workspace
    from assay.cli.formatting import short_model_name
    from assay.evals.runs import RunStore
    from assay.stats import Estimate

    rows = RunStore(workspace()).list(limit)
    if as_json:
        echo_json([{**r.summary(), "metrics": r.metrics} for r in rows])
        return
    if not rows:
        click.echo("no runs yet: try `assay eval mmlu-science --limit 50`")
        return
    width = min(MODEL_COLUMN, max(len(r.model) for r in rows))
    for r in rows:
        first = next(iter((r.metrics or {}).get("metrics", {}).items()), None)
        shown = f"{first[0]} {Estimate.from_dict(first[1]).format()}" if first else ""
        model = short_model_name(r.model, width)
        click.echo(
            f"{r.id:34} {r.task:14} {model:{width}} {r.status:8} {r.n_done:>5}/{r.n_total:<5} {shown}"
        )


@runs.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True)
@click.option("--samples", is_flag=True, help="Include every sample record (with --json).")
def show(run: str, as_json: bool, samples: bool) -> None:
    """A run's configuration, provenance and metrics."""
    from assay.cli.common import echo_json, workspace
    from assay.evals.runs import RunStore
    from assay.reports.text import format_metrics

    store = RunStore(workspace())
    r = store.get(run)
    if as_json:
        data = {**r.__dict__}
        if samples:
            data["samples"] = store.samples(r.id)
        echo_json(data)
        return
    click.secho(f"{r.id}  ({r.status}, {r.n_done}/{r.n_total} samples)", bold=True)
    click.echo(
        f"  task       {r.task}\n  model      {r.model}\n  fingerprint {r.fingerprint[:16]}…"
    )
    prov = r.provenance
    ds = prov.get("dataset", {})
    click.echo(f"  data       {ds.get('source')} (sha256 {str(ds.get('rows_sha256', ''))[:12]}…)")
    click.echo(f"  template   sha256 {str(prov.get('template_sha256', ''))[:12]}…")
    git = prov.get("git", {})
    if git.get("repo"):
        click.echo(f"  git        {git['commit'][:10]}{' (dirty)' if git.get('dirty') else ''}")
    click.echo(f"  created    {r.created}")
    if r.error:
        click.secho(f"  failed     {r.error}", fg="red")
    for line in format_metrics(r.metrics or {}):
        click.echo(line)


@runs.command()
@click.argument("run")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="A .csv or .jsonl file.",
)
def export(run: str, output: Path) -> None:
    """Write a run's per-sample records to CSV or JSONL."""
    import csv
    import json

    from assay.cli.common import workspace
    from assay.errors import UserError
    from assay.evals.runs import RunStore

    store = RunStore(workspace())
    rows = store.samples(store.get(run).id)
    if output.suffix in (".jsonl", ".csv"):
        output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".jsonl":
        with output.open("w") as f:
            for s in rows:
                f.write(json.dumps(s, default=str) + "\n")
    elif output.suffix == ".csv":
        flat = [
            {
                k: (json.dumps(v, default=str) if isinstance(v, (dict, list)) else v)
                for k, v in s.items()
            }
            for s in rows
        ]
        keys = list(dict.fromkeys(k for s in flat for k in s))
        with output.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(flat)
    else:
        raise UserError(
            f"cannot export to '{output.suffix}'", hint="use a .csv or .jsonl file name"
        )
    click.echo(f"wrote {len(rows)} samples to {output}")
