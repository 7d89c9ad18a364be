"""A workspace with something on every page of ``assay ui``, made through the real store code:
two scripted evaluation runs of one task, a review queue, a collection of one real PDF, and a
finetuning run folder (its record, as ``assay train`` writes it, and a running one's
checkpoint state)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from assay.evals.runner import EvalOptions, evaluate
from assay.evals.task import TaskConfig
from assay.finetune.runs import CHECKPOINTS_DIR, RECORD_FILE, run_dir
from assay.models.fake import scripted
from assay.review import create_queue
from assay.workspace import Workspace

PAPER = "05_inlg_W18-6515.pdf"
QUESTION = "How many headlines of Nikkei Quick News were used as market comments?"
RUBRIC = """\
name: correct
instructions: Is the model's answer the reference answer?
labels:
  wrong: the final answer differs from the reference
  right: the final answer is the reference
ordered: true
"""


@dataclass
class UIWorkspace:
    ws: Workspace
    run_a: str
    run_b: str
    queue: str
    rubric: Path
    collection: str | None
    training: str


def _n(prompt: str) -> int:
    return int(prompt.split("What is ")[1].split(" ")[0])


def good(prompt: str) -> str:
    n = _n(prompt)
    return "I am not sure." if n % 5 == 0 else f"The answer is {2 * n}."


def worse(prompt: str) -> str:
    n = _n(prompt)
    return "Perhaps 7." if n % 3 == 0 else f"The answer is {2 * n}."


def sums_task(folder: Path, n: int) -> TaskConfig:
    data = folder / "sums.jsonl"
    rows = [
        {"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)}
        for i in range(n)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return TaskConfig.model_validate(
        {
            "name": "sums",
            "dataset": {"source": str(data), "id_field": "id"},
            "template": "{{ question }}",
            "target": "answer",
            "extract": {"strategy": "last_number"},
            "scorers": ["numeric_match"],
        }
    )


def write_training_runs(ws: Workspace) -> str:
    """A finished run's record with its curves, and a run still training (checkpoint state)."""
    done = run_dir(ws, "classifier-bbc-demo")
    done.mkdir(parents=True, exist_ok=True)
    train = [
        {"step": s, "loss": 1.6 / s**0.5, "lr": 1e-4, "epoch": s / 10, "tokens": 512}
        for s in range(1, 21)
    ]
    evals = [
        {"step": s, "loss": 1.5 / (s + 1) ** 0.4, "accuracy": 0.2 + 0.03 * s}
        for s in (0, 5, 10, 15, 20)
    ]
    record = {
        "format": 1,
        "status": "complete",
        "run_id": done.name,
        "recipe": "classifier",
        "base_model": {"name": "all-MiniLM-L6-v2"},
        "finished": "2026-01-01T00:00:00Z",
        "metrics": {"accuracy": 0.8, "loss": 0.42},
        "curves": {"train": train, "eval": evals},
    }
    (done / RECORD_FILE).write_text(json.dumps(record))
    running = run_dir(ws, "sft-running-demo") / CHECKPOINTS_DIR / "step-000005"
    running.mkdir(parents=True, exist_ok=True)
    (running / "state.json").write_text(
        json.dumps({"step": 5, "progress": {"train": train[:5], "eval": []}})
    )
    return done.name


def build(folder: Path, pdf: Path | None = None, n: int = 40) -> UIWorkspace:
    """Everything above in a new workspace under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("ASSAY_HOME")
    os.environ["ASSAY_HOME"] = str(folder / "home")
    try:
        ws = Workspace.find()
        task = sums_task(folder, n)
        a = evaluate(task, scripted([good]), EvalOptions(progress=False), on_status=lambda _: None)
        b = evaluate(task, scripted([worse]), EvalOptions(progress=False), on_status=lambda _: None)
        rubric = folder / "rubric.yaml"
        rubric.write_text(RUBRIC)
        q = create_queue(a.id, n=6, rubric=rubric, stratify="extraction_ok", workspace=ws)
        name = None
        if pdf is not None:
            from assay.rag import Collection

            col = Collection(ws, "papers")
            col.add([pdf])
            name = col.name
        training = write_training_runs(ws)
        return UIWorkspace(ws, a.id, b.id, q.id, rubric, name, training)
    finally:
        if old is None:
            os.environ.pop("ASSAY_HOME", None)
        else:
            os.environ["ASSAY_HOME"] = old
