"""The README's two set-up commands are the contract with a newcomer: keep CI running the same one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quickstart)


def test_exactly_two_quickstart_commands() -> None:
    cmds = readme_commands()
    assert len(cmds) == 2
    assert cmds[0].endswith("assay quickstart")
    assert cmds[1].endswith("pytest")
    assert "torch" not in cmds[0] or "torch==2.13.0" in cmds[0]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == readme_commands()[1]


def test_torch_is_pinned() -> None:
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text()
