"""Checks as workspace records: `assay check all`, the report's Responsible use section with
"not checked" for every check not run, refusals, and the reference-recall task."""

from __future__ import annotations

import json
import re
from pathlib import Path

from assay.checks.record import KINDS, CheckStore
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunRow, RunStore
from assay.evals.task import TaskConfig, load_task
from assay.models.fake import scripted
from assay.reports.checks import responsible_use_section
from assay.reports.html import render_report
from assay.workspace import Workspace
from cli_util import run_assay

REAL = "1. Vaswani, A., Shazeer, N. (2017). Attention is all you need. NeurIPS."
FAKE = "2. Doe, J. (2021). Neural methods for predicting the weather on Mars. Nature."
BIB = "@inproceedings{v, title={Attention Is All You Need}, author={Vaswani, Ashish}, year=2017}\n"
LONG = "the committee reviewed every proposal twice before it agreed on the final budget for item"


def reply(prompt: str) -> str:
    n = int(re.search(r"item (\d+)", prompt).group(1))  # type: ignore[union-attr]
    return REAL + ("\n" + FAKE if n % 2 else "")


def references_run(tmp_path: Path) -> RunRow:
    # item 0's topic is long enough to share a 13-gram with a training file; the rest are short
    rows = [
        {"id": f"q{i}", "topic": f"{LONG} {i}" if i == 0 else f"topic of item {i}", "target": "x"}
        for i in range(6)
    ]
    data = tmp_path / "topics.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = TaskConfig.model_validate(
        {
            "name": "refs",
            "kind": "generate",
            "dataset": {"source": str(data)},
            "template": "References on: {{ topic }}",
            "target": "target",
            "scorers": ["exact_match"],
        }
    )
    return evaluate(task, scripted([reply]), EvalOptions(progress=False))


def test_a_report_says_not_checked_for_every_check_not_run(tmp_path: Path) -> None:
    run = references_run(tmp_path)
    page = render_report(run, RunStore(Workspace.find()).samples(run.id), with_figures=False)
    section = page.split('<section id="responsible-use">')[1].split("</section>")[0]
    assert section.count("not checked</span>") == len(KINDS)
    for kind in KINDS.values():
        assert kind.title in section
    assert 'badge ok"' not in section and 'badge flagged"' not in section
    assert "Nothing is known about this, good or bad" in section


def test_check_all_records_what_applies_and_says_what_was_not_checked(tmp_path: Path) -> None:
    run = references_run(tmp_path)
    bib = tmp_path / "refs.bib"
    bib.write_text(BIB)
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"text": f"Earlier notes: {LONG} 0 and more."}) + "\n")
    code, out, err = run_assay(["check", "all", run.id, "--bib", str(bib)])
    assert code == 0, err
    assert "contamination: not checked: needs the training data" in out
    assert "citations: flagged: 3 of 9 references not found in refs.bib" in out
    assert "stereotype: " in out  # the scripted model scores sentences: it runs
    assert "bbq: " in out and "bbq: not checked" not in out
    assert "counterfactual: not checked: needs a swap list" in out
    assert "membership: not checked: needs texts the model has not seen" in out
    code, out, err = run_assay(["check", "all", run.id, "--against", str(train), "--bib", str(bib)])
    assert code == 0, err
    assert "contamination: flagged: 1/6 items share a 13-gram" in out
    checks = CheckStore(Workspace.find()).for_run(run.id, items=True)
    assert set(checks) == {"contamination", "citations", "stereotype", "bbq"}
    contamination = checks["contamination"]
    assert set(contamination.figures) == {"contaminated_share", "exact_match: clean - all"}
    assert [i["id"] for i in contamination.items if i["contaminated"]] == ["q0"]
    assert checks["stereotype"].figures["pct_stereotype"].n == 54
    assert len(checks["citations"].items) == 9

    code, out, err = run_assay(["report", run.id, "-o", str(tmp_path / "r.html")])
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    section = page.split('<section id="responsible-use">')[1].split("</section>")[0]
    assert '<span class="badge flagged">flagged</span> <b>Fabricated references</b>' in section
    assert "fabricated_rate</b> 0.333 [" in section
    assert section.count("not checked</span>") == len(KINDS) - 4
    assert "Membership signal" in section  # a kind not run is listed, as not checked
    code, out, _ = run_assay(["runs", "list"])
    assert out.count("[check]") == 7  # the first and the second `check all`


def test_unfinished_runs_and_runs_without_text_are_refused(tmp_path: Path) -> None:
    store = RunStore(Workspace.find())
    running = store.create(
        key="k", task="refs", model="fake:", fingerprint="f", config={}, provenance={}, n_total=5
    )
    bib = tmp_path / "refs.bib"
    bib.write_text(BIB)
    for args in (
        ["check", "all", running.id],
        ["check", "citations", running.id, "--bib", str(bib)],
    ):
        code, _, err = run_assay(args)
        assert code == 2 and "is unfinished (running, 0/5 samples)" in err
        assert "Traceback" not in err
    rows = tmp_path / "mc.jsonl"
    rows.write_text(json.dumps({"id": "1", "q": "Sky?", "choices": ["blue", "red"], "a": 0}) + "\n")
    task = TaskConfig.model_validate(
        {
            "name": "mc",
            "kind": "multiple_choice",
            "dataset": {"source": str(rows)},
            "template": "{{ q }}",
            "target": "a",
            "choices": "choices",
        }
    )
    mc = evaluate(task, scripted(), EvalOptions(progress=False))
    code, _, err = run_assay(["check", "citations", mc.id, "--bib", str(bib)])
    assert code == 2 and f"run {mc.id} (mc) has no generated outputs" in err
    assert CheckStore(Workspace.find()).list() == []


def test_section_lists_kinds_registered_later() -> None:
    from assay.checks.record import CheckKind, register_kind

    kind = register_kind(CheckKind("probe-x", "bias", "A probe added later", "assay check probe-x"))
    try:
        assert "A probe added later" in responsible_use_section({})
    finally:
        del KINDS[kind.name]


def test_reference_recall_asks_about_a_collections_papers(tmp_path: Path) -> None:
    from assay.rag.collection import Collection
    from test_rag_store_index import HashingEmbedder

    papers = {
        "simplify.md": (
            "Unsupervised Sentence Simplification Using Deep Semantics",
            "We present a novel approach to sentence simplification which departs from "
            "previous work in two main ways.",
        ),
        "market.md": (
            "Generating Market Comments Referring to External Resources",
            "Comments on a stock market often include the reason or cause of changes in prices.",
        ),
    }
    paths = []
    for name, (title, abstract) in papers.items():
        path = tmp_path / name
        path.write_text(f"# {title}\n\n## Abstract\n\n{abstract} More text follows here.\n")
        paths.append(path)
    ws = Workspace.find()
    Collection(ws, "lab", embedder=HashingEmbedder()).add(paths)

    def answer(prompt: str) -> str:
        if "simplification" in prompt:
            return (
                "1. Narayan, S., & Gardent, C. (2016). Unsupervised sentence simplification "
                "using deep semantics. INLG.\n2. Roe, P. (2020). Simplify everything now. ACL."
            )
        return "I do not know of any papers."

    task = load_task("reference-recall").with_overrides(**{"dataset.options.collection": "lab"})
    run = evaluate(task, scripted([answer]), EvalOptions(progress=False))
    samples = {s["output"][:2]: s for s in RunStore(ws).samples(run.id)}
    hit = samples["1."]
    assert "Topic: We present a novel approach to sentence simplification" in hit["input"]
    assert hit["scores"] == {
        "fabricated_share": 0.5,
        "found_share": 0.5,
        "source_recalled": 1.0,
        "references": 2.0,
    }
    assert samples["I "]["scores"]["references"] == 0.0
    # `check all` finds the collection in the task and checks the references against it
    code, out, err = run_assay(["check", "all", run.id])
    assert code == 0, err
    assert "citations: flagged: 1 of 2 references not found in collection lab" in out


def test_reference_recall_needs_a_collection() -> None:
    code, _, err = run_assay(["eval", "reference-recall", "-m", "fake:"])
    assert code == 2 and "reference-recall needs a document collection" in err


RAG_TASK = """
name: vaults
dataset: {{source: {data}}}
input: question
target: answer
template: |
  Sources:
  {{{{ context }}}}

  Question: {{{{ question }}}}
scorers: [exact_match]
retrieval: {{collection: notes, k: 2, mode: bm25}}
"""


def test_check_all_judges_the_claims_of_a_rag_run(tmp_path: Path) -> None:
    from assay.rag.collection import Collection
    from test_rag_store_index import HashingEmbedder

    docs = []
    for name, code in {"amber": "K7Q2", "birch": "M4X9", "cobalt": "P1R8"}.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(f"Notes on {name}.\n\nThe access code of vault {name} is {code}.\n")
        docs.append(path)
    ws = Workspace.find()
    Collection(ws, "notes", embedder=HashingEmbedder()).add(docs)
    rows = [{"id": n, "question": f"What is the code of vault {n}?", "answer": "x"} for n in "ab"]
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task_file = tmp_path / "task.yaml"
    task_file.write_text(RAG_TASK.format(data=data))
    answers = ["The code is K7Q2 [1]. It was set in 1990 [2].", "The code is M4X9 [1]."]
    run = evaluate(load_task(str(task_file)), scripted(answers), EvalOptions(progress=False))
    supported = '{"reason": "stated", "verdict": "supported", "source": 1}'
    contradicted = '{"reason": "other year", "verdict": "contradicted", "source": 2}'
    judge = tmp_path / "judge.yaml"
    judge.write_text(json.dumps({"replies": [supported, contradicted, supported]}))

    code, out, err = run_assay(["check", "all", run.id, "--judge", f"fake:{judge}"])
    assert code == 0, err
    assert "faithfulness: flagged: 2 of 3 claims in 2 answers supported" in out
    assert "(1 contradicted)" in out
    check = CheckStore(ws).for_run(run.id, items=True)["faithfulness"]
    assert check.figures["faithfulness_pooled"].value == 2 / 3
    assert [a["id"] for a in check.items] == ["a", "b"]
    first = check.items[0]
    assert [c["verdict"] for c in first["claims"]] == ["supported", "contradicted"]
    assert "vault amber is K7Q2" in first["sources"]["1"]  # the passage the sample was shown
