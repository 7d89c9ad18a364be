"""An evaluation under ``accelerate launch`` with 2 CPU processes: the items are shared out, both
processes commit their share into one run, and the run equals the one a single process gives
(same samples, predictions, scores and metrics).

``--multi_gpu`` is what makes accelerate start torchrun (``--cpu`` starts one process); without
visible GPUs the processes talk over gloo on the CPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.evals.runs import RunStore
from assay.evals.shards import Shard
from assay.workspace import Workspace

LAUNCHER = shutil.which("accelerate", path=str(Path(sys.executable).parent))
SRC = Path(__file__).resolve().parents[1] / "src"

TASK = """
name: shapes
kind: multiple_choice
dataset: {{source: {data}}}
template: "Question: {{{{ question }}}}\\nAnswer:"
input: question
target: target_index
choices: choices
choice_format: " {{{{ choice }}}}"
scorers: [mc_acc, mc_acc_norm]
"""


def _task(root: Path, n: int = 11) -> Path:
    # The scripted model scores each choice -1 per word, so its pick depends on the item only:
    # right when the answer is the shortest choice, wrong otherwise.
    rows = []
    for i in range(n):
        short, long_ = f"shape {i}", f"a much longer shape number {i}"
        right_is_short = i % 3 != 0
        choices = [long_, short] if i % 2 else [short, long_]
        target = choices.index(short if right_is_short else long_)
        rows.append(
            {
                "id": f"q{i}",
                "question": f"Which shape is {i}?",
                "choices": choices,
                "target_index": target,
            }
        )
    data = root / "items.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = root / "task.yaml"
    task.write_text(TASK.format(data=data))
    return task


def test_take_splits_every_item_once() -> None:
    items = list(range(11))
    shares = [Shard(i, 3).take(items) for i in range(3)]
    assert sorted(x for share in shares for x in share) == items
    assert [len(s) for s in shares] == [4, 4, 3]


@pytest.mark.skipif(LAUNCHER is None, reason="the accelerate command is not installed")
def test_two_processes_give_the_run_one_process_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.cli.main import main

    task = _task(tmp_path)
    one = Workspace.init(tmp_path / "one")
    monkeypatch.setenv("ASSAY_HOME", str(one.root))
    main(["eval", str(task), "-m", "fake:"])

    two = Workspace.init(tmp_path / "two")
    env = {
        **os.environ,
        "ASSAY_HOME": str(two.root),
        "CUDA_VISIBLE_DEVICES": "",  # two CPU processes (gloo) even where a GPU is present
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    assert LAUNCHER is not None
    done = subprocess.run(
        [LAUNCHER, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "assay.cli.main", "eval", str(task), "-m", "fake:", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout)  # one process printed one JSON document
    assert "process 1/2: 6 of the 11 items" in done.stderr
    assert "process 2/2: 5 of the 11 items" in done.stderr

    runs_one, runs_two = RunStore(one).list(), RunStore(two).list()
    assert len(runs_two) == 1 and printed[0]["id"] == runs_two[0].id
    single, shared = runs_one[0], runs_two[0]
    assert shared.status == "done" and shared.n_done == 11
    assert shared.metrics == single.metrics
    assert single.metrics is not None
    assert 0 < single.metrics["metrics"]["mc_acc"]["value"] < 1  # a mix, so a mixup would show

    def rows(store: RunStore, run_id: str) -> list[tuple[int, str, object, object]]:
        return [(s["idx"], s["id"], s["prediction"], s["scores"]) for s in store.samples(run_id)]

    assert rows(RunStore(two), shared.id) == rows(RunStore(one), single.id)
    assert shared.provenance["processes"] == 2 and single.provenance["processes"] == 1


def test_many_requests_in_flight_to_an_inference_server(tmp_path: Path, serve_app: Any) -> None:
    """The path for models too large for one process: an OpenAI-compatible server (vLLM, TGI,
    llama.cpp server; here ``assay serve`` stands in) with many requests in flight. Every item is
    answered once, and the run equals the one against the same model in process."""
    import assay
    from assay.config import load_settings
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.task import load_task
    from assay.models.fake import scripted
    from assay.serve.app import create_app

    task = load_task(str(_task(tmp_path, n=96)))
    local = scripted()
    server = serve_app(create_app(local))
    settings = load_settings(overrides={"openai.max_concurrency": 32})
    remote = assay.load(f"openai:{server.model_id}@{server.base_url}", settings=settings)
    quiet = EvalOptions(progress=False, batch_size=96)
    there = evaluate(task, remote, quiet, lambda _: None)
    here = evaluate(task, local, quiet, lambda _: None)
    store = RunStore(remote.workspace)
    got = store.samples(there.id)
    assert len(got) == 96 and len({s["id"] for s in got}) == 96
    assert [(s["id"], s["prediction"], s["scores"]) for s in got] == [
        (s["id"], s["prediction"], s["scores"]) for s in store.samples(here.id)
    ]
    assert there.metrics == here.metrics


def test_launches_that_cannot_share_one_workspace_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assay.errors import UserError
    from assay.evals.shards import current_shard

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two machines of two processes
    with pytest.raises(UserError, match="processes of one machine only"):
        current_shard()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert current_shard() == Shard(0, 1)
