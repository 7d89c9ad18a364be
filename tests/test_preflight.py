"""The contamination pre-flight: a task's declared training data (and a run: model's recorded
data, in test_membership) checked before scoring, warned about, recorded for the run and shown
in its report; --no-contamination-check turns it off and the report says so."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from assay.checks.preflight import training_data
from assay.checks.record import CheckStore
from assay.evals.runs import RunStore
from assay.workspace import Workspace
from cli_util import run_assay

LEAKED = "the committee reviewed every proposal twice before it agreed on the final budget"


def _task(tmp_path: Path) -> Path:
    rows = [
        {
            "id": f"q{i}",
            "question": f"{LEAKED} number {i}?" if i < 2 else f"short {i}?",
            "target": "yes",
        }
        for i in range(6)
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "train.jsonl").write_text(json.dumps({"text": f"Notes: {LEAKED} number 0?"}) + "\n")
    task = {
        "name": "leaky",
        "dataset": {"source": str(tmp_path / "items.jsonl")},
        "template": "{{ question }}",
        "scorers": ["exact_match"],
        "contamination": {"against": ["train.jsonl"]},  # relative to the task file
    }
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(task))
    return path


def test_a_task_is_checked_against_its_declared_training_data(tmp_path: Path) -> None:
    task = _task(tmp_path)
    code, _, err = run_assay(["eval", str(task), "-m", "fake:"])
    assert code == 0, err
    # items 0 and 1 share the 13-word span; item 1 differs only after it ("number 1")
    assert "contamination pre-flight: 2 of 6 items share a 13-gram with the task's" in err
    ws = Workspace.find()
    (run,) = RunStore(ws).list()
    assert run.provenance["contamination_preflight"]["contaminated"] == 2
    check = CheckStore(ws).for_run(run.id, items=True)["contamination"]
    assert check.status == "flagged" and check.config["preflight"] is True
    assert {i["id"] for i in check.items if i["contaminated"]} == {"q0", "q1"}
    assert "exact_match: clean - all" in check.figures
    code, _, err = run_assay(["report", run.id, "-o", str(tmp_path / "r.html")])
    assert code == 0, err
    section = (tmp_path / "r.html").read_text().split('id="responsible-use"')[1]
    assert '<span class="badge flagged">flagged</span>' in section.split("</section>")[0]


def test_no_contamination_check_is_said_in_the_report(tmp_path: Path) -> None:
    task = _task(tmp_path)
    code, _, err = run_assay(["eval", str(task), "-m", "fake:", "--no-contamination-check"])
    assert code == 0, err
    assert "pre-flight" not in err
    ws = Workspace.find()
    (run,) = RunStore(ws).list()
    assert CheckStore(ws).for_run(run.id) == {}
    code, _, err = run_assay(["report", run.id, "-o", str(tmp_path / "r.html")])
    section = (tmp_path / "r.html").read_text().split('id="responsible-use"')[1]
    section = section.split("</section>")[0]
    assert "The contamination pre-flight was turned off for this run" in section


def test_models_without_recorded_data_have_nothing_to_check() -> None:
    ws = Workspace.find()
    assert training_data("fake:", ws) == ([], [], [])
    paths, _, notes = training_data("run:nothing-here", ws)
    assert paths == [] and notes == ["run:nothing-here has no recorded training data"]
