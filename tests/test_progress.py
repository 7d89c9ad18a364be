"""Progress away from a terminal: plain lines with count, rate and time left, not a bar."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assay.progress import NoProgress, PlainProgress, format_duration, progress_bar

LINE = re.compile(
    r"^generate: (\d+)/20 rows \(\d+%\), [\d.]+ rows/s, (about [\d a-z]+ left|done in [\d a-z]+)$"
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_tenth_and_after_a_quiet_spell(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    bar = PlainProgress(100, "gsm8k", "sample", every_s=10, clock=clock)
    for _ in range(9):  # 9 %: no line yet
        clock.now += 0.1
        bar.update(1)
    assert capsys.readouterr().err == ""
    clock.now += 0.1
    bar.update(1)  # 10 items in 1 s
    assert capsys.readouterr().err == "gsm8k: 10/100 samples (10%), 10 samples/s, about 9 s left\n"
    clock.now += 30  # slow now: a line after 10 s without one, even inside a tenth
    bar.update(1)
    assert capsys.readouterr().err.startswith("gsm8k: 11/100 samples (11%), 0.355 samples/s")
    bar.update(88)
    bar.close()  # 99 of 100 were done: the last count is shown once
    bar.close()
    assert capsys.readouterr().err.splitlines() == [
        "gsm8k: 99/100 samples (99%), 3.19 samples/s, about 0 s left"
    ]


def test_resumed_work_counts_only_what_is_done_now(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    bar = PlainProgress(10, "run", "row", initial=5, clock=clock)
    clock.now = 5.0
    bar.update(1)
    assert capsys.readouterr().err == "run: 6/10 rows (60%), 0.2 rows/s, about 20 s left\n"


def test_off_when_disabled_and_durations(capsys: pytest.CaptureFixture[str]) -> None:
    bar = progress_bar(3, "x", "item", enabled=False)
    assert isinstance(bar, NoProgress) and not isinstance(bar, PlainProgress)
    bar.update(3)
    bar.close()
    assert capsys.readouterr().err == ""
    assert isinstance(progress_bar(3, "x", "item"), PlainProgress)  # pytest's stderr: no TTY
    assert [format_duration(s) for s in (4.4, 65, 7322)] == ["4 s", "1 min 05 s", "2 h 02 min"]


def test_generate_over_a_file_prints_progress_lines_when_captured(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text("name: t\ntemplate: 'Q: {question}'\n")
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"question": f"q{i}"}) + "\n" for i in range(20)))
    args = ["--template", str(template), "--input", str(rows), "--output", "o.jsonl"]
    env = {**os.environ, "ASSAY_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "generate", "fake:", *args, "--batch-size", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith("generate:")]
    assert "\r" not in done.stderr
    assert [int(m.group(1)) for m in map(LINE.match, progress) if m] == list(range(2, 21, 2))
    assert "done in" in progress[-1]
