"""The CLI shell: help, workspace commands, the call log, chat over a pipe, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assay.cli.main import main

ASSAY = [sys.executable, "-m", "assay.cli.main"]


def run_cli(
    args: list[str], stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASSAY, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=os.environ.copy(),
    )


def test_help_lists_commands() -> None:
    out = run_cli(["--help"])
    assert out.returncode == 0
    for cmd in ("quickstart", "generate", "chat", "models", "serve", "log", "init"):
        assert cmd in out.stdout


def test_unknown_command_is_a_usage_error() -> None:
    out = run_cli(["frobnicate"])
    assert out.returncode == 2 and "No such command" in out.stderr


def test_init_creates_workspace_found_from_below(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_HOME")
    out = run_cli(["init", str(tmp_path / "paper")])
    assert out.returncode == 0, out.stderr
    ws = tmp_path / "paper" / ".assay"
    assert (ws / "assay.db").exists() and (ws / "config.yaml").exists()
    sub = tmp_path / "paper" / "analysis"
    sub.mkdir()
    out = run_cli(["log"], cwd=sub)
    assert str(ws) in out.stdout  # "no calls logged yet in <workspace>"


def test_chat_over_a_pipe_and_log(assay_home: Path) -> None:
    out = run_cli(["chat", "fake:", "--system", "be brief"], stdin="hello there\n/reset\nsecond\n")
    assert out.returncode == 0, out.stderr
    assert "echo: System: be brief" in out.stdout and "User: hello there" in out.stdout
    log = run_cli(["log", "--json"])
    rows = json.loads(log.stdout)
    assert len(rows) == 2 and {r["op"] for r in rows} == {"stream"}
    table = run_cli(["log"])
    assert "fake:" in table.stdout and "2 calls" in table.stdout


def test_errors_are_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["chat", "nosuchalias"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: unknown model 'nosuchalias'"
    assert err[1].startswith("hint: ") and len(err) == 2


def test_debug_shows_the_traceback() -> None:
    out = run_cli(["--debug", "chat", "nosuchalias"])
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_bad_config_is_a_one_line_error(assay_home: Path) -> None:
    assay_home.mkdir(parents=True, exist_ok=True)
    (assay_home / "config.yaml").write_text("batch_sise: 3\n")
    out = run_cli(["chat", "fake:"], stdin="")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"error: {assay_home / 'config.yaml'}:1: unknown key 'batch_sise'",
        "hint: did you mean 'batch_size'?",
    ]


def test_quickstart_lists_steps_and_rejects_unknown() -> None:
    out = run_cli(["quickstart", "--list"])
    assert out.returncode == 0 and "card" in out.stdout and "answer" in out.stdout
    out = run_cli(["quickstart", "--only", "nope"])
    assert out.returncode == 2 and "unknown quickstart step(s): nope" in out.stderr
