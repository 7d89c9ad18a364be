"""Faithfulness checks of cited answers: claim splitting, structured verdicts from a scripted
judge, citation precision and coverage, aggregation with intervals, re-asking on invalid
replies, and the ``assay docs check-answers`` command."""

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
from assay.models.fake import scripted
from assay.rag.answer import Answer, Source, map_citations
from assay.rag.claims import split_claims, strip_markers
from assay.rag.faithfulness import (
    VERDICTS,
    AnswerCheck,
    ClaimVerdict,
    check_faithfulness,
    summarise,
)
from assay.rag.search import SearchHit

PASSAGES = {
    1: "The corpus has 20,093 headlines from Nikkei Quick News, which were collected from 2013 "
    "to 2016.",
    2: "The model is an encoder-decoder network trained with teacher forcing.",
    3: "Evaluation used BLEU; the proposed model scored 24.1 against 19.0 for the baseline.",
}


def words(text: str) -> set[str]:
    found = re.findall(r"\d+(?:\.\d+)?|[a-z]+", text.lower().replace(",", ""))
    return {w for w in found if len(w) > 3 or w[0].isdigit()}


def rule_judge(prompt: str) -> str:
    """A deterministic judge: supported when the passage holds every content word of the claim,
    contradicted when the claim gives a number the passage does not (but the passage has one),
    otherwise not enough information. Against all sources it names the first that supports."""
    claim = re.search(r"Claim: (.*?)\n\n", prompt, re.S)
    assert claim is not None
    sources = dict(re.findall(r"Source \[(\d+)\]:\n(.*?)(?:\n\n|$)", prompt, re.S))
    best: tuple[str, int | None] = ("not_enough_info", None)
    for n, passage in sources.items():
        cw, pw = words(claim.group(1)), words(passage)
        if cw <= pw:
            best = ("supported", int(n))
            break
        numbers = {w for w in cw if w[0].isdigit()}
        if numbers and not numbers <= pw and any(w[0].isdigit() for w in pw):
            best = ("contradicted", int(n))
    return json.dumps({"verdict": best[0], "source": best[1], "reason": "rule"})


ANSWER = (
    "The corpus has 20,093 headlines [1]. "  # supported by [1]
    "The model scored 31.5 BLEU [3]. "  # contradicted by [3]
    "The model is trained with teacher forcing [1][2]. "  # [2] supports, [1] does not
    "The headlines were collected from 2013 to 2016. "  # no citation, supported by source 1
    "It also uses reinforcement learning [4]."  # cites a source that was not given
)


def test_split_claims_keeps_markers_as_citations() -> None:
    text = (
        "Smith et al. (2019) report 3.5 points, e.g. on BLEU [2, p. 3]; it holds for all sets [2]. "
        "Is that so? Fig. 2 shows the trend. [1] "
        "The documents do not contain enough information to answer this."
    )
    claims = split_claims(text)
    assert [(c.text, c.citations) for c in claims] == [
        ("Smith et al. (2019) report 3.5 points, e.g. on BLEU", [2]),
        ("it holds for all sets.", [2]),
        ("Fig. 2 shows the trend.", [1]),
    ]
    assert strip_markers("A [1, 2] b [x] c [3-4].") == ("A b [x] c.", [1, 2, 3, 4])
    assert split_claims("- one item here [1]\n- another item there [2]")[1].citations == [2]


def test_verdicts_and_per_answer_metrics() -> None:
    judge = scripted([rule_judge])
    report = check_faithfulness({"answer": ANSWER, "sources": PASSAGES}, judge)
    (result,) = report.answers
    got = [(c.claim.citations, c.verdict, c.source, c.judged_against) for c in result.claims]
    assert got == [
        ([1], "supported", 1, "cited"),
        ([3], "contradicted", 3, "cited"),
        ([1, 2], "supported", 2, "cited"),
        ([], "supported", 1, "all"),
        ([4], "not_enough_info", None, "cited"),
    ]
    assert [x.verdict for x in result.claims[2].citations] == ["not_enough_info", "supported"]
    assert result.claims[4].citations[0].exists is False
    m = result.metrics
    assert m["faithfulness"] == pytest.approx(3 / 5)
    assert m["contradiction_rate"] == pytest.approx(1 / 5)
    # citations: [1] yes, [3] no, [1] no, [2] yes, [4] no
    assert m["citation_precision"] == pytest.approx(2 / 5)
    # claims with a supporting citation: 1st and 3rd (the uncited one does not count)
    assert m["citation_coverage"] == pytest.approx(2 / 5)
    assert result.n_failed == 0
    data = json.loads(json.dumps(report.to_dict()))
    assert data["answers"][0]["claims"][1]["verdict"] == "contradicted"
    # five judge calls: four cited pairs with a given source, one claim against all sources
    assert judge.backend.seen and len(judge.backend.seen) == 5  # type: ignore[attr-defined]


def test_aggregation_means_and_pooled_ratios() -> None:
    judge = scripted([rule_judge])
    answers = [
        {"answer": "The corpus has 20,093 headlines [1].", "sources": PASSAGES},
        {"answer": ANSWER, "sources": PASSAGES},
        {
            "answer": "The model scored 31.5 BLEU [3]. The model scored 24.1 BLEU [3].",
            "sources": PASSAGES,
        },
    ]
    report = check_faithfulness(answers, judge)
    per = [a.metrics["faithfulness"] for a in report.answers]
    assert per == pytest.approx([1.0, 3 / 5, 1 / 2])
    s = report.summary
    assert s["faithfulness"].value == pytest.approx((1 + 3 / 5 + 1 / 2) / 3)
    assert s["faithfulness"].n == 3 and s["faithfulness"].method == "t"
    assert s["faithfulness"].ci_low < s["faithfulness"].value < s["faithfulness"].ci_high
    # pooled over claims: (1 + 3 + 1) / (1 + 5 + 2)
    assert s["faithfulness_pooled"].value == pytest.approx(5 / 8)
    assert s["faithfulness_pooled"].method.startswith("bootstrap")
    # an answer with no claims has no value and is left out of the means
    empty = AnswerCheck(report.answers[0].answer, [])
    assert empty.metrics["faithfulness"] is None
    assert summarise([report.answers[0], empty])["faithfulness"].n == 1


def test_invalid_replies_are_reasked_then_failed() -> None:
    ok = json.dumps({"verdict": "supported", "reason": "says so"})
    judge = scripted(["I think it is supported.", ok])
    report = check_faithfulness(
        {"answer": "The corpus has 20,093 headlines [1].", "sources": PASSAGES}, judge
    )
    claim = report.answers[0].claims[0]
    assert claim.verdict == "supported" and report.answers[0].n_failed == 0
    assert "not valid" in judge.backend.seen[-1]  # type: ignore[attr-defined]

    never = scripted(["no idea"])
    report = check_faithfulness(
        {"answer": "The corpus has 20,093 headlines [1].", "sources": PASSAGES},
        never,
        max_attempts=2,
    )
    claim = report.answers[0].claims[0]
    assert claim.verdict is None and claim.error is not None
    assert report.answers[0].n_failed == 1
    assert report.answers[0].metrics["faithfulness"] is None
    with pytest.raises(ValueError):
        ClaimVerdict.model_validate({"verdict": "probably"})


def test_nothing_to_judge_loads_no_model(tmp_path: Path) -> None:
    missing = f"fake:{tmp_path / 'no-such-script.yaml'}"  # loading it would fail
    insufficient = "The documents do not contain enough information to answer this."
    report = check_faithfulness({"answer": insufficient, "sources": PASSAGES}, missing)
    assert report.answers[0].claims == [] and report.summary == {}
    assert report.judge == missing


def test_llm_claim_splitter() -> None:
    split = json.dumps(
        {"claims": [{"text": "The corpus has 20,093 headlines.", "citations": [1, 1]}]}
    )
    judge = scripted([split, rule_judge])
    report = check_faithfulness(
        {"answer": "It has 20,093 of them [1].", "sources": PASSAGES}, judge, splitter="llm"
    )
    (claim,) = report.answers[0].claims
    assert claim.claim.text == "The corpus has 20,093 headlines." and claim.claim.citations == [1]
    assert claim.verdict == "supported" and report.splitter == "llm"


def test_answer_objects_from_ask() -> None:
    hits = [
        SearchHit(i, 1.0, i, PASSAGES[i], 1, "paper.pdf", "/p.pdf", "A paper", i, i, None, 0, 9, i)
        for i in (1, 2)
    ]
    sources = [Source(i, h, h.text) for i, h in enumerate(hits, start=1)]
    text = "The corpus has 20,093 headlines [1]. It is trained with teacher forcing [1]."
    answer = Answer("What corpus?", text, map_citations(text, sources), sources, False)
    report = check_faithfulness(answer, scripted([rule_judge]))
    assert [c.verdict for c in report.answers[0].claims] == ["supported", "not_enough_info"]
    assert report.answers[0].answer.question == "What corpus?"


def test_check_answers_cli(tmp_path: Path) -> None:
    script = tmp_path / "judge.yaml"
    script.write_text(yaml.safe_dump({"replies": ['{"verdict": "supported", "reason": "ok"}']}))
    answers = tmp_path / "answers.jsonl"
    rows = [
        {
            "question": "q1",
            "answer": "The corpus has 20,093 headlines [1].",
            "sources": [{"n": 1, "text": PASSAGES[1]}],
        },
        {
            "question": "q2",
            "answer": "It is trained with teacher forcing [2].",
            "sources": [PASSAGES[1], PASSAGES[2]],
        },
    ]
    # JSONL, and pretty-printed objects one after another (assay ask --json >> file)
    answers.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[1], indent=2) + "\n")
    runner = CliRunner()
    out = runner.invoke(
        cli, ["docs", "check-answers", str(answers), "--judge", f"fake:{script}", "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["n_answers"] == 2 and data["summary"]["faithfulness"]["value"] == 1.0
    out = runner.invoke(cli, ["docs", "check-answers", str(answers), "--judge", f"fake:{script}"])
    assert out.exit_code == 0, out.output
    assert "faithfulness" in out.output and "supported" in out.output
    answers.write_text('{"answer": "x"')
    out = runner.invoke(cli, ["docs", "check-answers", str(answers), "--judge", f"fake:{script}"])
    assert out.exit_code != 0 and "not valid JSON" in str(out.exception)


def test_constrained_verdicts_from_a_real_tiny_model(tiny_model_dir: Path) -> None:
    """The hf backend decodes under the verdict schema: even a random model's replies are
    valid verdicts on the first try (the pipeline works end to end with a local model)."""
    settings = load_settings(overrides={"device": "cpu", "cache": False})
    model = assay.load(f"hf:{tiny_model_dir}", settings=settings)
    report = check_faithfulness({"answer": ANSWER, "sources": PASSAGES}, model, max_attempts=1)
    (result,) = report.answers
    assert result.n_failed == 0 and len(result.claims) == 5
    assert all(c.verdict in VERDICTS for c in result.claims)
    assert all(x.verdict in VERDICTS for c in result.claims for x in c.citations if x.exists)
