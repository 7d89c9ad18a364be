"""Run the ``assay`` command line in-process."""

from __future__ import annotations

from click.testing import CliRunner

from assay.cli.main import main


def run_assay(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    """Run ``assay`` through ``main`` (one-line errors, exit codes) with captured IO: returns
    the exit code, standard output and standard error."""
    with CliRunner().isolation(input=stdin) as (out, err, _):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, out.getvalue().decode(), err.getvalue().decode()
