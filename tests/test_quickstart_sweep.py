"""The quickstart's sweep step: two precisions x two wordings of the prompting step's task, on
the same items, ending in a leaderboard (terminal and HTML with Pareto plots) and a recorded
sweep. The tiny random Llama stands in for the default model."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.config import load_settings
from assay.quickstart import steps
from assay.sweeps import show
from assay.workspace import Workspace


def test_sweep_step_writes_a_leaderboard(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    monkeypatch.setattr(steps, "PROMPTING_LIMIT", 6)
    ws = Workspace.find()
    tour = steps.Tour(f"hf:{tiny_model_dir}", ws, load_settings(ws.config_path))
    said: list[str] = []
    monkeypatch.setattr(steps.Tour, "say", lambda self, text="", **_: said.append(text))
    steps.step_prompting(tour)  # its zero-shot answers are the fp32 'mmlu' cell's, cached
    steps.step_sweep(tour)

    text = "\n".join(said)
    assert "mmlu-science, the same 6 questions" in text
    result = tour.results["sweep"]
    [board] = show(result.id, workspace=ws).boards
    cells = {e.label for e in board.entries}
    assert cells == {
        f"precision={p} prompt={w}" for p in ("fp32", "int8") for w in ("mmlu", "terse")
    }
    assert len(board.entries) == 4 and all(e.n == 6 for e in board.entries)
    # scoring the choices reads tokens: counted, as generation's are
    assert all(e.prompt_tokens > 0 and e.completion_tokens == 0 for e in board.entries)
    # the cached cell's speed would be the cache's: not shown, and said why
    [cached] = [e for e in board.entries if e.cache_hits]
    assert cached.label == "precision=fp32 prompt=mmlu" and cached.items_per_s is None
    assert any("response cache: precision=fp32 prompt=mmlu" in w for w in board.warnings)
    assert all(e.items_per_s for e in board.entries if not e.cache_hits)
    html = (ws.root / "reports" / "quickstart-sweep.html").read_text()
    assert "<svg" in html or "<img" in html  # the Pareto plots
