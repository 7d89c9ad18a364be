"""Chain-of-thought modes: prompt transformations and the extraction each pairs with."""

from __future__ import annotations

import pytest

from assay.errors import ConfigError
from assay.models.types import Message
from assay.prompting.cot import (
    REASON_THEN_ANSWER,
    STEP_BY_STEP,
    apply_cot,
    check_mode,
    cot_extractor,
)
from assay.prompting.extract import last_number


def test_off_leaves_the_prompt_alone() -> None:
    chat = [Message(role="user", content="2+2?")]
    assert apply_cot(chat, "off") == chat
    assert apply_cot("2+2?", "off") == "2+2?"


def test_step_by_step_appends_to_the_last_user_turn() -> None:
    chat = [
        Message(role="system", content="Be careful."),
        Message(role="user", content="1+1?"),
        Message(role="assistant", content="2"),
        Message(role="user", content="2+2?"),
    ]
    out = apply_cot(chat, "step_by_step")
    assert isinstance(out, list)
    assert out[:3] == chat[:3]
    assert out[3] == Message(role="user", content=f"2+2?\n\n{STEP_BY_STEP}")
    assert chat[3].content == "2+2?"  # the input is not modified
    assert apply_cot("Q: 2+2?\n", "step_by_step") == f"Q: 2+2?\n\n{STEP_BY_STEP}"


def test_reason_then_answer_asks_for_an_answer_line() -> None:
    out = apply_cot([Message(role="system", content="s")], "reason_then_answer")
    assert out[-1] == Message(role="user", content=REASON_THEN_ANSWER)
    assert "Answer: <answer>" in REASON_THEN_ANSWER


def test_extraction_pairs_with_the_mode() -> None:
    reply = "3 apples plus 4 apples is 7 apples, doubled is 14.\nAnswer: 14\nCheck: 2 * 7"
    assert cot_extractor("off", last_number)(reply).value == "7"
    assert cot_extractor("step_by_step", last_number)(reply).value == "7"
    got = cot_extractor("reason_then_answer", last_number)(reply)
    assert got.value == "14" and got.strategy == "answer_line>last_number"
    missing = cot_extractor("reason_then_answer", last_number)("It is 14.")
    assert not missing.ok and missing.value is None


def test_unknown_mode() -> None:
    with pytest.raises(ConfigError, match="unknown chain-of-thought mode"):
        apply_cot("x", "tree_of_thought")


def test_the_command_line_spelling_is_accepted() -> None:
    assert apply_cot("Q?", "step-by-step") == apply_cot("Q?", "step_by_step")
    assert check_mode("reason-then-answer") == "reason_then_answer"
