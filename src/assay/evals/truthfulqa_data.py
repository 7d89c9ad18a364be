"""TruthfulQA's multiple-choice questions, read from the upstream ``mc_task.json``."""

from __future__ import annotations

import json
from pathlib import Path

from assay.errors import UserError
from assay.evals.datasets import Dataset, file_sha256, from_rows

MC_FILE = "mc_task.json"


def truthfulqa(path: str | Path | None = None) -> Dataset:
    """TruthfulQA (Lin, Hilton and Evans, 2022), 817 questions that some humans answer falsely
    because of a misconception.

    ``path`` is ``mc_task.json`` or a folder holding it (upstream ``data/``). Rows: ``question``;
    ``mc1_choices`` with ``mc1_target`` (the one true answer); ``mc2_choices`` with
    ``mc2_true`` (all true answers). Choices keep the file's order, as lm-evaluation-harness
    presents them. ``id`` is the question's position in the file.
    """
    if path is None:
        raise UserError(
            "truthfulqa needs mc_task.json",
            hint="pass path= (the data/ folder of github.com/sylinrl/TruthfulQA), e.g. "
            "--set dataset.options.path=data/truthfulqa",
        )
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / MC_FILE if (file / MC_FILE).is_file() else file / "data" / MC_FILE
    if not file.is_file():
        raise UserError(f"truthfulqa: {file} is missing")
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{file}: not TruthfulQA's mc_task.json ({e})") from e
    rows = []
    for i, rec in enumerate(records):
        try:
            mc1, mc2 = rec["mc1_targets"], rec["mc2_targets"]
            true1 = [a for a, label in mc1.items() if label == 1]
            question = rec["question"]
        except (KeyError, TypeError, AttributeError) as e:
            raise UserError(f"{file}: record {i + 1} lacks {e} (question, mc1/mc2_targets)") from e
        if len(true1) != 1:
            raise UserError(f"{file}: record {i + 1} has {len(true1)} true mc1 answers, not 1")
        rows.append(
            {
                "id": str(i),
                "question": question,
                "mc1_choices": list(mc1),
                "mc1_target": true1[0],
                "mc2_choices": list(mc2),
                "mc2_true": [a for a, label in mc2.items() if label == 1],
            }
        )
    return from_rows(
        rows,
        source="truthfulqa",
        path=str(file),
        sha256=file_sha256(file),
        format="json",
        split="validation",
        files=(file.name,),
        n_source_rows=len(records),
        licence="Apache-2.0",
        citation=(
            "Lin, Hilton, Evans. TruthfulQA: Measuring How Models Mimic Human Falsehoods. "
            "ACL 2022, pp. 3214-3252."
        ),
        url="https://github.com/sylinrl/TruthfulQA",
    )


__all__ = ["truthfulqa"]
