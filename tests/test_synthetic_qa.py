"""Synthetic question-answer generation from a collection: seeded chunk order, structured
replies, exact and near-duplicate removal, provenance of every question, resuming, recall of
the collection measured on the result, and the ``assay docs synth`` / ``recall`` commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import assay
from assay.cli.main import cli
from assay.config import load_settings
from assay.errors import UserError
from assay.evals.datasets import load_rows
from assay.models.facade import Model
from assay.models.fake import FakeBackend
from assay.rag import Collection
from assay.rag.synthetic import normalise_question, read_qa, retrieval_recall, synthesize_qa
from assay.workspace import Workspace

VAULTS = {"amber": "K7Q2", "birch": "M4X9", "cobalt": "P1R8", "delta": "T6W3", "ember": "Z5N0"}


def write_question(prompt: str) -> str:
    """A generator that reads its passage: copies of a fact give the same question, the
    "-alt" document a paraphrase of it, and the noise document no usable reply."""
    doc = re.search(r'passage from "([^"]+)"', prompt)
    fact = re.search(r"vault (\w+) is (\w+)\.", prompt)
    if doc is None:
        return "Sorry, I cannot find a question here."
    if doc.group(1) == "generic.txt":
        return json.dumps({"question": "What is this passage about?", "answer": "Lanterns."})
    if fact is None:
        return "Sorry, I cannot find a question here."
    name, code = fact.groups()
    if doc.group(1).endswith("-alt.txt"):
        return json.dumps({"question": f"What's the access code for vault {name}?", "answer": code})
    return json.dumps({"question": f"What is the access code of vault {name}?", "answer": code})


@pytest.fixture(scope="module")
def vault_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("synth")
    docs = root / "docs"
    docs.mkdir()
    filler = "It was inspected twice last spring and found in good order by the site staff."
    for name, code in VAULTS.items():
        (docs / f"{name}.txt").write_text(f"The access code of vault {name} is {code}. {filler}\n")
    amber = f"The access code of vault amber is {VAULTS['amber']}. {filler}\n"
    (docs / "amber-copy.txt").write_text("Copied notes. " + amber)
    (docs / "amber-alt.txt").write_text("Alternative notes. " + amber)
    (docs / "noise.txt").write_text(f"Nothing about codes is written here at all. {filler}\n")
    (docs / "generic.txt").write_text(
        f"The lanterns of the old quarter are lit at dusk. {filler}\n"
    )
    ws = Workspace.init(root)
    assert Collection(ws, "vaults").add([docs]).count("added") == 9
    return ws


@pytest.fixture
def ws(vault_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("ASSAY_HOME", str(vault_ws.root))
    return vault_ws


def generator(ws: Workspace) -> Model:
    backend = FakeBackend(replies=[write_question], name="gen")
    return Model(backend, address="fake:gen", settings=load_settings(ws.config_path), workspace=ws)


def test_dedupe_provenance_and_resume(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "qa.jsonl"
    first = synthesize_qa("vaults", generator(ws), 3, out=out, min_tokens=5, seed=7)
    assert first.written == 3 and first.total == 3 and not first.exhausted
    rest = synthesize_qa("vaults", generator(ws), 20, out=out, min_tokens=5, seed=7)
    assert rest.resumed >= 3 and rest.exhausted
    rows = read_qa(out)
    # five vaults: one question each; the two other amber documents are (near-)duplicates
    assert rest.total == len(rows) == 5
    assert sorted(r["answer"] for r in rows) == sorted(VAULTS.values())
    assert first.duplicates + first.near_duplicates + rest.duplicates + rest.near_duplicates == 2
    assert first.invalid + rest.invalid == 1 and first.generic + rest.generic == 1
    assert len({normalise_question(r["question"]) for r in rows}) == 5
    col = Collection(ws, "vaults")
    for r in rows:
        chunk = next(c for c in col.chunks(r["document_id"]) if c["id"] == r["chunk_id"])
        assert r["answer"] in chunk["text"] and r["id"] == f"c{r['chunk_id']}"
        assert r["collection"] == "vaults" and r["generator"] == "fake:gen" and r["seed"] == 7
    rejected = [
        json.loads(line)
        for line in (tmp_path / "qa.jsonl.rejected").read_text().split("\n")
        if line
    ]
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons.count("invalid") == 1 and reasons.count("generic") == 1
    # a third run has nothing left to do, and the order depends only on the seed
    again = synthesize_qa("vaults", generator(ws), 20, out=out, min_tokens=5, seed=7)
    assert again.written == 0 and again.resumed == 9
    with pytest.raises(UserError, match="another seed"):
        synthesize_qa("vaults", generator(ws), 20, out=out, min_tokens=5, seed=8)

    # the file is an evaluation dataset and a set of relevance judgements
    data = load_rows(str(out))
    assert sorted(data.ids) == sorted(r["id"] for r in rows)
    scores = retrieval_recall(col, out, modes=("bm25",), ks=(1, 5))
    assert scores["bm25"]["recall@5"] == 1.0 and scores["bm25"]["n"] == 5.0
    by_doc = retrieval_recall(col, rows, modes=("bm25",), ks=(1, 5), level="document")
    assert by_doc["bm25"]["recall@5"] == 1.0


def test_a_weak_generator_stops_at_max_chunks_and_resumes(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "qa.jsonl"
    vague = json.dumps({"question": "What is the answer to this question?", "answer": "Yes."})
    weak = Model(
        FakeBackend(replies=[vague], name="weak"),
        address="fake:weak",
        settings=load_settings(ws.config_path),
        workspace=ws,
    )
    first = synthesize_qa("vaults", weak, 2, out=out, min_tokens=5, max_chunks=3)
    assert first.tried == 3 and first.gave_up and not first.exhausted
    assert first.total == 0 and first.generic == 3
    assert out.read_text() == ""  # the file the summary names exists, with no row yet
    second = synthesize_qa("vaults", weak, 2, out=out, min_tokens=5)  # default: 5 x n = 10
    assert second.resumed == 3 and second.tried == 6 and second.exhausted and not second.gave_up
    with pytest.raises(UserError, match="max_chunks"):
        synthesize_qa("vaults", weak, 2, out=out, min_tokens=5, max_chunks=0)


def test_cut_off_line_is_repaired(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "qa.jsonl"
    synthesize_qa("vaults", generator(ws), 2, out=out, min_tokens=5, near_duplicate=None)
    whole = out.read_text()
    out.write_text(whole + '{"id": "c99", "question": "What is')
    report = synthesize_qa("vaults", generator(ws), 2, out=out, min_tokens=5, near_duplicate=None)
    assert report.written == 0 and any("cut-off" in n for n in report.notes)
    assert out.read_text() == whole


def test_synth_and_recall_cli(ws: Workspace, tmp_path: Path) -> None:
    script = tmp_path / "gen.yaml"
    fixed = {"question": "What is the access code of vault birch?", "answer": "M4X9"}
    script.write_text(yaml.safe_dump({"replies": [json.dumps(fixed)]}))
    out = tmp_path / "qa.jsonl"
    runner = CliRunner()
    args = ["docs", "synth", "-c", "vaults", "-m", f"fake:{script}", "-n", "4", "-o", str(out)]
    result = runner.invoke(cli, [*args, "--min-tokens", "5", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # one fixed reply: the first chunk keeps it, every later one is an exact duplicate
    assert summary["written"] == 1 and summary["duplicates"] == 8 and summary["exhausted"]
    result = runner.invoke(cli, ["docs", "recall", str(out), "-c", "vaults", "--mode", "bm25"])
    assert result.exit_code == 0, result.output
    assert "recall@1" in result.output and "bm25" in result.output
    result = runner.invoke(cli, ["docs", "synth", "-c", "nope", "-m", "fake:", "-o", str(out)])
    assert result.exit_code != 0


def test_constrained_rows_from_a_real_tiny_model(
    ws: Workspace, tmp_path: Path, tiny_model_dir: Path
) -> None:
    settings = load_settings(overrides={"device": "cpu", "cache": False})
    model = assay.load(f"hf:{tiny_model_dir}", settings=settings, workspace=ws)
    out = tmp_path / "qa.jsonl"
    report = synthesize_qa("vaults", model, 2, out=out, min_tokens=5, max_attempts=1)
    # decoding under the schema: every reply is a valid pair (a random model may repeat itself)
    assert report.invalid == 0 and report.total >= 1
    assert all(8 <= len(r["question"]) <= 200 and r["chunk_id"] for r in read_qa(out))


def test_questions_about_the_passage_or_copied_from_the_example_are_generic() -> None:
    from assay.rag.synthetic import EXAMPLE_QUESTION, is_generic

    assert is_generic("What is this passage about?")
    assert is_generic(EXAMPLE_QUESTION.upper())  # the prompt's worked example, copied
    assert not is_generic("What F1 score did the tagger reach on the test set?")
