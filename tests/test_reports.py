"""HTML reports and notebook views of runs made with scripted models."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from assay.cli.main import main
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunRow, RunStore
from assay.evals.task import TaskConfig
from assay.models.fake import scripted
from assay.workspace import Workspace

XSS = "<script>alert(1)</script>"
LABELS = ["business", "sports", "tech"]
COLOURS = {
    " red": -0.3,
    " green": -0.9,
    " blue": -1.6,
    " yellow": -2.2,
    " purple": -0.5,
    " orange": -1.1,
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def store() -> RunStore:
    return RunStore(Workspace.find())


# -- three kinds of run --------------------------------------------------------------------------


def classify(prompt: str) -> str:
    n = int(prompt.split("Article ")[1].split(":")[0])
    if n % 7 == 3:
        return "I would rather not say."  # no label: an extraction failure
    return f"Section: {LABELS[(n + (n % 4 == 1)) % 3].upper()}"  # wrong when n % 4 == 1


def classification_run(tmp_path: Path) -> RunRow:
    rows = [
        {"id": f"a{n}", "text": f"Article {n}: markets and matches", "target": LABELS[n % 3]}
        for n in range(24)
    ]
    rows[5]["text"] = f"Article 5: {XSS} & more"
    task = TaskConfig.model_validate(
        {
            "name": "news",
            "description": "Which section does an article belong to?",
            "dataset": {
                "source": str(write_jsonl(tmp_path / "news.jsonl", rows)),
                "id_field": "id",
            },
            "template": "{{ text }}\nAnswer with one word.",
            "target": "target",
            "extract": {"strategy": "regex", "args": {"pattern": "(?i)(business|sports|tech)"}},
            "scorers": [
                {"name": "accuracy", "options": {"ignore_case": True}},
                {"name": "macro_f1", "options": {"labels": LABELS, "ignore_case": True}},
            ],
        }
    )
    return evaluate(task, scripted([classify]), EvalOptions(progress=False))


def choice_run(tmp_path: Path) -> RunRow:
    names = [c.strip() for c in COLOURS]
    rows = [
        {
            "id": str(i),
            "question": f"Q{i}: which colour?",
            "choices": [names[(i + k) % len(names)] for k in range(4)],
            "target": i % 4,
            "topic": ["art", "physics", "biology"][i % 3],
        }
        for i in range(30)
    ]
    task = TaskConfig.model_validate(
        {
            "name": "colours",
            "kind": "multiple_choice",
            "dataset": {"source": str(write_jsonl(tmp_path / "mc.jsonl", rows)), "id_field": "id"},
            "template": "{{ question }}\nAnswer:",
            "category": "topic",
        }
    )
    return evaluate(task, scripted([], loglikelihoods=COLOURS), EvalOptions(progress=False))


def summarise(prompt: str) -> str:
    n = int(prompt.split("Paper ")[1].split(" ")[0])
    words = ["the", "model", "improves", "accuracy", "on", "long", "documents"]
    return " ".join(words[: n % 8]) or "Nothing to report."


def summary_run(tmp_path: Path) -> RunRow:
    rows = [
        {
            "id": f"p{n}",
            "document": f"Paper {n} abstract. " + "Long text. " * (n * 3),
            "target": "the model improves accuracy on long documents",
        }
        for n in range(16)
    ]
    task = TaskConfig.model_validate(
        {
            "name": "summaries",
            "dataset": {"source": str(write_jsonl(tmp_path / "sum.jsonl", rows)), "id_field": "id"},
            "template": "{{ document }}",
            "target": "target",
            "scorers": ["token_f1", "exact_match"],
        }
    )
    return evaluate(task, scripted([summarise]), EvalOptions(progress=False))


# -- helpers -------------------------------------------------------------------------------------


def report_of(run: RunRow, tmp_path: Path, name: str = "report.html") -> str:
    from assay.reports import write_report

    path = write_report(store(), run.id, tmp_path / name)
    assert path == tmp_path / name and path.is_file()
    return path.read_text(encoding="utf-8")


def table_rows(page: str) -> list[str]:
    body = page.split('id="samples-table"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r"<tr class=\"(\w+)\"", body)


def sample_ids(page: str) -> list[str]:
    body = page.split('id="samples-table"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r'<div class="id">([^<]*)</div>', body)


def assert_self_contained(page: str) -> None:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    assert refs, "expected images and in-page links"
    for ref in refs:
        assert ref.startswith(("data:", "#")), ref
    assert not re.search(r"<link\b|@import|url\(\s*['\"]?https?:", page, flags=re.I)
    assert "<script src" not in page.lower()


def images(page: str) -> list[bytes]:
    return [
        base64.b64decode(m)
        for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]


# -- the report ----------------------------------------------------------------------------------


def test_classification_report(tmp_path: Path) -> None:
    run = classification_run(tmp_path)
    m = run.metrics
    assert m is not None and m["extraction_failures"] > 0
    page = report_of(run, tmp_path)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert_self_contained(page)

    # header and metrics with their intervals
    assert "<h1>news</h1>" in page and run.model in page and run.fingerprint in page
    for name in ("accuracy", "macro_f1"):
        est = m["metrics"][name]
        assert f"{est['value']:.3f}" in page
        assert f"[{est['ci_low']:.3f}, {est['ci_high']:.3f}]" in page
    assert "95% CI" in page and "wilson" in page

    # provenance
    prov = run.provenance
    for value in (
        prov["dataset"]["sha256"],
        prov["dataset"]["rows_sha256"],
        prov["template_sha256"],
    ):
        assert value in page
    assert "Packages" in page and prov["packages"]["python"] in page
    assert "Machine" in page

    # figures: a confusion matrix of labels, no histogram of 0/1 scores
    assert "Confusion matrix" in page and "(no answer)" in page
    assert "Score distributions" not in page
    pngs = images(page)
    assert pngs and all(p.startswith(b"\x89PNG") for p in pngs)

    # failures first: every extraction failure and wrong answer before any correct one
    statuses = table_rows(page)
    assert len(statuses) == 24
    first_ok = statuses.index("correct")
    assert set(statuses[:first_ok]) == {"failed", "wrong"}
    assert "correct" in statuses and set(statuses[first_ok:]) == {"correct"}
    assert statuses[0] == "failed"  # a failure to read an answer comes before a plain wrong one
    n_failed = m["extraction_failures"]
    assert statuses.count("failed") == n_failed
    assert page.count('class="badge failed"') == n_failed
    assert page.count('<div class="reason">') == n_failed
    assert "no match for" in page or "pattern" in page  # the extractor's reason is shown


def test_everything_from_the_run_is_escaped(tmp_path: Path) -> None:
    page = report_of(classification_run(tmp_path), tmp_path)
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    # the only script element is the report's own
    assert page.count("<script") == 1


def test_multiple_choice_report(tmp_path: Path) -> None:
    run = choice_run(tmp_path)
    m = run.metrics
    assert m is not None and set(m["by_category"]) == {"art", "physics", "biology"}
    page = report_of(run, tmp_path)
    assert_self_contained(page)
    for titles in ("mc_acc by category", "Confusion matrix", "Calibration", "position bias"):
        assert titles in page
    assert "By category" in page and "ECE" in page
    for cat in ("art", "physics", "biology"):
        est = m["by_category"][cat]["mc_acc"]
        assert f"[{est['ci_low']:.3f}, {est['ci_high']:.3f}]" in page
    assert len(images(page)) >= 4  # two category charts, confusion, reliability
    statuses = table_rows(page)
    assert statuses.index("correct") == statuses.count("wrong")  # all wrong answers first
    # chosen and gold options by letter, with the choices listed
    assert re.search(r"<td class=\"short\">[A-D]\. \w+<details", page)
    assert "all options" in page


def test_continuous_scores_report(tmp_path: Path) -> None:
    run = summary_run(tmp_path)
    samples = store().samples(run.id)
    page = report_of(run, tmp_path)
    assert_self_contained(page)
    assert "Score distributions" in page and "Confusion matrix" not in page
    # lowest token F1 first
    f1 = {s["id"]: s["scores"]["token_f1"] for s in samples}
    shown = [f1[i] for i in sample_ids(page)]
    assert shown == sorted(shown) and len(shown) == len(samples)
    # long inputs are folded, with the whole text one click away
    assert '<details class="clip">' in page and "show all" in page


def test_max_samples_keeps_the_worst(tmp_path: Path) -> None:
    from assay.reports import render_report

    run = summary_run(tmp_path)
    samples = store().samples(run.id)
    page = render_report(run, samples, max_samples=5, with_figures=False)
    worst = sorted(s["scores"]["token_f1"] for s in samples)[:5]
    f1 = {s["id"]: s["scores"]["token_f1"] for s in samples}
    assert [f1[i] for i in sample_ids(page)] == worst
    assert f"Showing the worst 5 of {len(samples)} samples" in page
    assert f"assay runs export {run.id}" in page


def test_unfinished_run_still_reports(tmp_path: Path) -> None:
    from assay.reports import render_report

    run = classification_run(tmp_path)
    s = store()
    s.ws.db.execute("UPDATE runs SET status = 'running', metrics = NULL, finished = NULL")
    partial = s.get(run.id)
    page = render_report(partial, s.samples(run.id))
    assert "This run is <b>running</b>" in page and "No metrics recorded" in page
    assert len(table_rows(page)) == 24


# -- the command ---------------------------------------------------------------------------------


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = summary_run(tmp_path)
    capsys.readouterr()
    target = tmp_path / "out" / "x.html"
    code, out, _ = run_cli(["report", run.id[:-2], "-o", str(target)], capsys)
    assert code == 0 and out.strip() == str(target)
    assert target.read_text().startswith("<!doctype html>")

    code, out, _ = run_cli(["report", run.id], capsys)
    default = Workspace.find().root / "reports" / f"{run.id}.html"
    assert code == 0 and out.strip() == str(default) and default.is_file()


def test_cli_unknown_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["report", "no-such-run"], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: no run 'no-such-run'")
    assert all(line.startswith(("error:", "hint:")) for line in lines)


# -- notebooks -----------------------------------------------------------------------------------


def test_run_view(tmp_path: Path) -> None:
    import assay

    made = choice_run(tmp_path)
    view = assay.run(made.id)
    assert view.id == made.id
    assert made.metrics is not None
    assert view.metrics["mc_acc"].value == pytest.approx(made.metrics["metrics"]["mc_acc"]["value"])
    page = view._repr_html_()
    assert "mc_acc" in page and "data:image/png;base64," in page and "<table" in page
    assert "<html" not in page and "<script" not in page  # a fragment for a notebook cell
    rows = view.samples()
    try:
        import pandas as pd
    except ImportError:
        assert isinstance(rows, list) and len(rows) == 30
    else:
        assert isinstance(rows, pd.DataFrame) and len(rows) == 30
        assert "mc_acc" in rows.columns and "input" in rows.columns
    out = view.report(tmp_path / "r.html")
    assert out.read_text().startswith("<!doctype html>")
    assert made.id in repr(view)


def test_comparison_view(tmp_path: Path) -> None:
    from assay.reports.display import compare

    a = classification_run(tmp_path)
    b = evaluate(
        TaskConfig.model_validate({**a.config, "seed": 0}),
        scripted(["Section: business"]),
        EvalOptions(progress=False),
    )
    view = compare(a.id, b.id)
    page = view._repr_html_()
    assert (
        page.count("<table") == 1
        and "accuracy" in page
        and "McNemar" in page.replace("mcnemar", "McNemar")
    )
    assert "<!doctype" not in page.lower() and "<h1>" not in page
    assert len(view.rows) >= 1
    assert "accuracy" in view.to_markdown()


def test_lower_is_better_metrics_sort_highest_first(tmp_path: Path) -> None:
    from assay.reports import analysis

    rows = [{"id": str(i), "text": "word " * (i + 1)} for i in range(6)]
    task = TaskConfig.model_validate(
        {
            "name": "ppl",
            "kind": "perplexity",
            "input": "text",
            "dataset": {"source": str(write_jsonl(tmp_path / "p.jsonl", rows)), "id_field": "id"},
        }
    )
    run = evaluate(task, scripted([]), EvalOptions(progress=False))
    assert analysis.higher_is_better(run, "perplexity") is False
    samples = [
        {"idx": i, "scores": {"perplexity": v}, "extraction_ok": True}
        for i, v in enumerate([3.0, 9.0, 1.5])
    ]
    ordered = analysis.failures_first(samples, "perplexity", higher_better=False)
    assert [s["idx"] for s in ordered] == [1, 0, 2]
    page = report_of(run, tmp_path)
    assert_self_contained(page)
    assert "by perplexity (highest first)" in page
    assert ">result<" not in page  # no right/wrong for a continuous metric
