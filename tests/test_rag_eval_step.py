"""The retrieval step of evaluation tasks: passages rendered into the template, provenance per
sample and per run, the -c/--no-rag/-k overrides, and a paired comparison of the RAG and
no-RAG variants of one task. The answers exist only in a small collection of text notes; the
model is a scripted fake that answers only from what its prompt contains."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from assay.cli.main import cli, main
from assay.config import load_settings
from assay.errors import ConfigError, UserError
from assay.evals.compare import compare_runs
from assay.evals.retrieval_step import with_cli_overrides
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.task import load_task
from assay.models.facade import Model
from assay.models.fake import FakeBackend
from assay.rag import Collection
from assay.workspace import Workspace

VAULTS = {
    "amber": "K7Q2",
    "birch": "M4X9",
    "cobalt": "P1R8",
    "delta": "T6W3",
    "ember": "Z5N0",
    "fjord": "H2J6",
    "garnet": "B9C4",
    "harbor": "L3V7",
    "indigo": "D8F1",
    "juniper": "S0G5",
    "kestrel": "W2Y8",
    "lumen": "E7U3",
}

TASK = """
name: vault-codes
dataset: {{source: {data}}}
input: question
target: answer
template: |
  {{% if context %}}Sources:
  {{{{ context }}}}

  {{% endif %}}Question: {{{{ question }}}}
generation: {{max_tokens: 8}}
scorers:
  - exact_match
  - {{name: "assay.evals.retrieval_step:retrieval_hit", options: {{relevant: doc, match: document}}}}
retrieval: {{collection: notes, k: 2, mode: bm25}}
"""


def read_from_prompt(prompt: str) -> str:
    """A reader that knows nothing: it answers only if the prompt states the vault's code."""
    asked = re.findall(
        r"code of vault (\w+)\?", prompt
    )  # the last one: few-shot examples come first
    if not asked:
        return "unknown"
    found = re.search(rf"vault {asked[-1]} is (\w+)\.", prompt)
    return found.group(1) if found else "unknown"


@pytest.fixture(scope="module")
def notes_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("rag-eval")
    docs = root / "docs"
    docs.mkdir()
    for name, code in VAULTS.items():
        (docs / f"{name}.txt").write_text(
            f"Notes on the {name} site.\n\nThe access code of vault {name} is {code}. "
            f"The {name} vault was inspected twice last spring and found in good order.\n"
        )
    ws = Workspace.init(root)
    report = Collection(ws, "notes").add([docs])
    assert report.count("added") == len(VAULTS)
    rows = [
        {
            "id": name,
            "question": f"What is the access code of vault {name}?",
            "answer": code,
            "doc": f"{name}.txt",
        }
        for name, code in VAULTS.items()
    ]
    (root / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "task.yaml").write_text(TASK.format(data=root / "qa.jsonl"))
    return ws


@pytest.fixture
def ws(notes_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("ASSAY_HOME", str(notes_ws.root))
    return notes_ws


def reader(ws: Workspace) -> Model:
    backend = FakeBackend(replies=[read_from_prompt], name="reader")
    return Model(
        backend, address="fake:reader", settings=load_settings(ws.config_path), workspace=ws
    )


def task_path(ws: Workspace) -> str:
    return str(ws.root.parent / "task.yaml")


def test_rag_and_no_rag_compare_paired(ws: Workspace) -> None:
    task = load_task(task_path(ws))
    quiet = EvalOptions(progress=False, rerun=True)
    with_rag = evaluate(task, reader(ws), quiet, on_status=lambda _: None)
    without = evaluate(with_cli_overrides(task, off=True), reader(ws), quiet, lambda _: None)

    store = RunStore(ws)
    assert with_rag.metrics is not None and without.metrics is not None
    assert with_rag.metrics["metrics"]["exact_match"]["value"] == 1.0
    assert without.metrics["metrics"]["exact_match"]["value"] == 0.0

    # provenance: the config, the collection's identity, and what each sample was shown
    prov = with_rag.provenance["retrieval"]
    assert prov["config"]["collection"] == "notes" and prov["config"]["k"] == 2
    assert prov["collection"]["documents"] == len(VAULTS) and prov["collection"]["chunks"] > 0
    assert without.provenance["retrieval"]["config"]["k"] == 0
    samples = {s["id"]: s for s in store.samples(with_rag.id)}
    amber = samples["amber"]["retrieval"]
    assert len(amber["chunk_ids"]) == 2 and amber["documents"][0] == "amber.txt"
    assert "[1] amber.txt" in samples["amber"]["input"]
    assert all(s["retrieval"] == {"enabled": False} for s in store.samples(without.id))
    assert "Sources:" not in store.samples(without.id)[0]["input"]

    # few-shot examples are shown without passages; the item keeps its own
    shots = evaluate(task.with_overrides(**{"fewshot.k": 1}), reader(ws), quiet, lambda _: None)
    assert shots.metrics is not None
    assert shots.metrics["metrics"]["exact_match"]["value"] == 1.0
    shown = store.samples(shots.id)[0]["input"]
    assert shown.count("Question:") == 2 and shown.count("Sources:") == 1

    rows = compare_runs(store, [without.id, with_rag.id], metrics=["exact_match"])
    assert len(rows) == 1
    assert rows[0].result.difference.value == pytest.approx(1.0)
    assert rows[0].result.p_value < 0.001


def test_retrieval_scorers_read_the_relevance_field(ws: Workspace) -> None:
    task = load_task(task_path(ws)).with_overrides(
        scorers=[
            {"name": "assay.evals.retrieval_step:retrieval_rr", "options": {"relevant": "doc"}}
        ]
    )
    from assay.evals.retrieval_step import HIDDEN_KEY, retrieval_hit, retrieval_rr

    sample = {HIDDEN_KEY: {"chunk_ids": [7, 3, 9]}, "chunk_id": 3, "many": [9, 11]}
    assert retrieval_hit(None, None, sample) == 1.0
    assert retrieval_rr(None, None, sample) == 0.5
    assert retrieval_rr(None, None, sample, relevant="many") == pytest.approx(1 / 3)
    assert retrieval_hit(None, None, {**sample, "chunk_id": 4}) == 0.0
    by_doc = {HIDDEN_KEY: {"documents": ["a.txt", "b.txt"]}, "doc": "b.txt"}
    assert retrieval_rr(None, None, by_doc, relevant="doc", match="document") == 0.5
    with pytest.raises(ConfigError, match="match"):
        retrieval_hit(None, None, by_doc, match="page")
    assert task.scorer_configs()[0].options == {"relevant": "doc"}


def test_cli_rag_switches_and_compare(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    runner = CliRunner()
    path = task_path(ws)
    ids = []
    for flags in (["--no-rag"], ["-c", "notes", "-k", "1", "--mode", "hybrid"]):
        out = runner.invoke(cli, ["eval", path, "-m", "fake:", "--json", "--rerun", *flags])
        assert out.exit_code == 0, out.output
        ids.append(json.loads(out.stdout)[0]["id"])
    run = RunStore(ws).get(ids[1])
    assert run.config["retrieval"] == {
        "collection": "notes",
        "k": 1,
        "mode": "hybrid",
        "query_field": None,
        "into": "context",
        "max_chars": None,
    }
    hit = "assay.evals.retrieval_step:retrieval_hit"
    assert run.metrics is not None and run.metrics["metrics"][hit]["value"] == 1.0
    out = runner.invoke(cli, ["compare", *ids, "--json"])
    assert out.exit_code == 0, out.output
    assert hit in out.output

    # an unknown collection is a one-line error, not a traceback
    with pytest.raises(SystemExit) as exit_:
        main(["eval", path, "-m", "fake:", "--collection", "nope"])
    assert exit_.value.code == 2
    assert "error: no collection named 'nope'" in capsys.readouterr().err


def test_bad_retrieval_configs(ws: Workspace, tmp_path: Path) -> None:
    task = load_task(task_path(ws))
    with pytest.raises(UserError, match="contradict"):
        with_cli_overrides(task, collection="notes", off=True)
    plain = task.model_copy(update={"retrieval": None})
    with pytest.raises(UserError, match="need -c/--collection"):
        with_cli_overrides(plain, k=3)
    assert with_cli_overrides(plain, off=True).retrieval is None
    added = with_cli_overrides(plain, collection="notes")
    assert added.retrieval is not None and added.retrieval.k == 4
    # a template that never reads the passages is refused before any model call
    no_var = added.with_overrides(template="Question: {{ question }}")
    with pytest.raises(ConfigError, match="never uses it"):
        evaluate(no_var, reader(ws), EvalOptions(progress=False))
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(task_path(ws)).read_text().replace("k: 2", "k: 2, top: 3"))
    with pytest.raises(ConfigError, match=r"unknown key 'retrieval\.top'"):
        load_task(str(bad))


def test_ask_check_prints_claim_verdicts(ws: Workspace, tmp_path: Path) -> None:
    answerer = tmp_path / "answer.yaml"
    answerer.write_text(
        yaml.safe_dump(
            {
                "replies": [
                    "The access code of vault amber is K7Q2 [1]. "
                    "The notes cover the amber site [1]."
                ]
            }
        )
    )
    judge = tmp_path / "judge.yaml"
    verdicts = [
        {"reason": "the passage gives the code", "verdict": "supported"},
        {"reason": "the passage does not say what they cover", "verdict": "not_enough_info"},
    ]
    judge.write_text(yaml.safe_dump({"replies": [json.dumps(v) for v in verdicts]}))
    args = ["ask", "What is the access code of vault amber?", "-c", "notes", "-k", "2"]
    args += ["-m", f"fake:{answerer}", "--check", "--judge", f"fake:{judge}"]
    runner = CliRunner()
    out = runner.invoke(cli, [*args, "--no-stream"])
    assert out.exit_code == 0, out.output
    assert "supported        The access code of vault amber is K7Q2." in out.output
    assert "not_enough_info  The notes cover the amber site." in out.output
    assert "faithfulness 0.50" in out.output
    out = runner.invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    check = json.loads(out.stdout)["check"]
    assert [c["verdict"] for c in check["claims"]] == ["supported", "not_enough_info"]
    assert check["metrics"]["citation_precision"] == 0.5
