"""``assay tasks``: the built-in tasks and what a task file holds."""

from __future__ import annotations

import click


@click.group()
def tasks() -> None:
    """List built-in evaluation tasks and show their configuration."""


@tasks.command(name="list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """Built-in tasks with their kind and a one-line description."""
    from assay.cli.common import echo_json
    from assay.evals.task import builtin_tasks, load_task

    rows = []
    for name in builtin_tasks():
        t = load_task(name)
        rows.append({"name": name, "kind": t.kind, "description": " ".join(t.description.split())})
    if as_json:
        echo_json(rows)
        return
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        first = r["description"].split(". ")[0]
        click.echo(f"{r['name']:{width}}  {r['kind']:16} {first[:90]}")


@tasks.command()
@click.argument("task")
def show(task: str) -> None:
    """The resolved configuration of TASK (a name or a file), as YAML."""
    import yaml

    from assay.evals.task import load_task

    config = load_task(task)
    click.echo(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
