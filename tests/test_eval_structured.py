"""The ``structured`` task kind with scripted JSON replies: validity, per-field scores, failures
recorded as failures, schema files beside the task, bad configurations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assay.errors import ConfigError, UserError
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.structured_kind import FieldScoring, answer_field, score_field
from assay.evals.task import TaskConfig, load_task
from assay.models.fake import scripted
from assay.workspace import Workspace

SCHEMA = {
    "type": "object",
    "properties": {
        "drug": {"type": "string"},
        "dose_mg": {"type": "number"},
        "effects": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["drug", "dose_mg", "effects"],
}

TASK_YAML = """
name: doses
kind: structured
dataset: {source: rows.jsonl, id_field: id}
template: "Extract the drug, dose and effects: {{ text }}"
structured:
  json_schema: schemas/dose.json
  fields:
    drug: exact
    dose_mg: {match: numeric, gold: dose, abs_tol: 0.5}
    effects: {match: set_f1, gold: effects, separator: ";"}
"""


def write_task(tmp_path: Path, rows: list[dict], yaml_text: str = TASK_YAML) -> Path:
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "dose.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tmp_path / "task.yaml"
    task.write_text(yaml_text.replace("rows.jsonl", str(tmp_path / "rows.jsonl")))
    return task


ROWS = [
    {
        "id": f"r{i}",
        "text": f"case {i}",
        "drug": "Aspirin",
        "dose": 100 + i,
        "effects": "nausea; rash",
    }
    for i in range(8)
]


def reply(prompt: str) -> str:
    """Row 0-3 right; 4 answers the dose 1 mg off (inside the tolerance) and one effect wrong;
    5 is not JSON first and right when re-asked; 6 never fits the schema; 7 misses the drug."""
    i = int(re.findall(r"case (\d+)", prompt)[-1])
    asked_again = "That reply is not valid" in prompt
    if i == 5 and not asked_again:
        return "Sure! The drug is aspirin."
    if i == 6:
        return json.dumps({"drug": "aspirin", "dose_mg": "a lot", "effects": []})
    answer = {"drug": " aspirin ", "dose_mg": 100 + i, "effects": ["Nausea", "rash"]}
    if i == 4:
        answer.update(dose_mg=104.4, effects=["nausea", "headache"])
    if i == 7:
        answer["drug"] = "ibuprofen"
    return "```json\n" + json.dumps(answer) + "\n```"


def test_structured_task_scores_fields_and_records_invalid_answers(tmp_path: Path) -> None:
    task = load_task(str(write_task(tmp_path, ROWS)))
    assert task.structured is not None and task.structured.json_schema == SCHEMA  # inlined
    run = evaluate(task, scripted([reply]), EvalOptions(progress=False))
    m = run.metrics
    assert m is not None
    metrics = {k: v["value"] for k, v in m["metrics"].items()}
    assert metrics["schema_valid"] == pytest.approx(7 / 8)
    assert m["metrics"]["schema_valid"]["method"] == "wilson"
    # drug: rows 0-5 right, 6 invalid, 7 wrong. dose: 0-5 and 7 within 0.5 mg.
    assert metrics["field.drug"] == pytest.approx(6 / 8)
    assert metrics["field.dose_mg"] == pytest.approx(7 / 8)
    # effects: set F1 1 for 0-3, 5, 7; 0.5 for row 4 ({nausea, headache} vs {nausea, rash}).
    assert metrics["field.effects"] == pytest.approx((6 + 0.5) / 8)
    assert m["extraction_failures"] == 1
    samples = {s["id"]: s for s in RunStore(Workspace.find()).samples(run.id)}
    bad = samples["r6"]
    # The same invalid reply twice: the third attempt is not spent on it.
    assert not bad["extraction_ok"] and bad["prediction"] is None and bad["attempts"] == 2
    assert len(bad["validation_errors"]) == 2 and "dose_mg" in bad["extraction_error"]
    assert all(v == 0.0 for v in bad["scores"].values())
    retried = samples["r5"]
    assert retried["extraction_ok"] and retried["attempts"] == 2
    assert retried["validation_errors"] == [retried["validation_errors"][0]]
    assert samples["r0"]["target"] == {"drug": "Aspirin", "dose_mg": 100, "effects": "nausea; rash"}
    assert samples["r4"]["scores"]["fields_mean"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert "JSON Schema" in samples["r0"]["input"]  # the schema went into the prompt


def test_field_matches() -> None:
    exact = FieldScoring()
    assert score_field("  The  Lancet ", "the lancet", exact) == 1.0
    assert score_field("Lancet.", "lancet", exact) == 0.0
    assert score_field("Lancet.", "lancet", FieldScoring(ignore_punctuation=True)) == 1.0
    assert score_field(True, "true", exact) == 1.0
    assert score_field(None, "x", exact) == 0.0
    numeric = FieldScoring(match="numeric", abs_tol=0.5)
    assert score_field(10.4, "10", numeric) == 1.0
    assert score_field(10.6, "10", numeric) == 0.0
    assert score_field("1,000", 1000, numeric) == 1.0
    assert score_field(True, 1, numeric) == 0.0
    relative = FieldScoring(match="numeric", rel_tol=0.1, abs_tol=0.0)
    assert score_field(108, 100, relative) == 1.0 and score_field(112, 100, relative) == 0.0
    sets = FieldScoring(match="set_f1")
    assert score_field(["A", "b", "b"], ["a", "B"], sets) == 1.0
    assert score_field(["a", "c"], ["a", "b", "d"], sets) == pytest.approx(2 * 1 / 5)
    assert score_field([], [], sets) == 1.0 and score_field([], ["a"], sets) == 0.0
    assert score_field(["x"], "x| y", FieldScoring(match="set_f1", separator="|")) == pytest.approx(
        2 / 3
    )
    assert answer_field({"a": {"b": [5, 6]}}, "a.b.1") == 6
    assert answer_field({"a": 1}, "a.b") is None


def test_builtin_pubmedqa_fields_on_real_data(shared_data: Path) -> None:
    task = load_task("pubmedqa-fields").with_overrides(
        **{"dataset.options.path": str(shared_data / "pubmedqa")}
    )

    def reader(prompt: str) -> str:
        # Copies the headings it was shown and always answers "yes".
        abstract = prompt.split("User: ", 1)[1].split("\nQuestion:")[0]
        headings = re.findall(r"^([^:\n]+): ", abstract, flags=re.M)
        return json.dumps({"decision": "yes", "sections": headings})

    run = evaluate(task, scripted([reader]), EvalOptions(progress=False, limit=20))
    m = run.metrics
    assert m is not None and m["n"] == 20
    samples = RunStore(Workspace.find()).samples(run.id)
    share_yes = sum(s["target"]["decision"] == "yes" for s in samples) / 20
    assert 0 < share_yes < 1
    assert m["metrics"]["field.decision"]["value"] == pytest.approx(share_yes)
    assert m["metrics"]["field.sections"]["value"] == pytest.approx(1.0)
    assert m["metrics"]["schema_valid"]["value"] == 1.0
    assert run.config["structured"]["json_schema"]["properties"]["decision"]["enum"] == [
        "yes",
        "no",
        "maybe",
    ]


def test_rows_missing_gold_fields_are_refused_or_skipped(tmp_path: Path) -> None:
    rows = [dict(r) for r in ROWS[:4]]
    rows[2].pop("dose")
    task = load_task(str(write_task(tmp_path, rows)))
    with pytest.raises(
        UserError, match=r"1 row\(s\) miss one of the fields .*'dose'.*: rows.jsonl:3"
    ):
        evaluate(task, scripted([reply]), EvalOptions(progress=False))
    said: list[str] = []
    run = evaluate(
        task, scripted([reply]), EvalOptions(progress=False, skip_invalid=True), said.append
    )
    assert run.n_total == 3
    assert "skipped 1 of 4 row(s) that miss a needed field" in said


def test_bad_structured_configurations(tmp_path: Path) -> None:
    base = {"name": "t", "dataset": {"source": "x.jsonl"}}
    with pytest.raises(ValueError, match="'structured' block goes with kind: structured"):
        TaskConfig.model_validate({**base, "kind": "structured"})
    with pytest.raises(ValueError, match="'structured' block goes with kind: structured"):
        TaskConfig.model_validate(
            {**base, "structured": {"json_schema": SCHEMA, "fields": {"drug": "exact"}}}
        )
    task_file = write_task(tmp_path, ROWS)
    (tmp_path / "schemas" / "dose.json").unlink()
    with pytest.raises(ConfigError, match=r"dose\.json: cannot read the JSON Schema"):
        load_task(str(task_file))
    (tmp_path / "schemas" / "dose.json").write_text('{"type": "objekt"}')
    task = load_task(str(task_file))
    with pytest.raises(ConfigError, match="schema"):
        evaluate(task, scripted([reply]), EvalOptions(progress=False))
    bad_match = TASK_YAML.replace("drug: exact", "drug: fuzzy")
    with pytest.raises(ConfigError, match=r"structured\.fields\.drug\.match"):
        load_task(str(write_task(tmp_path, ROWS, bad_match)))
    typo = TASK_YAML.replace("  fields:", "  feilds:")
    with pytest.raises(ConfigError, match=r"unknown key 'structured\.feilds'") as info:
        load_task(str(write_task(tmp_path, ROWS, typo)))
    assert info.value.hint == "did you mean 'structured.fields'?"
