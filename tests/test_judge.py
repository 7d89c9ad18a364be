"""LLM-as-judge with scripted judges: parsing, re-asks, failures, self-consistency, panels of
judges and their agreement (checked against textbook values), the ``llm_judge`` scorer, and one
end-to-end judgement by the real bundled model (slow)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from assay.errors import ConfigError, UserError
from assay.evals.agreement import (
    agreement,
    code_ratings,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
from assay.evals.judge import (
    Failed,
    Judge,
    JudgeError,
    JudgeScorer,
    Rubric,
    Scale,
    Verdict,
    VerdictParseError,
    judge_many,
    judge_scorer,
    parse_verdict,
    rubric_names,
)
from assay.evals.scorers import get_scorer
from assay.evals.scorers.registry import _REGISTRY
from assay.models.facade import Model
from assay.models.fake import FakeBackend, scripted
from assay.workspace import Workspace


def reply(score: object, reasoning: str = "Compared with the reference.") -> str:
    return json.dumps({"reasoning": reasoning, "score": score})


def item(i: int = 0, **extra: object) -> dict[str, object]:
    return {
        "question": f"What is {i} + {i}?",
        "answer": f"ans{i}",
        "reference": str(2 * i),
        **extra,
    }


def by_answer(name: str, scores: list[object]) -> Callable[[str], str]:
    """A judge that reads the item number from 'ans<i>' in the prompt and gives scores[i].

    Each scripted judge gets its own function name: the fake backend's fingerprint (and so the
    response cache) tells callables apart by name.
    """

    def fn(prompt: str) -> str:
        i = int(re.findall(r"ans(\d+)", prompt)[0])
        return reply(scores[i]) if scores[i] is not None else "I cannot decide."

    fn.__name__ = f"judge_{name}"
    return fn


def n_generate_calls() -> int:
    row = Workspace.find().db.execute("SELECT count(*) FROM calls WHERE op = 'generate'").fetchone()
    return int(row[0])


# ------------------------------------------------------------------------------------------
# Parsing replies


def test_parses_plain_fenced_and_wrapped_json() -> None:
    assert parse_verdict(reply(4)).score == 4
    fenced = (
        'Here is my verdict:\n```json\n{"reasoning": "same as reference", "score": 5}\n```\nDone.'
    )
    parsed = parse_verdict(fenced)
    assert (parsed.score, parsed.reasoning) == (5, "same as reference")
    # Text with braces before the verdict, keys in other case, a score given as a string.
    messy = 'The set {1, 2} is irrelevant. {"note": 1} Final: {"Reasoning": "ok", "SCORE": "3"}'
    assert parse_verdict(messy).score == 3
    assert parse_verdict('{"reasoning": "r", "score": " PASS "}', ["fail", "pass"]).score == "pass"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("The answer looks right, 5/5.", "no JSON object"),
        (reply(7), "it must be an integer from 1 to 5"),
        (reply(4.5), "fractional"),
        (reply(True), "not true/false"),
        ('{"score": 4}', "no 'reasoning'"),
        ('{"reasoning": "r"}', "no 'score'"),
    ],
)
def test_invalid_replies_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(VerdictParseError, match=re.escape(message)):
        parse_verdict(text, (1, 5))


def test_label_scale_rejects_other_words() -> None:
    with pytest.raises(VerdictParseError, match='one of "fail", "pass"'):
        parse_verdict(reply("maybe"), "pass/fail")


@pytest.mark.parametrize(
    ("spec", "points"),
    [
        ((1, 5), [1, 2, 3, 4, 5]),
        ([0, 2], [0, 1, 2]),
        ("1-3", [1, 2, 3]),
        ("pass/fail", ["fail", "pass"]),
        (["Bad", "OK", "Good"], ["bad", "ok", "good"]),
    ],
)
def test_scales(spec: object, points: list[object]) -> None:
    scale = Scale.parse(spec)
    assert scale.points == points
    assert scale.normalise(scale.position(points[0])) == 0.0
    assert scale.normalise(scale.position(points[-1])) == 1.0


@pytest.mark.parametrize("spec", [(5, 1), "great", ["only"], [1, 2, 3], (1, 500), ["a", "A"]])
def test_bad_scales_are_config_errors(spec: object) -> None:
    with pytest.raises(ConfigError):
        Scale.parse(spec)


# ------------------------------------------------------------------------------------------
# Rubrics


@pytest.mark.parametrize("name", ["correctness", "faithfulness", "helpfulness"])
@pytest.mark.parametrize("scale", [(1, 5), (0, 10), "pass/fail", ["wrong", "partial", "right"]])
def test_bundled_rubrics_render_for_every_scale(name: str, scale: object) -> None:
    assert name in rubric_names()
    judge = Judge(scripted(), name, scale, criteria=["Units must be SI."])
    chat = judge.prompt(item(3, context=["Three plus three is six.", "Unrelated."]))
    assert [m.role for m in chat] == ["system", "user"]
    text = chat[1].content
    assert "ans3" in text and "None" not in text and "Units must be SI." in text
    assert judge.scale.output_format() in text
    assert "reasoning" in text.split("{")[-1]  # reasoning asked for before the score
    named = judge.scale.labels or (judge.scale.low, judge.scale.high)
    assert all(str(point) in text for point in named)  # the grades are defined


def test_rubric_requirements_and_custom_files(tmp_path: Path) -> None:
    assert Rubric.load("correctness").requires == {"answer", "reference"}
    assert Rubric.load("faithfulness").requires == {"answer", "context"}
    assert Rubric.load("helpfulness").requires == {"question", "answer"}
    with pytest.raises(UserError, match="item 0 has no reference"):
        Judge(scripted(), "correctness").prompt({"answer": "4"})
    # An empty answer is still graded (a failed extraction is an answer too).
    assert "(empty: no answer was given)" in Judge(scripted()).prompt(item(1, answer=""))[1].content
    # 'input'/'prediction' are accepted for question/answer.
    chat = Judge(scripted(), "helpfulness").prompt({"input": "Why?", "prediction": "Because."})
    assert "Why?" in chat[1].content and "Because." in chat[1].content
    # A file without a requires line needs the fields it mentions; other item keys reach it.
    path = tmp_path / "tone.jinja"
    path.write_text(
        "{# role: user #}\nRate the tone of {{ answer }} for {{ audience }}.\n{{ output_format }}\n"
    )
    rubric = Rubric.load(path)
    assert rubric.requires == {"answer"}
    judge = Judge(scripted(), path, (1, 3))
    assert "for children" in judge.prompt({"answer": "Hi", "audience": "children"})[0].content
    with pytest.raises(ConfigError, match="unknown rubric 'corectness'") as e:
        Rubric.load("corectness")
    assert e.value.hint is not None and "correctness" in e.value.hint


# ------------------------------------------------------------------------------------------
# One judge


def test_a_verdict_is_scored_normalised_and_deterministic() -> None:
    model = scripted([reply(4, "Minor slip.")])
    judge = Judge(model, "correctness", (1, 5))
    assert judge.sampling.temperature == 0.0 and judge.sampling.n == 1
    [verdict] = judge.judge(item(2))
    assert isinstance(verdict, Verdict)
    assert (verdict.score, verdict.value, verdict.reasoning) == (4, 0.75, "Minor slip.")
    assert verdict.attempts == 1 and verdict.agreement is None
    backend = model.backend
    assert isinstance(backend, FakeBackend)
    assert "What is 2 + 2?" in backend.seen[0] and "ans2" in backend.seen[0]
    # Greedy verdicts are cached by the facade: judging again asks the model nothing.
    again = Judge(model, "correctness", (1, 5)).judge(item(2))
    assert again == [verdict] and len(backend.seen) == 1


def test_a_batch_is_one_model_call_per_round() -> None:
    replies = [reply(5), "no idea", reply(1), reply(2)]  # item 1 needs a re-ask
    judge = Judge(scripted(replies))
    before = n_generate_calls()
    verdicts = judge.judge([item(0), item(1), item(2)])
    assert n_generate_calls() - before == 2  # the first round, then one re-ask round
    assert [v.score for v in verdicts] == [5, 2, 1]


def test_invalid_then_valid_on_reask() -> None:
    model = scripted(["The answer is right, I'd say 5.", reply(5)])
    judge = Judge(model)
    [verdict] = judge.judge(item(1))
    assert isinstance(verdict, Verdict) and verdict.score == 5 and verdict.attempts == 2
    assert judge.stats.n_reasked == 1 and judge.stats.n_failed == 0
    backend = model.backend
    assert isinstance(backend, FakeBackend)
    reask = backend.seen[1]
    # The re-ask is the same conversation plus the bad reply and what was wrong with it.
    assert backend.seen[0].rstrip().removesuffix("Assistant:").strip() in reask
    assert "I'd say 5." in reask and "could not be used: the reply has no JSON object" in reask


def test_invalid_twice_is_a_counted_failure_never_a_score() -> None:
    judge = Judge(scripted([reply(9), "still not JSON"]))
    result = judge.run([item(0)])
    [failed] = result.verdicts
    assert isinstance(failed, Failed)
    assert failed.score is None and failed.value is None and failed.attempts == 2
    assert "no JSON object" in failed.error and failed.raw == "still not JSON"
    assert result.stats.n_failed == 1 and result.stats.n_verdicts == 0
    assert judge.stats.n_failed == 1 and judge.stats.failure_rate == 1.0
    assert result.values() == [0.0] and result.values(failed=None) == [None]
    json.dumps(result.to_dict())


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (2, 3)])
def test_reasks_are_bounded_by_max_retries(max_retries: int, attempts: int) -> None:
    model = scripted(["bad"])
    [failed] = Judge(model, max_retries=max_retries).judge(item(0))
    assert isinstance(failed, Failed) and failed.attempts == attempts
    assert isinstance(model.backend, FakeBackend) and len(model.backend.seen) == attempts


def test_too_long_and_cut_off_replies_fail_with_a_reason() -> None:
    tiny = Model(
        FakeBackend(replies=[reply(5)], context_length=40),
        address="fake:",
        settings=scripted().settings,
        workspace=Workspace.find(),
    )
    [failed] = Judge(tiny).judge(item(0))
    assert (
        isinstance(failed, Failed) and "more than the judge model's context of 40" in failed.error
    )
    long_reply = reply(5, "word " * 50)
    [cut] = Judge(scripted([long_reply]), max_tokens=10).judge(item(0))
    assert isinstance(cut, Failed) and "cut off at max_tokens=10" in cut.error


def test_judge_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="temperature 0"):
        Judge(scripted(), samples=3, temperature=0.0)
    with pytest.raises(ConfigError, match="mean of labels"):
        Judge(scripted(), scale="pass/fail", samples=3, aggregate="mean")
    with pytest.raises(ConfigError, match="unknown aggregate"):
        Judge(scripted(), aggregate="mode")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="not a mapping"):
        Judge(scripted()).judge(["just a string"])  # type: ignore[list-item]


# ------------------------------------------------------------------------------------------
# Self-consistency


def test_self_consistency_aggregates_samples_and_reports_self_agreement() -> None:
    # Prompt-major: three samples for item 0, then item 1, then item 2; then the re-ask.
    replies = [reply(4), reply(5), reply(4), reply(2), reply(2), reply(2)]
    replies += [reply(1), "garbled", reply(3), reply(5)]
    judge = Judge(scripted(replies), samples=3, temperature=0.8)
    assert judge.sampling.n == 3 and judge.sampling.temperature == 0.8
    result = judge.run([item(0), item(1), item(2)], n_resamples=200)
    v0, v1, v2 = result.verdicts
    assert isinstance(v0, Verdict) and isinstance(v1, Verdict) and isinstance(v2, Verdict)
    assert (v0.score, v0.sample_scores, v0.agreement) == (4, [4, 5, 4], pytest.approx(2 / 3))
    assert (v1.score, v1.agreement) == (2, 1.0)
    # The garbled sample was re-asked and answered 5: median of 1, 5, 3 is 3.
    assert (v2.score, v2.sample_scores, v2.agreement) == (3, [1, 5, 3], pytest.approx(1 / 3))
    assert v2.value == 0.5 and v2.attempts == 4 and result.stats.n_reasked == 1
    report = result.self_agreement
    assert report is not None and report.raters == ("sample 1", "sample 2", "sample 3")
    table = [[4, 5, 4], [2, 2, 2], [1, 5, 3]]
    assert report.krippendorff_alpha.value == pytest.approx(
        krippendorff_alpha(table, level="ordinal")
    )
    assert report.percent.value == pytest.approx((1 / 3 + 1 + 0) / 3)


def test_majority_and_mean_aggregates() -> None:
    labels = [reply("pass"), reply("fail"), reply("pass")]
    [v] = Judge(scripted(labels), scale="pass/fail", samples=3).judge(item(0))
    assert isinstance(v, Verdict) and (v.score, v.value) == ("pass", 1.0)
    # A tie goes to the lower median of the tied scores.
    [tie] = Judge(scripted([reply(2), reply(5)]), samples=2, aggregate="majority").judge(item(0))
    assert isinstance(tie, Verdict) and tie.score == 2
    [mean] = Judge(scripted([reply(2), reply(5)]), samples=2, aggregate="mean").judge(item(0))
    assert isinstance(mean, Verdict) and mean.score == 3.5 and mean.value == 0.625


def test_some_failed_samples_still_give_a_verdict() -> None:
    [v] = Judge(scripted([reply(4), "x", "y"]), samples=2, max_retries=1).judge(item(0))
    assert isinstance(v, Verdict) and v.score == 4 and v.n_failed_samples == 1


# ------------------------------------------------------------------------------------------
# Several judges


def test_two_judges_agreement_matches_hand_computation() -> None:
    a_scores: list[object] = [5, 4, 3, 2, 1, 5]
    b_scores: list[object] = [5, 4, 2, 2, 1, 4]
    a = Judge(scripted([by_answer("a", a_scores)]), name="a")
    b = Judge(scripted([by_answer("b", b_scores)]), name="b")
    panel = judge_many([a, b], [item(i) for i in range(6)], n_resamples=300)
    assert panel.judges == ("a", "b")
    assert panel.ratings() == [[5, 5], [4, 4], [3, 2], [2, 2], [1, 1], [5, 4]]
    assert [v.score for v in panel.verdicts["b"]] == b_scores
    assert panel.per_item()[2]["a"].score == 3
    report = panel.agreement
    assert report is not None and report.n_items == 6
    assert report.percent.value == pytest.approx(4 / 6)
    # Cohen: p_o = 4/6; margins A (1,1,1,1,2)/6 and B (1,2,0,2,1)/6 over scores 1..5.
    p_o, p_e = 4 / 6, (1 * 1 + 1 * 2 + 1 * 0 + 1 * 2 + 2 * 1) / 36
    assert report.cohen_kappa is not None
    assert report.cohen_kappa.value == pytest.approx((p_o - p_e) / (1 - p_e))  # 17/29
    assert report.pairwise_kappa == {"a | b": pytest.approx(17 / 29)}
    assert report.krippendorff_alpha.value == pytest.approx(
        krippendorff_alpha(list(zip(a_scores, b_scores, strict=True)), level="ordinal")
    )
    for est in (report.percent, report.cohen_kappa, report.krippendorff_alpha):
        assert est.ci_low <= est.value <= est.ci_high and est.method == "bootstrap-bca"
    json.dumps(panel.to_dict())
    assert "Cohen's kappa" in str(report)


def test_three_judges_fleiss_and_missing_verdicts() -> None:
    pf = [
        ["pass", "pass", "fail", "pass", "pass"],
        ["pass", "pass", "fail", "fail", None],  # judge 2 fails on item 4
        ["pass", "fail", "fail", "fail", "pass"],
    ]
    judges = [
        Judge(scripted([by_answer(f"pf{j}", scores)]), scale="pass/fail", max_retries=0)
        for j, scores in enumerate(pf)
    ]
    panel = judge_many(judges, [item(i) for i in range(5)], n_resamples=300)
    assert panel.judges == ("fake:/correctness", "fake:/correctness#2", "fake:/correctness#3")
    assert panel.results["fake:/correctness#2"].stats.n_failed == 1
    report = panel.agreement
    assert report is not None and report.cohen_kappa is None and len(report.pairwise_kappa) == 3
    # Fleiss on the 4 items all three judged: P_i = 1, 1/3, 1, 1/3; p_pass = 6/12.
    p_bar, p_e = (1 + 1 / 3 + 1 + 1 / 3) / 4, 0.5**2 + 0.5**2
    assert report.fleiss_kappa.value == pytest.approx((p_bar - p_e) / (1 - p_e))  # 1/3
    assert report.fleiss_kappa.n == 4
    # Alpha and percent agreement also use item 4, rated by two judges (who agree).
    assert report.krippendorff_alpha.n == 5
    assert report.percent.value == pytest.approx((1 + 1 / 3 + 1 + 1 / 3 + 1) / 5)


def test_judges_on_different_scales_are_refused() -> None:
    with pytest.raises(ConfigError, match="different scales"):
        judge_many([Judge(scripted()), Judge(scripted(), scale="pass/fail")], [item(0)])


# ------------------------------------------------------------------------------------------
# Agreement statistics against textbook values

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example with missing
# data: 4 observers, 12 units.
KRIPPENDORFF_2011 = list(
    zip(
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
        strict=True,
    )
)


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_alpha_canonical_example(level: str, expected: float) -> None:
    value = krippendorff_alpha(KRIPPENDORFF_2011, level=level)  # type: ignore[arg-type]
    assert value == pytest.approx(expected, abs=5e-4)


def test_krippendorff_alpha_wikipedia_example() -> None:
    # Wikipedia's computational example: 3 coders, 15 units, many missing; nominal 0.691.
    coders = [
        [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
        [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
        [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
    ]
    units = list(zip(*coders, strict=True))
    assert krippendorff_alpha(units) == pytest.approx(0.691358, abs=1e-6)
    assert krippendorff_alpha(units, level="interval") == pytest.approx(0.810845, abs=1e-6)


def test_fleiss_kappa_textbook_example() -> None:
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories; kappa 0.210.
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    ratings = [[c for c, n in enumerate(row, 1) for _ in range(n)] for row in counts]
    assert fleiss_kappa(ratings) == pytest.approx(0.20993, abs=1e-5)


def test_cohen_kappa_textbook_example() -> None:
    # 50 proposals read by A and B: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no; kappa 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert percent_agreement(list(zip(a, b, strict=True))) == pytest.approx(0.7)


def test_weighted_cohen_kappa_by_hand() -> None:
    a = [1, 1, 2, 2, 3, 3, 3, 1]
    b = [1, 2, 2, 3, 3, 3, 1, 1]
    n, cats = len(a), [1, 2, 3]
    observed = {
        (i, j): sum(1 for x, y in zip(a, b, strict=True) if (x, y) == (i, j)) / n
        for i in cats
        for j in cats
    }
    pa = {i: a.count(i) / n for i in cats}
    pb = {j: b.count(j) / n for j in cats}
    for weights, w in [
        ("linear", lambda i, j: abs(i - j)),
        ("quadratic", lambda i, j: (i - j) ** 2),
    ]:
        num = sum(w(i, j) * observed[i, j] for i in cats for j in cats)
        den = sum(w(i, j) * pa[i] * pb[j] for i in cats for j in cats)
        assert cohen_kappa(a, b, weights=weights) == pytest.approx(1 - num / den)  # type: ignore[arg-type]
    # Unweighted kappa is the weighted one with 0/1 weights.
    po = sum(observed[i, i] for i in cats)
    pe = sum(pa[i] * pb[i] for i in cats)
    assert cohen_kappa(a, b) == pytest.approx((po - pe) / (1 - pe))


def test_agreement_edge_cases() -> None:
    # No variation at all: every statistic is undefined, reported as NaN, not as 1 or 0.
    same = agreement([[3, 3], [3, 3], [3, 3]], n_resamples=100)
    assert math.isnan(same.krippendorff_alpha.value) and math.isnan(same.cohen_kappa.value)  # type: ignore[union-attr]
    assert same.percent.value == 1.0
    # Perfect agreement with variation is 1 everywhere.
    perfect = agreement([[1, 1], [2, 2], [3, 3], [1, 1]], n_resamples=100, weights="quadratic")
    assert perfect.krippendorff_alpha.value == pytest.approx(1.0)
    assert perfect.cohen_kappa is not None and perfect.cohen_kappa.value == pytest.approx(1.0)
    # The same seed gives the same interval.
    again = agreement(KRIPPENDORFF_2011, n_resamples=200, level="interval")
    assert again == agreement(KRIPPENDORFF_2011, n_resamples=200, level="interval")
    with pytest.raises(UserError, match="need `categories` in order"):
        krippendorff_alpha([["good", "bad"], ["bad", "bad"]], level="ordinal")
    assert krippendorff_alpha(
        [["good", "bad"], ["bad", "bad"], ["good", "good"]],
        level="ordinal",
        categories=["bad", "good"],
    ) == pytest.approx(krippendorff_alpha([[1, 0], [0, 0], [1, 1]], level="nominal"))
    with pytest.raises(UserError, match="not one of the categories"):
        code_ratings([[1, 7]], categories=[1, 2])


# ------------------------------------------------------------------------------------------
# The llm_judge scorer


def judge_script(tmp_path: Path, replies: list[str]) -> str:
    path = tmp_path / "judge.yaml"
    path.write_text(yaml.safe_dump({"replies": replies}))
    return f"fake:{path}"


def test_llm_judge_scorer_through_the_registry(tmp_path: Path) -> None:
    address = judge_script(tmp_path, [reply(5), reply(3), "no verdict", "still none"])
    scorer = get_scorer("llm_judge", model=address, rubric="correctness", scale=[1, 5])
    assert isinstance(scorer, JudgeScorer) and scorer.judge is not None
    assert scorer.spec()["options"]["rubric"] == "correctness"
    assert scorer.spec()["options"]["rubric_sha256"] == Rubric.load("correctness").sha256
    assert scorer("4", "4", {"question": "2+2?"}) == 1.0
    # Batched: one call for both items; the failed verdict scores 0 and is counted.
    assert scorer.score_many(["6", "7"], ["6", "8"], [{"question": "a"}, {"question": "b"}]) == [
        0.5,
        0.0,
    ]
    assert scorer.judge.stats.n_items == 3 and scorer.judge.stats.n_failed == 1
    assert scorer.aggregate(["4"], ["4"], [{}], scores=[1.0]) == 1.0


def test_llm_judge_scorer_options(tmp_path: Path) -> None:
    address = judge_script(tmp_path, ["nothing useful"])
    strict = get_scorer("llm_judge", model=address, on_failure="error", max_retries=0)
    with pytest.raises(JudgeError, match="no valid verdict"):
        strict("4", "4", {"question": "2+2?"})
    with pytest.raises(ConfigError, match="no option 'judge_model'"):
        get_scorer("llm_judge", judge_model="default")
    with pytest.raises(ConfigError, match="unknown rubric"):
        get_scorer("llm_judge", rubric="nonsense")
    ctx = get_scorer(
        "llm_judge", model=address, rubric="faithfulness", context_field="passages", max_retries=0
    )
    assert isinstance(ctx, JudgeScorer) and ctx.judge is not None
    ctx("Paris.", None, {"question": "Capital?", "passages": ["Paris is the capital."]})
    backend = ctx.judge.model.backend
    assert isinstance(backend, FakeBackend) and "Paris is the capital." in backend.seen[-1]


def test_registry_factory_has_the_options_of_judge_scorer() -> None:
    import inspect

    registered = inspect.signature(_REGISTRY["llm_judge"].factory).parameters
    assert list(registered) == list(inspect.signature(judge_scorer).parameters)


def test_llm_judge_in_a_task_run(tmp_path: Path) -> None:
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.task import TaskConfig

    data = tmp_path / "qa.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i)})
            + "\n"
            for i in range(4)
        )
    )

    # Answers are right for q0 and q1, wrong for q2 and q3; the judge says so, in order.
    judge_model = judge_script(tmp_path, [reply(5), reply(5), reply(1), reply(1)])
    task = TaskConfig.model_validate(
        {
            "name": "judged-sums",
            "dataset": {"source": str(data), "id_field": "id"},
            "template": "{{ question }}",
            "target": "answer",
            "scorers": [{"name": "llm_judge", "options": {"model": judge_model}}],
        }
    )
    answers = scripted([lambda p: "2" if "1 + 1" in p else "0"])
    run = evaluate(task, answers, EvalOptions(progress=False))
    assert run.metrics is not None
    assert run.metrics["metrics"]["llm_judge"]["value"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------
# The real bundled model


@pytest.mark.slow
def test_real_default_model_gives_a_verdict_or_a_recorded_failure(real_home: Path) -> None:
    """SmolLM2-135M is far too small to be a good judge: only the path end to end is checked."""
    import assay
    from assay.config import Settings

    model = assay.load("default", workspace=Workspace(real_home), settings=Settings())
    judge = Judge(model, "correctness", "pass/fail", max_tokens=64, max_retries=0)
    result = judge.run([{"question": "What is 2 + 2?", "answer": "4", "reference": "4"}])
    [outcome] = result.verdicts
    assert isinstance(outcome, Verdict | Failed)
    if isinstance(outcome, Verdict):
        assert outcome.score in ("pass", "fail") and 0.0 <= outcome.value <= 1.0
    else:
        assert outcome.error and result.stats.n_failed == 1
    assert result.stats.n_generations == 1
