"""Answer extraction: every strategy, and failures that are recorded rather than guessed."""

from __future__ import annotations

import pytest

from assay.errors import ConfigError
from assay.prompting.extract import (
    Extraction,
    answer_line,
    choice_letter,
    first_ok,
    get_extractor,
    json_field,
    last_number,
    normalize_number,
    regex,
    then,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("So she has 18 eggs. #### 18", "18"),
        ("The total is $1,234.", "1234"),
        ("It costs $18.50.", "18.5"),
        ("The temperature fell to -7 degrees.", "-7"),
        ("first 3, then 4, finally 12,000,000", "12000000"),
        ("ratio 0.25", "0.25"),
        ("He ends with 5.0 apples", "5"),
        ("COVID-19 cases", "19"),
        ("pages 3-5", "5"),
        ("\u22124 is negative", "-4"),
    ],
)
def test_last_number(text: str, value: str) -> None:
    got = last_number(text)
    assert got == Extraction(value=value, ok=True, strategy="last_number")


def test_last_number_failure_is_recorded() -> None:
    got = last_number("I do not know.")
    assert not got.ok and got.value is None and got.reason == "no number in the text"


def test_normalize_number_matches_gold_conventions() -> None:
    assert normalize_number("1,000") == normalize_number("1000.00") == "1000"
    assert normalize_number("$-3.") == "-3"
    assert normalize_number("-0") == "0"
    assert normalize_number("abc") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Let me think... The answer is (B).", "B"),
        ("B) Paris", "B"),
        ("Answer: b", "B"),
        ("answer: (c) because it fits", "C"),
        ("The correct answer is D because of gravity.", "D"),
        ("C", "C"),
        ("**A**", "A"),
        ("(A) is wrong, (B) is wrong... the answer is (C)", "C"),
        ("I would pick [E]. Yes, [E].", "E"),
    ],
)
def test_choice_letter(text: str, value: str) -> None:
    assert choice_letter(text).value == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("The answer is a bit unclear to me.", "no choice letter"),
        ("(A) 3 or (B) 4?", "several different letters"),
        ("The answer is (F).", "no choice letter among A, B, C, D"),
        ("", "no choice letter"),
    ],
)
def test_choice_letter_failures(text: str, reason: str) -> None:
    got = choice_letter(text, choices="ABCD")
    assert not got.ok and got.value is None and reason in got.reason


def test_choice_letter_bad_choices() -> None:
    with pytest.raises(ConfigError):
        choice_letter("A", choices=["AB"])


def test_regex_group_and_failures() -> None:
    assert regex("Score: 7/10", r"Score:\s*(\d+)").value == "7"
    assert regex("a1 b2", r"[a-z]\d").value == "a1"  # no group: the whole match
    assert regex("x=1 x=2", r"x=(\d)", select="last").value == "2"
    miss = regex("nothing", r"Score: (\d+)")
    assert not miss.ok and "no match" in miss.reason
    with pytest.raises(ConfigError, match="invalid regular expression"):
        regex("x", "(unclosed")


def test_json_field() -> None:
    text = 'Here you go:\n```json\n{"answer": {"value": 42, "units": ["kg"]}, "ok": true}\n```'
    assert json_field(text, "answer.value").value == "42"
    assert json_field(text, "answer.units.0").value == "kg"
    assert json_field(text, "ok").value == "true"
    assert json_field('{"a": "B"} {"a": "C"}', "a").value == "B"  # the first object
    assert json_field('noise {not json} then {"answer": "x"}', "answer").value == "x"
    missing = json_field(text, "answer.weight")
    assert not missing.ok and "no field 'answer.weight'" in missing.reason
    assert "no JSON object" in json_field("plain text", "a").reason
    assert "null" in json_field('{"a": null}', "a").reason


def test_answer_line() -> None:
    text = "Step 1: 3 + 4 = 7.\nStep 2: double it.\n**Answer:** 14.\n"
    assert answer_line(text).value == "14"
    assert answer_line("answer: first\nFinal answer: Paris").value == "Paris"
    assert "no line starting" in answer_line("It is 14.").reason
    assert "empty" in answer_line("Answer:   \n").reason


def test_composition_records_strategy_and_reasons() -> None:
    both = then(answer_line, last_number)
    got = both("Reasoning with 3 and 5.\nAnswer: $1,000")
    assert got.value == "1000" and got.strategy == "answer_line>last_number"
    failed = both("Reasoning only: 3 and 5.")
    assert not failed.ok and failed.value is None
    inner_failed = both("Answer: none")
    assert not inner_failed.ok and "no number" in inner_failed.reason
    chain = first_ok(answer_line, last_number)
    assert chain("so it is 5").strategy == "last_number"
    assert "answer_line:" in first_ok(answer_line, json_field)("x").reason


def test_get_extractor_records_args_and_checks_them() -> None:
    ex = get_extractor("regex", pattern=r"is (\w+)")
    assert ex("the answer is yes").value == "yes"
    assert ex.spec() == {"strategy": "regex", "pattern": r"is (\w+)"}
    assert get_extractor("choice_letter", choices="AB")("(B)").value == "B"
    with pytest.raises(ConfigError, match="unknown extraction strategy"):
        get_extractor("guess")
    with pytest.raises(ConfigError, match="needs a 'pattern'"):
        get_extractor("regex")
    with pytest.raises(ConfigError, match="bad arguments"):
        get_extractor("last_number", nope=1)
    spec = then(get_extractor("answer_line"), get_extractor("last_number")).spec()
    assert spec["strategy"] == "answer_line>last_number"
