"""SIGKILL ``assay eval``, ``assay generate --input/--output``, ``assay docs add`` and
``assay sweep`` (two prompt wordings, so two cells) at seeded random moments and run each again
until it finishes (:mod:`kill_harness`): the results equal an uninterrupted run's (a sweep's
leaderboard too), nothing is lost or duplicated, and nothing committed before a kill is asked
of the model again. ``benchmarks/kill_runs.py`` does the same with fifty kills, training too
(here ``test_finetune_resume`` kills training at its worst moment)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from faulty_api import FaultyAPI
from kill_harness import (
    DocsScenario,
    EvalScenario,
    GenerateScenario,
    SweepScenario,
    run_with_kills,
)


@pytest.fixture
def api() -> Iterator[FaultyAPI]:
    server = FaultyAPI(fault_rate=0.0, delay_s=0.02)
    yield server
    server.close()


@pytest.mark.parametrize(
    ("scenario", "n", "kills"),
    [
        (EvalScenario, 16, 2),
        (GenerateScenario, 16, 2),
        (DocsScenario, 16, 2),
        # Its model work is a smaller part of its run (two cells, then the leaderboard): one
        # more kill, so that one is likelier to land inside a cell.
        (SweepScenario, 12, 3),
    ],
)
def test_killed_runs_end_as_uninterrupted_ones(
    scenario: type, n: int, kills: int, tmp_path: Path, api: FaultyAPI
) -> None:
    outcome = run_with_kills(scenario(scenario.__name__, tmp_path, api, n), kills, random.Random(7))
    assert outcome.ok, outcome.line()
    # The kill moments are drawn over the uninterrupted run's duration, so the first lands
    # before the end (the rerun after it does less work and may finish before the second).
    assert outcome.kills >= 1 and outcome.attempts == outcome.kills + 1, outcome.line()
