"""Sweeps end to end with scripted models: cells are runs on the same items, reused and resumed;
the leaderboard pairs every cell with the best; bad sweep files are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from assay.config import load_settings
from assay.evals.runs import RunStore
from assay.evals.task import TaskConfig
from assay.models.capabilities import Capabilities
from assay.models.facade import Model
from assay.models.fake import FakeBackend
from assay.sweeps import plan, show, sweep
from assay.sweeps.render import pareto_front, to_html, to_markdown
from assay.sweeps.runner import _cannot_run
from assay.sweeps.store import SweepStore
from assay.workspace import Workspace
from cli_util import run_assay

ITEMS = 40


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A task whose answer is 4 on 28 of 40 items and 5 on the others, and scripted models:
    ``four`` (always 4: 0.7), ``also-four`` (the same answers in other words) and ``five`` (0.3)."""
    rows = [
        {
            "id": f"q{i}",
            "question": f"Question {i}: what is it?",
            "answer": "4" if i % 10 < 7 else "5",
        }
        for i in range(ITEMS)
    ]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "task.yaml").write_text(
        f"name: fours\ndataset: {{source: {tmp_path / 'qa.jsonl'}, id_field: id}}\n"
        "template: '{{ question }}'\n"
        "target: answer\nextract: {strategy: last_number}\nscorers: [numeric_match]\n"
    )
    (tmp_path / "four.yaml").write_text('replies: ["The answer is 4."]\n')
    (tmp_path / "also-four.yaml").write_text('replies: ["It is 4, I think."]\n')
    (tmp_path / "five.yaml").write_text('replies: ["5"]\n')
    return tmp_path


def write_sweep(folder: Path, body: str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(body)
    return path


GRID = """\
task: task.yaml
effect: 0.05
axes:
  model: ["fake:{d}/four.yaml", "fake:{d}/also-four.yaml", "fake:{d}/five.yaml"]
  max_tokens: [8]
"""


def test_sweep_ranks_pairs_and_recommends(folder: Path) -> None:
    result = sweep(write_sweep(folder, GRID.format(d=folder)), progress=False)
    (board,) = result.boards
    labels = [e.label for e in board.entries]
    assert labels[-1].endswith("five.yaml")
    best, tie, worse = board.entries
    assert best.metric is not None and best.metric.value == pytest.approx(0.7)
    assert worse.metric is not None and worse.metric.value == pytest.approx(0.3)
    # the same answers: not distinguishable; 0.3 vs 0.7 on 40 paired items: distinguishable
    assert tie.distinguishable is False and tie.difference is not None
    assert tie.difference.value == pytest.approx(0.0)
    assert worse.distinguishable is True and worse.p_holm is not None and worse.p_holm < 0.05
    assert worse.difference is not None and worse.difference.value == pytest.approx(-0.4)
    assert all(e.n == ITEMS and e.completion_tokens > 0 for e in board.entries)
    assert "not distinguishable from it at n=40" in board.recommendation
    assert any("too few to tell cells 0.05 apart" in w for w in board.warnings)
    # every cell is an ordinary run, on the same items
    store = RunStore(Workspace.find())
    runs = [store.get(str(e.run_id)) for e in board.entries]
    assert len({r.provenance["dataset"]["sha256"] for r in runs}) == 1
    assert len({frozenset(store.done_ids(r.id)) for r in runs}) == 1
    # the record links the sweep to its runs
    recorded = SweepStore(Workspace.find()).get(result.id)
    assert {c.run_id for c in recorded.cells} == {r.id for r in runs}
    assert recorded.status == "done"
    md = to_markdown(result.boards)
    assert "| distinguishable? |" in md and "**Recommendation.**" in md
    html = to_html(result.boards)
    assert "<img" in html and "Pareto front" in html  # quality against latency
    assert "Recommendation" in html


def test_done_cells_are_reused_not_recomputed(folder: Path) -> None:
    path = write_sweep(folder, GRID.format(d=folder))
    first = sweep(path, progress=False)
    calls = Workspace.find().db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    # another sweep over the same cells (another name): every cell is an existing run
    again = write_sweep(folder, GRID.format(d=folder) + "name: again\n", "again.yaml")
    second = sweep(again, progress=False)
    assert second.id != first.id
    assert all(c.reused for c in second.sweep.cells)
    assert {c.run_id for c in second.sweep.cells} == {c.run_id for c in first.sweep.cells}
    assert Workspace.find().db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == calls
    # the same file again continues the same sweep, and runs nothing
    assert sweep(path, progress=False).id == first.id


def test_failed_cell_is_reported_the_rest_run_and_a_rerun_retries_it(folder: Path) -> None:
    body = GRID.format(d=folder).replace("five.yaml", "later.yaml")
    path = write_sweep(folder, body)
    code, out, err = run_assay(["sweep", str(path)])
    assert code == 1
    assert "1 of 3 cells failed" in err and "the model could not be loaded" in err
    assert "failed: the model could not be loaded" in out  # the leaderboard keeps the others
    store = SweepStore(Workspace.find())
    (recorded,) = store.list()
    assert [c.status for c in recorded.cells] == ["done", "done", "failed"]
    done_runs = {c.run_id for c in recorded.cells if c.run_id}
    (folder / "later.yaml").write_text('replies: ["5"]\n')
    code, out, err = run_assay(["sweep", str(path), "--format", "json"])
    assert code == 0, err
    assert "continuing sweep" in err and "1/3" not in err
    again = store.get(recorded.id)
    assert [c.status for c in again.cells] == ["done"] * 3
    assert done_runs < {c.run_id for c in again.cells}
    data = json.loads(out)
    assert [c["status"] for c in data[0]["cells"]] == ["done"] * 3


def test_dry_run_prints_grid_calls_and_cost(folder: Path) -> None:
    ws = Workspace.find()
    ws.config_path.parent.mkdir(parents=True, exist_ok=True)
    ws.config_path.write_text(
        f'prices: {{"fake:{folder}/four.yaml": {{prompt: 1000000, completion: 2000000}}}}\n'
    )
    path = write_sweep(folder, GRID.format(d=folder) + "limit: 10\n")
    code, out, err = run_assay(["sweep", str(path), "--dry-run", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert len(data["cells"]) == 3 and data["calls"] == 30
    priced = data["cells"][0]
    # 10 answers of at most 8 tokens at $2 each, and the prompt tokens at $1 each
    assert priced["cost"] == pytest.approx(priced["prompt_tokens"] + 2 * 80)
    assert data["cells"][1]["cost"] == 0 and data["seconds"] is None
    assert not SweepStore(Workspace.find()).list()  # nothing ran
    code, out, err = run_assay(["sweep", str(path), "--dry-run"])
    assert "3 cells" in out and "total: 30 calls" in out
    assert "10 items are too few to tell cells 0.05 apart" in err
    served = write_sweep(folder, GRID.format(d=folder) + "  precision: [int8]\n", "int8.yaml")
    code, out, err = run_assay(["sweep", str(served), "--dry-run"])
    assert code == 0 and "precision int8 applies to local hf: models only" in err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("task: task.yaml\naxes:\n  modle: ['fake:']\n", ":3: unknown key 'axes.modle'"),
        ("task: task.yaml\naxes:\n  precision: [fp32, in8]\n", "did you mean 'int8'?"),
        ("task: task.yaml\naxes:\n  cot: [stepbystep]\n", "did you mean 'step_by_step'?"),
        ("task: task.yaml\naxes:\n  model: [defualt]\n", ":3: axes.model.0: unknown model"),
        ("task: task.yaml\naxes:\n  model: []\n", "the grid has no cells"),
        ("task: tsk.yaml\n", ":1: no task 'tsk.yaml'"),
        ("axes: {model: ['fake:']}\n", "give exactly one of 'task' or 'tasks'"),
        ("task: task.yaml\naxes:\n  prompt: {a: ''}\n", "prompt 'a' is empty"),
    ],
)
def test_bad_sweep_files_are_one_line_errors(folder: Path, body: str, expected: str) -> None:
    path = write_sweep(folder, body)
    code, out, err = run_assay(["sweep", str(path), "--dry-run"])
    assert code == 2 and expected in err, err
    assert "Traceback" not in err and not out
    if "defualt" in body:
        assert "did you mean 'default'?" in err


def test_task_the_model_cannot_score_is_refused_per_cell(folder: Path) -> None:
    class NoLogprobs(FakeBackend):
        capabilities = Capabilities()

    model = Model(
        NoLogprobs(), address="api:x", settings=load_settings(None), workspace=Workspace.find()
    )
    task = TaskConfig.model_validate(
        {"name": "mc", "kind": "multiple_choice", "dataset": {"source": "x.jsonl"}}
    )
    problem = _cannot_run(task, model)
    assert problem is not None and "log-likelihood" in problem and "api:x" in problem


def test_prompt_axis_gives_a_variance_decomposition(folder: Path) -> None:
    body = (
        "task: task.yaml\naxes:\n  model: ['fake:']\n  prompt:\n"
        "    plain: '{{ question }}'\n    four: '{{ question }} Is it 4?'\n"
    )
    result = sweep(write_sweep(folder, body), progress=False)
    (board,) = result.boards
    # `fake:` echoes the prompt, whose last number is read as the answer: the wording that
    # ends in 4 is right on every 4-item, the plain one only on item 4
    assert [e.metric.value for e in board.done if e.metric] == [
        pytest.approx(0.7),
        pytest.approx(0.025),
    ]
    ((group, v),) = board.variance
    assert "model=fake:" in group and v.n_prompts == 2 and v.n_items == ITEMS
    assert v.prompt.value > 0.1 and v.prompt.ci_low <= v.prompt.value <= v.prompt.ci_high
    assert "prompt sensitivity" in result.text()


def test_show_and_list_from_the_command_line(folder: Path, tmp_path: Path) -> None:
    result = sweep(write_sweep(folder, GRID.format(d=folder)), progress=False)
    code, out, _ = run_assay(["sweep", "list"])
    assert code == 0 and result.id in out and "3/3 done" in out
    target = tmp_path / "board.html"
    code, _, err = run_assay(
        ["sweep", "show", result.id[:-2], "--format", "html", "-o", str(target)]
    )
    assert code == 0, err
    assert "Recommendation" in target.read_text()
    assert show(result.id).boards[0].metric == "numeric_match"
    planned = plan(write_sweep(folder, GRID.format(d=folder)))
    assert len(planned.cells) == 3
    assert planned.seconds is not None  # every model has answered here before: timed


def test_pareto_front() -> None:
    points = [(1.0, 0.7), (2.0, 0.7), (0.5, 0.5), (3.0, 0.9), (2.5, 0.6)]
    assert sorted(pareto_front(points, higher_is_better=True)) == [0, 2, 3]
    assert sorted(pareto_front([(1.0, 3.0), (2.0, 1.0)], higher_is_better=False)) == [0, 1]


def test_interrupted_sweep_continues_where_it_stopped(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assay.sweeps.runner as runner

    real_load = runner._load
    state = {"batches": 0, "answered": 0, "stop_at": 2}

    def counting_load(cell, workspace):  # type: ignore[no-untyped-def]
        """The last cell's model answers by batches; the second batch is interrupted once."""
        model = real_load(cell, workspace)
        if cell.model.endswith("five.yaml"):
            generate = model.backend.generate

            def counted(requests, **kw):  # type: ignore[no-untyped-def]
                state["batches"] += 1
                if state["batches"] == state["stop_at"]:
                    raise KeyboardInterrupt
                state["answered"] += len(requests)
                return generate(requests, **kw)

            model.backend.generate = counted  # type: ignore[method-assign]
        return model

    monkeypatch.setattr(runner, "_load", counting_load)
    path = write_sweep(folder, GRID.format(d=folder))
    with pytest.raises(KeyboardInterrupt):
        sweep(path, progress=False)
    ws = Workspace.find()
    (stopped,) = SweepStore(ws).list()
    assert [c.status for c in stopped.cells] == ["done", "done", "pending"]
    (unfinished,) = [r for r in RunStore(ws).list() if r.status != "done"]
    assert unfinished.n_done == 8  # the first batch was committed

    result = sweep(path, progress=False)
    assert result.id == stopped.id and result.sweep.status == "done"
    last = result.sweep.cells[2]
    assert last.status == "done" and last.run_id == unfinished.id  # resumed, not restarted
    assert state["answered"] == ITEMS  # no item was answered twice


def test_several_tasks_and_a_kind_one_model_cannot_run(folder: Path) -> None:
    rows = [
        {"id": str(i), "question": f"Q{i}", "choices": ["a", "b"], "target": 0} for i in range(12)
    ]
    (folder / "mc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "mc.yaml").write_text(
        f"name: mc\nkind: multiple_choice\n"
        f"dataset: {{source: {folder / 'mc.jsonl'}, id_field: id}}\n"
    )
    # scores choices like a local model; five.yaml gives no log-probabilities, as many APIs
    (folder / "scores.yaml").write_text(
        'replies: ["4"]\nloglikelihoods: {" a": -0.5, " b": -2.0}\n'
    )
    body = (
        "tasks: [task.yaml, mc.yaml]\naxes:\n"
        f"  model: ['fake:{folder}/scores.yaml', 'fake:{folder}/five.yaml']\n"
    )
    result = sweep(write_sweep(folder, body), progress=False)
    assert [b.task for b in result.boards] == ["task.yaml", "mc.yaml"]
    fours, mc = result.boards
    assert [e.status for e in fours.entries] == ["done", "done"]
    assert [e.status for e in mc.entries] == ["done", "failed"]
    assert mc.entries[0].metric is not None and mc.entries[0].metric.value == 1.0
    assert "log-likelihood" in str(mc.entries[1].error)
    assert result.sweep.status == "incomplete"
    assert "1 cell(s) failed" in mc.recommendation


def test_paraphrases_become_a_prompts_file_the_sweep_reads(folder: Path) -> None:
    (folder / "para.yaml").write_text(
        'replies: ["Rewritten instruction: Reply with one number.", "\\"Give the number.\\"",'
        ' "Reply with one number."]\n'
    )
    prompts = folder / "prompts.yaml"
    code, _, err = run_assay(
        [
            "sweep",
            "paraphrase",
            "Answer with a number.",
            "-m",
            f"fake:{folder}/para.yaml",
            "-n",
            "3",
            "-o",
            str(prompts),
        ]
    )
    assert code == 0 and "3 prompts" in err, err
    written = yaml.safe_load(prompts.read_text())
    assert written == {
        "original": "Answer with a number.\n\n{{ question }}",
        "p1": "Reply with one number.\n\n{{ question }}",  # label trimmed; the repeat dropped
        "p2": "Give the number.\n\n{{ question }}",
    }
    body = f"task: task.yaml\naxes:\n  model: ['fake:{folder}/four.yaml']\n  prompt: prompts.yaml\n"
    result = sweep(write_sweep(folder, body), progress=False)
    assert sorted(c.axes["prompt"] for c in result.sweep.cells) == ["original", "p1", "p2"]
    missing = write_sweep(folder, body.replace("prompts.yaml", "nope.yaml"), "missing.yaml")
    code, _, err = run_assay(["sweep", str(missing), "--dry-run"])
    assert code == 2 and "missing.yaml:4: axes.prompt names" in err and "nope.yaml" in err
