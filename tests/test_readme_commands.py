"""Every ``assay`` command the README, examples/README.md, the documentation site's tutorials
and the commands' own ``--help`` examples show parses as written: the subcommand exists, each
option is one the command takes, no argument is missing or extra, and no spelling is deprecated.

Commands are parsed by the real command line (click), not run: files the examples name need not
exist here, so a path that does not exist is the one complaint allowed.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from assay.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = (
    "README.md",
    "examples/README.md",
    "docs/index.md",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs/tutorials").glob("*.md")),
)


def shown_commands(page: Path) -> list[str]:
    """The ``assay ...`` lines of the page's bash blocks, continuation lines joined."""
    commands: list[str] = []
    for block in page.read_text().split("```bash\n")[1:]:
        body = block.split("\n```", 1)[0].replace("\\\n", " ")
        for line in body.splitlines():
            line = line.strip()
            for part in line.split(";"):
                words = shlex.split(part, comments=True)
                if words and words[0] == "assay":
                    commands.append(shlex.join(words))
                elif ".venv/bin/assay" in part:
                    commands.append("assay " + part.split(".venv/bin/assay", 1)[1].strip())
    return commands


def parse(args: list[str]) -> None:
    """Parse ``args`` down to the leaf command, as ``assay`` would before running it."""
    command: click.Command = cli
    parent: click.Context | None = None
    name = "assay"
    while True:
        ctx = command.make_context(name, list(args), parent=parent)
        if not isinstance(command, click.Group):
            return
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        command, parent = sub, ctx


def help_commands() -> list[tuple[str, str]]:
    """``(command, example)`` for each ``assay ...`` example line in a command's ``--help``;
    a synopsis line (``assay chat [MODEL] ...``) is no example, and a note after two spaces is
    cut off."""
    from assay.docsgen.cli_pages import help_text, walk

    found = []
    for path, ctx in walk(cli):
        for line in help_text(ctx).replace("\\\n", " ").splitlines():
            line = re.split(r"\s{2,}(?!-)", line.strip())[0]
            if line.startswith("assay ") and "[" not in line:
                words = shlex.split(line, comments=True)
                ends = [i for i, w in enumerate(words) if w in (">", ">>", "|", "<")]
                words = words[: ends[0]] if ends else words
                found.append((f"`{path} --help`", shlex.join(words)))
    return found


CASES = [(page, cmd) for page in PAGES for cmd in shown_commands(ROOT / page)]
CASES += help_commands()


def test_the_pages_show_commands() -> None:
    assert len(CASES) > 40


@pytest.mark.parametrize(("page", "command"), CASES, ids=[c for _, c in CASES])
def test_shown_command_parses(page: str, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    check_parses(page, command)
    # the pages teach today's spellings, not the deprecated ones
    assert "deprecated" not in capsys.readouterr().err, f"{page}: `{command}`"


def check_parses(page: str, command: str) -> None:
    try:
        parse(shlex.split(command)[1:])
    except click.exceptions.Exit as exc:  # --help, --version
        assert exc.exit_code == 0
    except click.BadParameter as exc:
        if "does not exist" not in exc.format_message():
            pytest.fail(f"{page}: `{command}`: {exc.format_message()}")
    except click.UsageError as exc:
        pytest.fail(f"{page}: `{command}`: {exc.format_message()}")
