"""Precision as a sweep axis on a tiny random hf model: fp32 and dynamic int8 are separate runs
on the same items, with the memory each takes, paired against each other."""

from __future__ import annotations

import json
from pathlib import Path

from assay.config import load_settings
from assay.models.card import model_card
from assay.models.facade import Model
from assay.models.memory import DeviceMemory
from assay.sweeps import sweep
from assay.workspace import Workspace


def test_fp32_and_int8_cells(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "question": f"Say {i}.", "answer": str(i)} for i in range(12)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "sweep.yaml").write_text(
        f"""
tasks: [{tmp_path / "task.yaml"}]
axes:
  model: ["hf:{tiny_model_dir}"]
  precision: [fp32, int8]
  max_tokens: [3]
"""
    )
    (tmp_path / "task.yaml").write_text(
        f"name: say\ndataset: {{source: {tmp_path / 'qa.jsonl'}, id_field: id}}\n"
        "template: '{{ question }}'\ntarget: answer\nscorers: [exact_match]\n"
    )
    result = sweep(tmp_path / "sweep.yaml", progress=False)
    (board,) = result.boards
    by_precision = {e.axes["precision"]: e for e in board.entries}
    fp32, int8 = by_precision["fp32"], by_precision["int8"]
    assert fp32.status == int8.status == "done" and fp32.run_id != int8.run_id
    assert fp32.n == int8.n == 12
    # measured weights: int8 linear layers take a quarter of fp32's (embeddings stay fp32)
    assert fp32.memory_source == "weights" and int8.memory_bytes is not None
    assert fp32.memory_bytes is not None and int8.memory_bytes < fp32.memory_bytes
    assert int8.quantization == "int8 (dynamic)"
    assert (fp32.difference or int8.difference) is not None  # paired, one against the other

    ws = Workspace.find()
    settings = load_settings(ws.config_path, overrides={"dtype": "int8"})
    model = Model.load(f"hf:{tiny_model_dir}", settings=settings, workspace=ws)
    assert model.fingerprint.endswith("+int8") and model.info().details["dtype"] == "int8"
    ram = [DeviceMemory(name="RAM", free_bytes=10**10)]
    card = model_card(f"hf:{tiny_model_dir}", settings=settings, workspace=ws, devices=ram)
    assert card.memory is not None and card.memory.row("int8") is not None
    assert card.verdicts[0].dtype == "int8"
