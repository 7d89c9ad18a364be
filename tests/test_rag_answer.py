"""Answers with citations: numbered sources, citation mapping to document and page, the citation
contract (an answer with an invalid or unbacked citation is replaced by quotes), extractive
answers, insufficient evidence (relevance floor, support gate, the model's own abstention), the
context budget, re-ranking, and the ``assay ask`` CLI. The models are scripted fakes; the
collection is one real PDF indexed once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assay.errors import ContextLengthError
from assay.models.facade import Model
from assay.models.fake import FakeBackend, scripted
from assay.rag import Collection
from assay.rag.answer import INSUFFICIENT, ask, fit_sources, map_citations, parse_score
from assay.rag.prompt import parse_citations, says_insufficient
from assay.workspace import Workspace

PAPER = "05_inlg_W18-6515.pdf"
QUESTION = "How many headlines of Nikkei Quick News were used as market comments?"
FACT = "20,093"


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Collection:
    ws = Workspace.init(tmp_path_factory.mktemp("answer-ws"))
    col = Collection(ws, "papers")
    report = col.add([shared_data / "pdfs" / PAPER])
    assert report.count("added") == 1, [r.line() for r in report.results]
    return col


def seen(model: Model) -> list[str]:
    assert isinstance(model.backend, FakeBackend)
    return model.backend.seen


def source_numbers(prompt: str) -> dict[int, str]:
    """Source number -> its text, read back from the prompt the model was given."""
    parts = re.split(r"(?m)^\[(\d+)\] ", prompt)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def cite_the_fact(prompt: str) -> str:
    found = [n for n, text in source_numbers(prompt).items() if FACT in text]
    if not found:
        return INSUFFICIENT
    return f"The authors used {FACT} headlines as market comments [{found[0]}]."


def test_citation_maps_to_document_and_page(paper: Collection) -> None:
    model = scripted([cite_the_fact])
    result = ask(QUESTION, collection=paper, model=model, k=5)
    assert not result.insufficient and result.called_model
    assert FACT in result.text
    assert len(result.citations) == 1
    c = result.citations[0]
    assert c.valid and c.document == PAPER and c.page == 3
    assert c.passage is not None and FACT in c.passage
    assert c.chunk_id == result.sources[c.n - 1].hit.chunk_id
    assert result.invalid_citations == []
    # the prompt numbers the sources and labels them with title and page
    prompt = seen(model)[0]
    assert "[1] " in prompt and "p. " in prompt and '{"sentences": []}' in prompt
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    data = result.to_dict()
    assert data["citations"][0]["page"] == 3 and json.dumps(data)


def test_page_in_citation_and_unknown_number_flagged(paper: Collection) -> None:
    sources = ask(QUESTION, collection=paper, model=scripted([cite_the_fact]), k=3).sources
    n = next(s.n for s in sources if FACT in s.text)
    citations = map_citations(
        f"They used {FACT} headlines [{n}, p. 3] and other data [9].", sources
    )
    valid = [c for c in citations if c.valid]
    assert len(valid) == 1 and valid[0].page == 3 and valid[0].stated_page == 3
    bad = next(c for c in citations if not c.valid)
    assert bad.n == 9 and bad.document is None and bad.page is None


def test_answer_citing_a_missing_source_is_not_shown(paper: Collection) -> None:
    def reply(prompt: str) -> str:
        n = next(n for n, text in source_numbers(prompt).items() if FACT in text)
        return f"They used {FACT} headlines [{n}]. They also used other data [9]."

    result = ask(QUESTION, collection=paper, model=scripted([reply]), k=3)
    assert result.mode == "extractive" and not result.insufficient
    assert result.problem == "sentence 2 cites [9], which no source has"
    assert "other data" not in result.text and result.invalid_citations == []
    assert result.text.startswith("\u201c") and all(c.valid for c in result.citations)
    assert result.called_model and result.extra["reply"].endswith("[9].")


def test_json_answer_under_the_contract(paper: Collection) -> None:
    def reply(prompt: str) -> str:
        n = next(n for n, text in source_numbers(prompt).items() if FACT in text)
        text = f"The authors used {FACT} headlines of Nikkei Quick News as market comments"
        return json.dumps({"sentences": [{"text": text, "cites": [n]}]})

    model = scripted([reply])
    result = ask(QUESTION, collection=paper, model=model, k=3)
    assert result.mode == "generated" and result.problem is None
    assert result.text.endswith(f"market comments [{result.citations[0].n}].")
    assert result.citations[0].page == 3 and result.sentences[0].backed
    schema = json.loads(model.backend.requests[0].sampling.json_schema)  # type: ignore[attr-defined]
    cites = schema["properties"]["sentences"]["items"]["properties"]["cites"]
    assert cites["items"]["enum"] == [1, 2, 3] and cites["minItems"] == 1


def test_invented_figure_is_not_shown(paper: Collection) -> None:
    reply = json.dumps({"sentences": [{"text": "They used 31,337 market comments.", "cites": [1]}]})
    result = ask(QUESTION, collection=paper, model=scripted([reply]), k=3)
    assert result.mode == "extractive" and "31,337" not in result.text
    assert result.problem == "sentence 1 is not backed by the passages it cites"
    assert FACT in result.text and result.citations[0].page == 3


def test_empty_json_answer_is_an_abstention(paper: Collection) -> None:
    result = ask(QUESTION, collection=paper, model=scripted(['{"sentences": []}']), k=3)
    assert result.insufficient and result.mode == "abstained" and result.reason == "model said so"
    assert result.text == INSUFFICIENT and result.citations == []


def test_extractive_answer_quotes_the_page(paper: Collection) -> None:
    model = scripted(["must not be used"])
    result = ask(QUESTION, collection=paper, model=model, extractive=True)
    assert result.mode == "extractive" and not result.called_model and seen(model) == []
    assert FACT in result.text and result.citations[0].page == 3
    quoted = result.sentences[0].text.strip("\u201c\u201d")
    assert quoted in " ".join(result.citations[0].passage.split())  # type: ignore[union-attr]


def test_on_topic_question_without_its_answer_abstains(paper: Collection) -> None:
    model = scripted(["must not be used [1]"])
    q = "How many GPUs were used to train the market comment generation model?"
    result = ask(q, collection=paper, model=model)
    assert result.insufficient and result.reason == "the passages do not cover the question"
    assert not result.called_model and seen(model) == []
    assert result.extra["best_relevance"] >= 0.2  # the cosine floor alone would have answered


def test_unrelated_question_does_not_call_the_model(paper: Collection) -> None:
    model = scripted(["this must not be used [1]"])
    result = ask("What is a good recipe for chocolate cake?", collection=paper, model=model)
    assert result.insufficient and result.reason == "no relevant chunk"
    assert result.text == INSUFFICIENT and not result.called_model
    assert seen(model) == [] and result.citations == []


def test_model_saying_the_phrase_is_insufficient(paper: Collection) -> None:
    result = ask(
        "Which stock exchange did the authors' comments describe?",
        collection=paper,
        model=scripted(["the documents don't contain enough information to answer this."]),
    )
    assert result.called_model and result.insufficient and result.reason == "model said so"


def test_small_context_keeps_fewer_sources(paper: Collection) -> None:
    big = ask(QUESTION, collection=paper, model=scripted(["ok [1]"]), k=5, max_tokens=50)
    small_model = scripted(["ok [1]"], context_length=300)
    small = ask(QUESTION, collection=paper, model=small_model, k=5, max_tokens=50)
    assert len(big.sources) == 5 and big.dropped == 0
    assert 1 <= len(small.sources) < 5 and small.dropped == 5 - len(small.sources)
    prompt = seen(small_model)[0]
    assert small_model.count_tokens(prompt) + 50 <= 300
    # a context too small for even the question and the answer is a clear error
    with pytest.raises(ContextLengthError):
        ask(QUESTION, collection=paper, model=scripted(["ok"], context_length=60), max_tokens=50)


def test_fit_sources_truncates_the_last_one(paper: Collection) -> None:
    hits = paper.search(QUESTION, k=3)
    model = scripted(["x"], context_length=260)
    sources, messages, n_tokens = fit_sources(model, QUESTION, hits, max_tokens=40)
    assert sources[-1].text in messages[-1].content
    assert sources and n_tokens + 40 <= 260
    assert len(sources) < 3 or sources[-1].truncated
    assert sources[-1].truncated == sources[-1].text.endswith(" ...")


def test_rerank_and_streaming(paper: Collection) -> None:
    def judge(prompt: str) -> str:
        if "Score (0-10)" in prompt:
            return "Score: 9/10" if FACT in prompt else "2"
        return cite_the_fact(prompt)

    pieces: list[str] = []
    result = ask(
        QUESTION,
        collection=paper,
        model=scripted([judge]),
        k=2,
        rerank_with_model=True,
        on_token=pieces.append,
    )
    assert result.sources[0].rerank_score == 9.0 and FACT in result.sources[0].text
    assert "".join(pieces).strip() == result.text
    assert result.citations[0].n == 1 and result.citations[0].page == 3


def test_parsers() -> None:
    marks = parse_citations("A [1], B [2, p. 3], C [1; 4, pp. 5-6], D [2-3], E [a] [Source 7].")
    assert [(m.n, m.page) for m in marks] == [
        (1, None),
        (2, 3),
        (1, None),
        (4, 5),
        (2, None),
        (3, None),
        (7, None),
    ]
    assert parse_citations("see [citation needed] and [x1]") == []
    assert says_insufficient(INSUFFICIENT.upper())
    assert not says_insufficient("The documents contain enough information [1].")
    assert parse_score(" 7") == 7.0 and parse_score("Score: 8/10") == 8.0
    assert parse_score("relevance 8.5") == 8.5 and parse_score("none") is None
    assert parse_score("42") is None


# -- CLI -----------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from assay.cli.main import main

    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_ask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    note = tmp_path / "owls.md"
    note.write_text("# Owls\n\nBarn owls hunt at night and swallow their prey whole.\n")
    script = tmp_path / "model.yaml"
    script.write_text('replies: ["Owls swallow their prey whole [1]."]\n')
    code, _, _ = run(capsys, "docs", "add", str(note), "-c", "zoo", "--no-progress")
    assert code == 0
    args = ("ask", "What do barn owls do with their prey?", "-c", "zoo", "-m", f"fake:{script}")
    code, out, err = run(capsys, *args, "--show-sources")
    assert code == 0, err
    assert "Owls swallow their prey whole [1]." in out
    assert "[1] owls.md" in out and "Sources:" in out and "hunt at night" in out
    assert "tokens in" in err and "cost $" in err
    code, out, err = run(capsys, *args, "--no-stream")
    assert code == 0 and out.startswith("Owls swallow their prey whole [1].")
    code, out, err = run(
        capsys, "ask", "What do barn owls do with their prey?", "-c", "zoo", "--extractive"
    )
    assert (
        code == 0 and out.startswith("\u201c") and "Barn owls hunt at night" in out and "[1]" in out
    )
    assert "model not called" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text('replies: ["Owls eat 40 mice a night [1]."]\n')
    code, out, err = run(
        capsys, "ask", "What do barn owls do with their prey?", "-c", "zoo", "-m", f"fake:{bad}"
    )
    assert code == 0 and "40 mice" not in out and "Barn owls hunt" in out
    assert "note: the generated answer was not shown (sentence 1 is not backed" in err
    code, out, _ = run(capsys, *args, "--json")
    data = json.loads(out)
    assert data["citations"][0]["document"] == "owls.md" and data["insufficient"] is False
    code, _, err = run(capsys, "ask", "owls?", "-c", "nowhere", "-m", f"fake:{script}")
    assert code == 2 and "error: no collection named 'nowhere'" in err
    assert len(err.strip().splitlines()) <= 2  # error + hint
    run(capsys, "docs", "remove", "owls.md", "-c", "zoo")
    code, _, err = run(capsys, "ask", "owls?", "-c", "zoo", "-m", f"fake:{script}")
    assert code == 2 and "error: collection 'zoo' is empty" in err
