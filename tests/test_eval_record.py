"""The typed per-sample record: stored as the same JSON a dict of its entries was, read back
from older runs unchanged, and readable as a mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.evals.record import SampleRecord
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.task import TaskConfig
from assay.models.fake import scripted
from assay.workspace import Workspace

# A generate sample exactly as the runner stored it before records were typed.
STORED = {
    "input": "[user] What is 2 plus 2?",
    "output": "The answer is 4.",
    "extracted": "4",
    "extraction_ok": True,
    "extraction_error": None,
    "prediction": "4",
    "target": "4",
    "prompt_tokens": 7,
    "completion_tokens": 4,
    "latency_s": 0.01,
    "scores": {"numeric_match": 1.0},
}


def test_only_the_entries_set_are_stored() -> None:
    record = SampleRecord(input="x", output="", extraction_ok=True, prediction=[1.0], target=0)
    assert record.stored() == {
        "input": "x",
        "output": "",
        "extraction_ok": True,
        "prediction": [1.0],
        "target": 0,
    }
    record.scores = {"mc_acc": 1.0}
    record.category = None  # a row without the category field: stored as null, as before
    assert record.stored()["scores"] == {"mc_acc": 1.0} and record.stored()["category"] is None


def test_a_stored_record_reads_back_and_stores_the_same() -> None:
    again = SampleRecord.model_validate({"idx": 3, "id": "q3", **STORED, "words": ["a"]})
    assert again.idx == 3 and again.id == "q3" and again.scores == {"numeric_match": 1.0}
    assert json.loads(again.to_json()) == {**STORED, "words": ["a"]}  # extras are kept
    assert again.retrieval is None and "retrieval" not in again.stored()


def test_it_reads_as_a_mapping() -> None:
    record = SampleRecord.of({**STORED, "words": ["a"]})
    assert record["scores"]["numeric_match"] == 1.0 and record["words"] == ["a"]
    assert "target" in record and "choices" not in record and "words" in record
    assert record.get("choices", "none") == "none" and record.get("extracted") == "4"
    with pytest.raises(KeyError):
        record["confidence"]


def test_a_run_stores_what_it_stored_before(tmp_path: Path) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"question": "What is 2 plus 2?", "answer": "4"}) + "\n")
    task = TaskConfig.model_validate(
        {
            "name": "sums",
            "dataset": {"source": str(data)},
            "target": "answer",
            "extract": {"strategy": "last_number"},
            "scorers": ["numeric_match"],
        }
    )
    run = evaluate(task, scripted(["The answer is 4."]), EvalOptions(progress=False))
    store = RunStore(Workspace.find())
    raw = store.ws.db.execute("SELECT record FROM samples WHERE run_id = ?", (run.id,)).fetchone()
    stored = json.loads(raw["record"])
    assert set(stored) == set(STORED)
    assert stored["scores"] == {"numeric_match": 1.0} and stored["extracted"] == "4"
    (record,) = store.records(run.id)
    assert record.id == "0" and record.idx == 0 and record.prediction == "4"
    assert store.samples(run.id)[0] == record.as_dict()
