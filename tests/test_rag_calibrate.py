"""Calibrating abstention: questions written from a collection (answerable) and from other
documents on the topic (unanswerable), the support threshold chosen on half of them and its
rates reported on the other half, stored for ``assay ask``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.config import load_settings
from assay.errors import UserError
from assay.models.facade import Model
from assay.models.fake import FakeBackend
from assay.rag import Collection
from assay.rag.calibrate import (
    Scored,
    calibrate_abstention,
    calibrated_min_support,
    choose_threshold,
    rates,
)
from assay.workspace import Workspace
from cli_util import run_assay

FILLER = "It was inspected twice last spring and found in good order by the site staff."
INSIDE = {
    "amber": "K7Q2",
    "birch": "M4X9",
    "cobalt": "P1R8",
    "delta": "T6W3",
    "ember": "Z5N0",
    "flint": "B2C3",
    "garnet": "D4E5",
    "heron": "F6G7",
}
OUTSIDE = {
    "iris": "H8J9",
    "jasper": "K1L2",
    "kestrel": "M3N4",
    "linden": "P5Q6",
    "marble": "R7S8",
    "nectar": "T9U1",
    "onyx": "V2W3",
    "pine": "X4Y5",
}


def write_question(prompt: str) -> str:
    fact = re.search(r"vault (\w+) is (\w+)\.", prompt)
    if fact is None:
        return "no question here"
    name, code = fact.groups()
    return json.dumps({"question": f"What is the access code of vault {name}?", "answer": code})


@pytest.fixture(scope="module")
def vault_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("calibrate")
    ws = Workspace.init(root)
    for name, vaults in (("inside", INSIDE), ("outside", OUTSIDE)):
        docs = root / name
        docs.mkdir()
        for vault, code in vaults.items():
            (docs / f"{vault}.txt").write_text(
                f"The access code of vault {vault} is {code}. {FILLER}\n"
            )
        Collection(ws, name).add([docs])
    return ws


@pytest.fixture
def ws(vault_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("ASSAY_HOME", str(vault_ws.root))
    return vault_ws


def generator(ws: Workspace, address: str = "fake:gen") -> Model:
    backend = FakeBackend(replies=[write_question], name="gen")
    return Model(backend, address=address, settings=load_settings(ws.config_path), workspace=ws)


def test_threshold_is_chosen_on_one_half_and_reported_on_the_other(
    ws: Workspace, tmp_path: Path
) -> None:
    result = calibrate_abstention(
        "inside", "outside", generator(ws), n=8, save=False, folder=tmp_path, workspace=ws
    )
    assert result.n_answerable == 8 and result.n_unanswerable == 8 and result.dropped == 0
    answerable = [s.support for s in result.scored if s.answerable]
    unanswerable = [s.support for s in result.scored if not s.answerable]
    # the outside questions miss exactly their rare word (the vault's name)
    assert min(answerable) > max(unanswerable)
    assert max(unanswerable) < result.min_support <= min(answerable)
    held = result.held_out
    assert held.recall.value == 1.0 and held.false_abstention.value == 0.0
    assert held.precision is not None and held.precision.value == 1.0
    assert held.recall.n == 4 and held.false_abstention.n == 4  # the held-out half only
    assert held.recall.ci_low < 1.0  # four questions are not proof: the interval says so
    assert "held-out half, chosen" in "\n".join(result.summary())
    assert calibrated_min_support(ws, "inside") is None  # save=False stores nothing


def test_cli_stores_the_threshold_and_ask_uses_it(ws: Workspace) -> None:
    # the questions are written once (Python, with a generator that reads its passage, under
    # the address the command is given) and reused by the command, which then calls no model
    calibrate_abstention("inside", "outside", generator(ws, "fake:"), n=8, save=False, workspace=ws)
    runner = CliRunner()
    args = ["docs", "calibrate", "-c", "inside", "--outside", "outside", "-m", "fake:", "-n", "8"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "held-out half" in result.output and "stored" in result.output
    stored = calibrated_min_support(ws, "inside")
    assert stored is not None
    question = "What is the access code of vault iris?"
    answer = runner.invoke(cli, ["ask", question, "-c", "inside", "--extractive", "--json"])
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.stdout)
    assert data["insufficient"] and data["support"] < stored
    assert "do not cover the question" in data["reason"]
    lenient = ["ask", question, "-c", "inside", "--extractive", "--json", "--min-support", "0"]
    data = json.loads(runner.invoke(cli, lenient).stdout)
    assert "do not cover the question" not in (data["reason"] or "")


def test_choose_threshold_prefers_the_lowest_of_equals_and_rates_count_right() -> None:
    scored = [
        Scored("a", True, 0.9),
        Scored("b", True, 0.6),
        Scored("c", False, 0.3),
        Scored("d", False, 0.5),
        Scored("e", True, 0.4),
    ]
    t = choose_threshold(scored)
    assert t == 0.55  # J = 1 - 1/3 there; 0.45 also catches both but refuses 'e' too
    r = rates(scored, 0.55)
    assert r.recall.value == 1.0 and r.false_abstention.value == pytest.approx(1 / 3)
    assert r.precision is not None and r.precision.value == pytest.approx(2 / 3)
    assert rates(scored, 0.0).precision is None  # nothing abstained: no precision to give


def test_bad_input(ws: Workspace) -> None:
    with pytest.raises(UserError, match="different collection"):
        calibrate_abstention("inside", "inside", generator(ws), workspace=ws)
    with pytest.raises(UserError, match="too few questions"):
        calibrate_abstention(
            "inside",
            "outside",
            generator(ws),
            n=2,
            save=False,
            folder=ws.root / "few",
            workspace=ws,
        )
    code, _, err = run_assay(["docs", "calibrate", "-c", "inside", "--outside", "nope"])
    assert code != 0 and "Traceback" not in err
    assert err.startswith("error: no collection named 'nope'")  # said before any model loads
