"""Run the ``assay`` command line in-process."""

from __future__ import annotations

from click.testing import CliRunner

from assay.cli.main import main


def run_assay(args: list[str], stdin: str | bytes | None = None) -> tuple[int, str, str]:
    """Run ``assay`` through ``main`` (one-line errors, exit codes) with captured IO: returns
    the exit code, standard output and standard error."""
    with CliRunner().isolation(input=stdin) as (out, err, _):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, out.getvalue().decode(), err.getvalue().decode()


def one_error(err: str) -> str:
    """The single ``error:`` line of a failed command (its ``hint:`` line may follow), checking
    that nothing else, no traceback above all, was printed. Returns error and hint as one text."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert lines and lines[0].startswith("error: "), err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), err
    return " ".join(lines)
