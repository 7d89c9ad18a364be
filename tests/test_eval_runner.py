"""The evaluation runner end to end with scripted models: records, metrics, resume, bad input."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.errors import ConfigError, UserError
from assay.evals.compare import compare_runs
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.task import TaskConfig, load_task
from assay.models.fake import scripted
from assay.workspace import Workspace
from cli_util import one_error, run_assay


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    rows = [
        {"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)}
        for i in range(30)
    ]
    return write_jsonl(tmp_path / "qa.jsonl", rows)


def qa_task(path: Path, **extra: object) -> TaskConfig:
    return TaskConfig.model_validate(
        {
            "name": "sums",
            "dataset": {"source": str(path), "id_field": "id"},
            "template": "{{ question }}",
            "target": "answer",
            "extract": {"strategy": "last_number"},
            "scorers": ["numeric_match"],
            **extra,
        }
    )


def doubling(prompt: str) -> str:
    n = int(prompt.split("What is ")[1].split(" ")[0])
    return "I am not sure." if n % 5 == 0 else f"The answer is {2 * n}."


def test_generate_run_records_everything(qa_file: Path) -> None:
    run = evaluate(qa_task(qa_file), scripted([doubling]), EvalOptions(progress=False))
    assert run.status == "done" and run.n_done == run.n_total == 30
    m = run.metrics
    assert m is not None
    # 6 of 30 replies (n = 0, 5, 10, ...) have no number: flagged and scored wrong.
    assert m["extraction_failures"] == 6
    acc = m["metrics"]["numeric_match"]
    assert acc["value"] == pytest.approx(24 / 30) and acc["method"] == "wilson"
    assert acc["ci_low"] < acc["value"] < acc["ci_high"]
    samples = RunStore(Workspace.find()).samples(run.id)
    failed = [s for s in samples if not s["extraction_ok"]]
    assert len(failed) == 6 and all(s["scores"]["numeric_match"] == 0 for s in failed)
    assert all(s["extraction_error"] for s in failed)
    prov = run.provenance
    assert prov["dataset"]["sha256"] and prov["template_sha256"] and prov["packages"]["assay"]
    assert "git" in prov and "machine" in prov and prov["model"]["fingerprint"].startswith("fake:")


def test_same_command_returns_the_finished_run(qa_file: Path) -> None:
    model = scripted([doubling])
    first = evaluate(qa_task(qa_file), model, EvalOptions(progress=False))
    again = evaluate(qa_task(qa_file), model, EvalOptions(progress=False))
    assert again.id == first.id
    rerun = evaluate(qa_task(qa_file), model, EvalOptions(progress=False, rerun=True))
    assert rerun.id != first.id


def test_multiple_choice_with_categories_and_calibration(tmp_path: Path) -> None:
    rows = [
        {
            "id": str(i),
            "question": f"Q{i}",
            "choices": ["red", "green", "blue"],
            "target": i % 3,
            "topic": "a" if i < 10 else "b",
        }
        for i in range(20)
    ]
    task = TaskConfig.model_validate(
        {
            "name": "colours",
            "kind": "multiple_choice",
            "dataset": {"source": str(write_jsonl(tmp_path / "mc.jsonl", rows)), "id_field": "id"},
            "template": "{{ question }}\nAnswer:",
            "category": "topic",
        }
    )
    model = scripted([], loglikelihoods={" green": -0.2, " red": -1.0, " blue": -3.0})
    run = evaluate(task, model, EvalOptions(progress=False))
    m = run.metrics
    assert m is not None
    assert m["metrics"]["mc_acc"]["value"] == pytest.approx(7 / 20)  # gold 1 in 7 of 20 rows
    assert set(m["by_category"]) == {"a", "b"}
    assert 0 <= m["calibration"]["ece"] <= 1
    sample = RunStore(Workspace.find()).samples(run.id)[0]
    assert sample["continuations"] == [" red", " green", " blue"] and sample["output"] == "green"


def test_gold_label_not_among_choices(tmp_path: Path) -> None:
    rows = [{"id": "1", "question": "Q", "choices": ["x", "y"], "target": "z"}]
    task = TaskConfig.model_validate(
        {
            "name": "bad",
            "kind": "multiple_choice",
            "dataset": {"source": str(write_jsonl(tmp_path / "b.jsonl", rows))},
            "template": "{{ question }}",
        }
    )
    with pytest.raises(UserError, match=r"gold label 'z' is not among the choices \['x', 'y'\]"):
        evaluate(task, scripted([]), EvalOptions(progress=False))


def test_missing_fields_refuse_or_skip(tmp_path: Path) -> None:
    rows = [{"id": str(i), "question": f"Q{i}", "answer": "1"} for i in range(5)]
    rows[1].pop("answer")
    rows[3]["answer"] = ""
    task = qa_task(write_jsonl(tmp_path / "m.jsonl", rows))
    with pytest.raises(
        UserError, match=r"2 row\(s\) miss one of the fields \['answer'\]: m.jsonl:2, m.jsonl:4"
    ) as info:
        evaluate(task, scripted(["1"]), EvalOptions(progress=False))
    assert "--skip-invalid" in (info.value.hint or "")
    run = evaluate(task, scripted(["1"]), EvalOptions(progress=False, skip_invalid=True))
    assert run.n_total == 3 and run.provenance["skipped_rows"] == 2


def test_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(UserError, match="empty"):
        evaluate(qa_task(tmp_path / "e.jsonl"), scripted([]), EvalOptions(progress=False))


def test_unknown_yaml_key_suggests(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text("name: t\ndataset: {source: x.jsonl}\nscorrers: [exact_match]\n")
    with pytest.raises(ConfigError, match="unknown key 'scorrers'") as info:
        load_task(str(f))
    assert info.value.hint == "did you mean 'scorers'?"
    f.write_text("name: t\ndataset: {source: x.jsonl, feilds: {}}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'dataset\.feilds'") as info:
        load_task(str(f))
    assert "dataset.fields" in (info.value.hint or "")


def test_every_builtin_task_loads() -> None:
    from assay.evals.task import builtin_tasks

    for name in builtin_tasks():
        assert load_task(name).name == name


def test_compare_needs_shared_samples(qa_file: Path, tmp_path: Path) -> None:
    a = evaluate(qa_task(qa_file), scripted([doubling]), EvalOptions(progress=False))
    b = evaluate(qa_task(qa_file), scripted([doubling]), EvalOptions(progress=False, limit=5))
    with pytest.raises(UserError, match=r"share only 5 sample\(s\) \(5 and 30 in each\)"):
        compare_runs(RunStore(Workspace.find()), [a.id, b.id])


def test_compare_refuses_runs_on_different_data(qa_file: Path, tmp_path: Path) -> None:
    # The same ids in another file name other items: pairing them would be meaningless.
    rows = [{"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": "0"} for i in range(30)]
    a = evaluate(qa_task(qa_file), scripted([doubling]), EvalOptions(progress=False))
    b = evaluate(
        qa_task(write_jsonl(tmp_path / "o.jsonl", rows)),
        scripted([doubling]),
        EvalOptions(progress=False),
    )
    with pytest.raises(UserError, match="were evaluated on different data") as info:
        compare_runs(RunStore(Workspace.find()), [a.id, b.id])
    assert "o.jsonl" in info.value.message and "qa.jsonl" in info.value.message
    code, _, err = run_assay(["compare", a.id, b.id])
    assert code == 2 and "cannot be paired" in one_error(err)


def test_fewshot_and_cot_reach_the_prompt(qa_file: Path) -> None:
    model = scripted(["Answer: 4"])
    task = qa_task(qa_file, fewshot={"k": 2, "method": "first"}, cot="reason_then_answer", limit=3)
    evaluate(task, model, EvalOptions(progress=False))
    seen = model.backend.seen[0]  # type: ignore[attr-defined]
    assert seen.count("User:") == 3 and seen.count("Assistant:") == 3  # 2 shots + the item
    assert "Answer: <answer>" in seen


def test_cli_shots_select_first_gives_every_item_the_same_examples(qa_file: Path) -> None:
    task = qa_file.with_name("sums.yaml")
    task.write_text(
        f"name: sums\ndataset: {{source: {qa_file}}}\ntemplate: '{{{{ question }}}}'\n"
        "target: answer\nchat: false\nscorers: [exact_match]\n"
    )
    code, out, err = run_assay(
        [
            "eval",
            str(task),
            "-m",
            "fake:",
            "--limit",
            "6",
            "--shots",
            "2",
            "--select",
            "first",
            "--json",
        ]
    )
    assert code == 0, err
    run = RunStore(Workspace.find()).get(json.loads(out)[0]["id"])
    assert run.config["fewshot"]["method"] == "first" and run.config["fewshot"]["k"] == 2
    prompts = [s["input"] for s in RunStore(Workspace.find()).samples(run.id)]
    heads = collections.Counter(p.rsplit("\n\n", 1)[0] for p in prompts)
    # The pool's first two for every item but those two (which get the next one instead).
    assert len(prompts) == 6 and heads.most_common(1)[0][1] == 4
    code, _, err = run_assay(["eval", str(task), "-m", "fake:", "--select", "best"])
    assert code == 2 and "best" in err


KILL_SCRIPT = """
import sys
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.task import load_task
from assay.models.facade import Model
model = Model.load(sys.argv[2])
evaluate(load_task(sys.argv[1]), model, EvalOptions(progress=False, batch_size=2))
"""


def test_kill_9_and_resume_recomputes_nothing(
    tmp_path: Path, qa_file: Path, assay_home: Path
) -> None:
    task_file = tmp_path / "task.yaml"
    task_file.write_text(
        f"name: sums\ndataset: {{source: {qa_file}, id_field: id}}\ntemplate: '{{{{ question }}}}'\n"
        "target: answer\nextract: {strategy: last_number}\nscorers: [numeric_match]\n"
    )
    script = tmp_path / "slow.yaml"
    script.write_text("replies: ['The answer is 4.']\ndelay_s: 0.05\n")
    cmd = [sys.executable, "-c", KILL_SCRIPT, str(task_file), f"fake:{script}"]
    proc = subprocess.Popen(cmd, env=os.environ.copy())
    ws = Workspace.find()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            n = ws.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        except Exception:
            n = 0
        if n >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    done_before = ws.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert 10 <= done_before < 30
    subprocess.run(cmd, env=os.environ.copy(), check=True, timeout=120)
    run = RunStore(ws).list()[0]
    assert run.status == "done" and run.n_done == 30 and len(RunStore(ws).list()) == 1
    # No sample was generated twice across both processes. (A batch killed between its cache
    # write and its log row is served from the cache on resume, so up to one batch may be
    # missing from the fresh count.)
    fresh = ws.db.execute(
        "SELECT SUM(n_requests - cached) FROM calls WHERE op = 'generate'"
    ).fetchone()[0]
    assert 28 <= fresh <= 30


def test_python_evaluate_in_one_call(qa_file: Path) -> None:
    import assay

    model = scripted([doubling])
    run = assay.evaluate(qa_task(qa_file), model, limit=10, progress=False)
    assert run.status == "done" and len(run.records()) == 10
    ids = [int(r["id"][1:]) for r in run.records()]
    expected = sum(i % 5 != 0 for i in ids) / len(ids)  # every fifth item is not answered
    assert run.metrics["numeric_match"].value == pytest.approx(expected)
    again = assay.evaluate(qa_task(qa_file), model, limit=10, progress=False)
    assert again.id == run.id  # the finished run is returned, not recomputed
    few = assay.evaluate(qa_task(qa_file), model, limit=10, shots=2, progress=False)
    assert few.id != run.id and few.config["fewshot"]["k"] == 2
    assert "numeric_match" in assay.compare(run.id, few.id).to_markdown()
