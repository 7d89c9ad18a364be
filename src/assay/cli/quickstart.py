"""``assay quickstart``: the whole tour on the bundled model, offline, in a few minutes."""

from __future__ import annotations

from typing import Any

import click


@click.command()
@click.option("-m", "--model", default="default", show_default=True, help="Model to tour with.")
@click.option("--only", default="", help="Comma-separated step names to run (see --list).")
@click.option("--skip", default="", help="Comma-separated step names to skip.")
@click.option("--list", "list_steps", is_flag=True, help="List the steps and exit.")
def quickstart(model: str, only: str, skip: str, list_steps: bool) -> None:
    """Run the end-to-end tour on the bundled model (offline, a few minutes on 2 cores).

    It shows the model's card, then asks it a scientific question, logging every call in
    the workspace (see `assay log`). Re-running is fast: conversions and answers are cached.
    """
    from assay.cli.common import settings, workspace
    from assay.errors import UserError
    from assay.quickstart.steps import STEPS, Tour, run_tour

    names = {s.name for s in STEPS}
    if list_steps:
        for s in STEPS:
            click.echo(f"{s.name:12} {s.title}")
        return
    only_set = {x for x in only.split(",") if x}
    skip_set = {x for x in skip.split(",") if x}
    unknown = (only_set | skip_set) - names
    if unknown:
        raise UserError(
            f"unknown quickstart step(s): {', '.join(sorted(unknown))}",
            hint=f"steps are: {', '.join(s.name for s in STEPS)}",
        )
    ws = workspace()
    tour = Tour(model=model, workspace=ws, settings=settings(ws))
    click.secho(f"assay quickstart — workspace {ws.root}", bold=True)
    run_tour(tour, only_set, skip_set)
    click.secho("\ndone. Next: `assay --help`, `assay log`, `assay models list`.", bold=True)
    for line in ui_hint(tour.results):
        click.echo(line)


def ui_hint(results: dict[str, Any]) -> list[str]:
    """The `assay ui` command that opens the tour's runs, comparison and documents."""
    from urllib.parse import quote

    runs = results.get("prompting_runs") or {}
    ids = [r.id for r in runs.values()]
    pages = ["/runs"]
    if len(ids) >= 2:
        pages.append("/compare?" + "&".join(f"runs={quote(i)}" for i in ids))
    if results.get("collection"):
        pages.append(f"/collections/{quote(results['collection'])}")
    opened = pages[1] if len(pages) > 1 else pages[0]
    return [
        f'See them in the web app: assay ui --open "{opened}"',
        "  pages: " + ", ".join(pages),
    ]
