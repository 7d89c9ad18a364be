"""Chain-of-thought modes: small transformations of a prompt, each paired with its extraction.

``off``
    The prompt is sent unchanged; the answer is read with the task's own strategy.
``step_by_step``
    Appends ``Let's think step by step.`` (zero-shot chain of thought) to the last user turn (or
    to the end of a raw prompt). The answer comes after the reasoning, so the task's strategy
    reads it from the whole reply (``last_number`` and ``choice_letter`` both prefer the end).
``reason_then_answer``
    Asks for the reasoning first and then a final line ``Answer: ...``. The answer is read from
    that line only (:func:`~assay.prompting.extract.answer_line`), then the task's strategy is
    applied to it; a reply without the line is a recorded failure, not a guess from the reasoning.

Use :func:`apply_cot` on the prompt and :func:`cot_extractor` on the reply, with the same mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from assay.errors import ConfigError
from assay.models.types import Message
from assay.prompting.extract import ExtractFn, Extractor, answer_line, then

CotMode = Literal["off", "step_by_step", "reason_then_answer"]
COT_MODES: tuple[str, ...] = get_args(CotMode)

STEP_BY_STEP = "Let's think step by step."
REASON_THEN_ANSWER = (
    "First explain your reasoning step by step. Then give your final answer on a last line of "
    'its own, in the form "Answer: <answer>".'
)


def check_mode(mode: str) -> CotMode:
    """The mode's canonical name; the command line's spelling (``step-by-step``) is accepted."""
    mode = mode.replace("-", "_")
    if mode not in COT_MODES:
        raise ConfigError(
            f"unknown chain-of-thought mode '{mode}'", hint=f"choose from: {', '.join(COT_MODES)}"
        )
    return mode  # type: ignore[return-value]


def instruction(mode: str) -> str:
    """The text a mode adds to the prompt ("" for ``off``)."""
    mode = check_mode(mode)
    return {"off": "", "step_by_step": STEP_BY_STEP, "reason_then_answer": REASON_THEN_ANSWER}[mode]


def apply_cot(prompt: str | Sequence[Message], mode: str) -> str | list[Message]:
    """The prompt with the mode's instruction appended to its last user turn (or to raw text).

    A chat with no user turn gets one holding the instruction. The input is never modified.
    """
    text = instruction(mode)
    if isinstance(prompt, str):
        if not text:
            return prompt
        return f"{prompt.rstrip()}\n\n{text}" if prompt.strip() else text
    chat = list(prompt)
    if not text:
        return chat
    for i in range(len(chat) - 1, -1, -1):
        if chat[i].role == "user":
            chat[i] = Message(role="user", content=f"{chat[i].content.rstrip()}\n\n{text}")
            return chat
    return [*chat, Message(role="user", content=text)]


def cot_extractor(mode: str, base: Extractor | ExtractFn) -> Extractor | ExtractFn:
    """The extraction that pairs with ``mode``: ``base`` itself, or ``Answer:`` line then ``base``."""
    mode = check_mode(mode)
    if mode == "reason_then_answer":
        return then(answer_line, base)
    return base


__all__ = [
    "COT_MODES",
    "REASON_THEN_ANSWER",
    "STEP_BY_STEP",
    "CotMode",
    "apply_cot",
    "check_mode",
    "cot_extractor",
    "instruction",
]
