"""``assay plugins``: what installed packages add to assay, and where each entry came from."""

from __future__ import annotations

import click


@click.command()
@click.option("--all", "include_builtin", is_flag=True, help="List the built-in entries too.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def plugins(include_builtin: bool, as_json: bool) -> None:
    """List what plugins add (providers, scorers, tasks, datasets, recipes, readers, commands):
    one line per entry with the package it came from. A plugin that fails to import is listed
    with the reason, and the rest of assay keeps working.

    \b
    Examples:
      assay plugins
      assay plugins --all --json
      pip install -e examples/plugin && assay plugins   # the example plugin
    """
    from assay.cli.common import echo_json
    from assay.extensions import installed_plugins

    report = installed_plugins(include_builtin=include_builtin)
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(str(report))
