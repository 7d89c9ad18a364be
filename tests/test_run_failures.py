"""Runs that cannot finish: what can be checked is refused before a run is created; a run that
fails later is marked failed with its reason, refused by reports and comparisons, and resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.errors import BackendError, UserError
from assay.evals.compare import compare_runs
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.task import TaskConfig
from assay.models.fake import scripted
from assay.reports.html import write_report
from assay.workspace import Workspace
from cli_util import one_error, run_assay


def _rows(path: Path, n: int = 12, drop: int | None = None) -> Path:
    rows = [{"id": f"q{i}", "question": f"What is {i}?", "answer": str(i)} for i in range(n)]
    if drop is not None:
        rows[drop].pop("question")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _task_file(tmp_path: Path, data: Path, extra: str = "") -> Path:
    task = tmp_path / "t.yaml"
    task.write_text(
        f"name: sums\ndataset: {{source: {data}}}\ntemplate: '{{{{ question }}}}'\n"
        f"target: answer\nscorers: [exact_match]\n{extra}"
    )
    return task


def _runs() -> list[dict]:
    code, out, err = run_assay(["runs", "list", "--json"])
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["--shots", "20"], "", "k=20 examples asked for, but the pool holds 12"),
        (
            [],
            "fewshot: {k: -1}\n",
            "t.yaml:6: fewshot.k: Input should be greater than or equal to 0",
        ),
    ],
)
def test_few_shot_settings_are_refused_before_a_run_exists(
    tmp_path: Path, args: list[str], extra: str, message: str
) -> None:
    task = _task_file(tmp_path, _rows(tmp_path / "qa.jsonl"), extra)
    code, _, err = run_assay(["eval", str(task), "-m", "fake:", *args])
    assert code == 2
    assert message in one_error(err)
    assert _runs() == []


def test_rows_the_template_cannot_render_are_refused_or_skipped(tmp_path: Path) -> None:
    task = _task_file(tmp_path, _rows(tmp_path / "qa.jsonl", drop=2))
    code, _, err = run_assay(["eval", str(task), "-m", "fake:"])
    assert code == 2
    line = one_error(err)
    assert (
        "1 row(s) cannot be rendered; qa.jsonl:3: sums.template line 1: undefined variable" in line
    )
    assert "--skip-invalid" in line and _runs() == []
    code, _, err = run_assay(["eval", str(task), "-m", "fake:", "--skip-invalid", "--json"])
    assert code == 0, err
    (run,) = _runs()
    assert run["status"] == "done" and run["samples"] == "11/11"


def test_a_run_that_fails_midway_is_marked_and_refused_then_resumes(tmp_path: Path) -> None:
    task = TaskConfig.model_validate(
        {
            "name": "sums",
            "dataset": {"source": str(_rows(tmp_path / "qa.jsonl"))},
            "template": "{{ question }}",
            "target": "answer",
            "scorers": ["exact_match"],
        }
    )
    broken = {"now": True}

    def reply(prompt: str) -> str:
        if broken["now"] and "7" in prompt:
            raise BackendError("the server went away")
        return prompt.split()[-1].rstrip("?")

    model = scripted([reply])
    with pytest.raises(BackendError):
        evaluate(task, model, EvalOptions(progress=False, batch_size=4))
    store = RunStore(Workspace.find())
    (failed,) = store.list()
    assert (failed.status, failed.error, failed.n_done) == ("failed", "the server went away", 4)

    with pytest.raises(UserError, match=r"failed after 4/12 samples \(the server went away\)"):
        write_report(store, failed.id, tmp_path / "r.html")
    with pytest.raises(UserError, match="cannot be used for a comparison"):
        compare_runs(store, [failed.id, failed.id])
    code, out, _ = run_assay(["runs", "show", failed.id])
    assert (
        code == 0 and "(failed, 4/12 samples)" in out and "failed     the server went away" in out
    )
    code, _, err = run_assay(["report", failed.id])
    assert code == 2 and "cannot be used for a report" in one_error(err)
    assert not (tmp_path / "r.html").exists()

    broken["now"] = False
    done = evaluate(task, model, EvalOptions(progress=False, batch_size=4))
    assert done.id == failed.id and (done.status, done.error, done.n_done) == ("done", None, 12)


def test_a_row_missing_a_field_is_named_by_its_file_line(tmp_path: Path) -> None:
    data = tmp_path / "noid.jsonl"
    # No id field, and a blank line: the row's position (2) is not its line (4).
    data.write_text('{"q": "a", "a": "1"}\n\n{"q": "b", "a": "2"}\n{"a": "3"}\n')
    task = tmp_path / "t.yaml"
    task.write_text(f"name: t\ndataset: {{source: {data}}}\ninput: q\ntarget: a\n")
    code, _, err = run_assay(["eval", str(task), "-m", "fake:"])
    assert code == 2
    assert "1 row(s) miss one of the fields ['a', 'q']: noid.jsonl:4" in one_error(err)
