"""Human review: rubrics (YAML, judge rubrics, errors by line), seeded and stratified queues,
blind pairs, labels (outside the rubric refused), agreement, the review metric in the run and in
`assay compare`, CSV export, and the terminal commands."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from assay.errors import ConfigError, UserError
from assay.evals.compare import compare_runs
from assay.evals.runs import RunStore
from assay.models.fake import scripted
from assay.review import (
    ReviewStore,
    create_queue,
    export_csv,
    load_rubric,
    record_metric,
    summarise,
)
from assay.review.queue import allocate
from cli_util import run_assay
from ui_workspace import RUBRIC, UIWorkspace, build


@pytest.fixture
def uiws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UIWorkspace:
    built = build(tmp_path / "ws", n=30)
    monkeypatch.setenv("ASSAY_HOME", str(built.ws.root))  # the CLI sees the same workspace
    return built


def test_yaml_rubrics_and_judge_rubrics_load(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RUBRIC)
    r = load_rubric(path)
    assert (
        r.points == ["wrong", "right"]
        and r.level == "ordinal"
        and r.keys == {"1": "wrong", "2": "right"}
    )
    assert r.descriptions["right"].startswith("the final answer is")
    scale = tmp_path / "s.yaml"
    scale.write_text("name: quality\nscale: [1, 5]\ndescriptions: {1: useless, 5: excellent}\n")
    s = load_rubric(scale)
    assert s.points == ["1", "2", "3", "4", "5"] and s.keys["3"] == "3" and s.position("5") == 1.0
    judge = load_rubric("correctness")
    assert (
        judge.kind == "scale"
        and judge.points[-1] == "5"
        and "correct" in judge.instructions.lower()
    )


def test_rubric_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlabels: [a, b]\nscael: [1, 5]\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:3: unknown key 'scael'"):
        load_rubric(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nlabels: [a, b\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+: not valid YAML"):
        load_rubric(broken)
    both = tmp_path / "both.yaml"
    both.write_text("name: x\nlabels: [a, b]\nscale: [1, 5]\n")
    with pytest.raises(ConfigError, match="exactly one of 'labels'"):
        load_rubric(both)
    with pytest.raises(ConfigError, match="unknown rubric"):
        load_rubric("no-such-rubric")


def test_allocation_is_proportional() -> None:
    assert allocate({"a": 30, "b": 10}, 8) == {"a": 6, "b": 2}
    assert allocate({"a": 3, "b": 1}, 10) == {"a": 3, "b": 1}
    assert sum(allocate({"a": 7, "b": 7, "c": 7}, 10).values()) == 10


def test_queue_is_seeded_stratified_and_blind_pairs_are_shuffled(uiws: UIWorkspace) -> None:
    ws, store = uiws.ws, ReviewStore(uiws.ws)
    one = create_queue(
        uiws.run_a, n=10, rubric=uiws.rubric, stratify="extraction_ok", seed=3, workspace=ws
    )
    two = create_queue(
        uiws.run_a, n=10, rubric=uiws.rubric, stratify="extraction_ok", seed=3, workspace=ws
    )
    items = store.items(one.id)
    assert [i.sample_id for i in items] == [i.sample_id for i in store.items(two.id)]
    # 6 of the 30 replies fail extraction: a fifth of the sample, as in the run.
    assert sum(i.stratum == "False" for i in items) == 2
    pairs = create_queue(uiws.run_a, uiws.run_b, n=20, rubric=uiws.rubric, blind=True, workspace=ws)
    assert pairs.rubric.points == ["a", "b", "tie"] and pairs.blind
    flips = [i.b_first for i in store.items(pairs.id)]
    assert 0 < sum(flips) < len(flips)
    with pytest.raises(UserError, match=r"no sample .* has a field 'nope'"):
        create_queue(uiws.run_a, n=5, rubric=uiws.rubric, stratify="nope", workspace=ws)
    with pytest.raises(UserError, match="--blind needs two runs"):
        create_queue(uiws.run_a, n=5, rubric=uiws.rubric, blind=True, workspace=ws)
    with pytest.raises(UserError, match="no run 'missing'"):
        create_queue("missing", n=5, rubric=uiws.rubric, workspace=ws)


def test_labels_agreement_metric_and_compare(uiws: UIWorkspace) -> None:
    ws, store = uiws.ws, ReviewStore(uiws.ws)
    qa = create_queue(uiws.run_a, n=12, rubric=uiws.rubric, seed=1, workspace=ws)
    qb = create_queue(uiws.run_b, n=12, rubric=uiws.rubric, seed=1, workspace=ws)
    assert [i.sample_id for i in store.items(qa.id)] == [i.sample_id for i in store.items(qb.id)]
    with pytest.raises(UserError, match="'maybe' is not a label of rubric 'correct'"):
        store.label(qa, 0, "ada", "maybe")
    runs = RunStore(ws)
    for q, run in ((qa, uiws.run_a), (qb, uiws.run_b)):
        samples = {s["id"]: s for s in runs.samples(run)}
        for it in store.items(q.id):
            truth = "right" if samples[it.sample_id]["scores"]["numeric_match"] == 1 else "wrong"
            store.label(q, it.pos, "ada", truth)
            # bob disagrees on the first two items only
            store.label(
                q,
                it.pos,
                "bob",
                truth if it.pos > 1 else ("wrong" if truth == "right" else "right"),
            )
    summary = summarise(qa, ws)
    ag = summary.agreement
    assert ag is not None and ag.raters == ("ada", "bob")
    assert ag.percent.value == pytest.approx(10 / 12)
    assert (
        ag.cohen_kappa is not None
        and ag.cohen_kappa.ci_low <= ag.cohen_kappa.value <= ag.cohen_kappa.ci_high
    )
    assert summary.progress == {"ada": 12, "bob": 12}
    est_a, est_b = record_metric(qa, ws), record_metric(qb, ws)
    assert (
        est_a is not None
        and est_b is not None
        and 0 <= est_a.ci_low <= est_a.value <= est_a.ci_high <= 1
    )
    metrics = runs.get(uiws.run_a).metrics or {}
    assert metrics["metrics"]["review:correct"]["value"] == pytest.approx(est_a.value)
    rows = compare_runs(runs, [uiws.run_a, uiws.run_b], metrics=["review:correct"])
    assert rows[0].result.n_shared == 12
    text = export_csv(qa, store.items(qa.id))
    table = list(csv.DictReader(io.StringIO(text)))
    assert (
        len(table) == 24
        and {r["reviewer"] for r in table} == {"ada", "bob"}
        and all(r["time"] for r in table)
    )


def test_relabelling_replaces_and_resume_finds_the_next_item(uiws: UIWorkspace) -> None:
    store = ReviewStore(uiws.ws)
    q = store.get(uiws.queue)
    store.label(q, 0, "ada", "wrong")
    store.label(q, 0, "ada", "RIGHT", "changed my mind")
    assert store.item(q.id, 0).labels["ada"]["value"] == "right"
    assert store.next_pos(q.id, "ada") == 1
    with pytest.raises(UserError, match="has no item 99"):
        store.label(q, 99, "ada", "right")


def test_cli_create_next_label_agreement_export(uiws: UIWorkspace, tmp_path: Path) -> None:
    code, out, err = run_assay(
        ["review", "create", uiws.run_a, "--n", "3", "--rubric", str(uiws.rubric)]
    )
    assert code == 0, err
    qid = out.split()[2].rstrip(":")
    # two labels by key number, a comment, then stop
    code, out, err = run_assay(
        ["review", "next", qid, "--reviewer", "ada"], stdin="2\n1 # unsure\nq\n"
    )
    assert code == 0, err
    assert "ada: 2/3 labelled" in out
    code, out, err = run_assay(["review", "label", qid, "3", "maybe", "--reviewer", "ada"])
    assert code != 0 and err.startswith("error: 'maybe' is not a label of rubric 'correct'")
    for item, value in ((1, "right"), (2, "wrong"), (3, "right")):
        assert run_assay(["review", "label", qid, str(item), value, "--reviewer", "bob"])[0] == 0
    assert run_assay(["review", "label", qid, "3", "2", "--reviewer", "ada"])[0] == 0
    code, out, err = run_assay(["review", "agreement", qid])
    assert code == 0, err
    assert "Krippendorff's alpha" in out and "review:correct" in out
    csv_path = tmp_path / "labels.csv"
    assert run_assay(["review", "export", qid, "-o", str(csv_path)])[0] == 0
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 6 and any(r["comment"] == "unsure" for r in rows)
    code, out, _ = run_assay(["review", "list"])
    assert code == 0 and qid in out and "ada 3/3" in out
    code, _, err = run_assay(["review", "export", "review-nope"])
    assert code != 0 and "no review queue 'review-nope'" in err


def test_judge_agreement_with_a_scripted_judge(uiws: UIWorkspace) -> None:
    from assay.review.results import judge_labels, reviewer_agreement

    store = ReviewStore(uiws.ws)
    q = create_queue(uiws.run_a, n=6, rubric="correctness", workspace=uiws.ws)
    for it in store.items(q.id):
        store.label(q, it.pos, "ada", "5" if it.pos % 2 else "1")
    judge = scripted(['{"reasoning": "compared with the reference", "score": 5}'])
    items = store.items(q.id)
    labels = judge_labels(q, items, judge, uiws.ws)
    assert set(labels.values()) == {"5"} and len(labels) == 6
    report = reviewer_agreement(q, items, labels)
    assert report is not None and report.raters == ("ada", "judge")
    assert report.percent.value == pytest.approx(3 / 6)


def test_blind_pairs_hide_run_names_and_keys_follow_the_shown_order(uiws: UIWorkspace) -> None:
    from assay.ui.views import item_view, run_samples

    store = ReviewStore(uiws.ws)
    q = create_queue(
        uiws.run_a, uiws.run_b, n=8, rubric=uiws.rubric, blind=True, seed=2, workspace=uiws.ws
    )
    samples = run_samples(uiws.ws, q)
    flipped = next(it for it in store.items(q.id) if it.b_first)
    view = item_view(q, flipped, samples)
    assert [o["label"] for o in view["outputs"]] == ["output 1", "output 2"]
    assert all("run" not in o for o in view["outputs"])
    b_output = samples[uiws.run_b][flipped.sample_id]["output"]
    assert view["outputs"][0]["output"] == b_output
    # "1" (the first shown is better) is stored as run b's win
    code, _, err = run_assay(
        ["review", "label", q.id, str(flipped.pos + 1), "1", "--reviewer", "ada"]
    )
    assert code == 0, err
    assert store.item(q.id, flipped.pos).labels["ada"]["value"] == "b"
    code, _, err = run_assay(["review", "label", q.id, "1", "a", "--reviewer", "ada"])
    assert code != 0 and "not an answer for a pairwise item" in err
