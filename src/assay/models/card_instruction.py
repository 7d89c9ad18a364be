"""Instruction-tuned or base: weighing the evidence in a model's names, tags and files."""

from __future__ import annotations

import re

from assay.models.card import InstructionTuned


class Signal:
    """One piece of evidence: +1 instruction-tuned, -1 base; strong ones decide, weak ones inform."""

    def __init__(self, polarity: int, strong: bool, text: str) -> None:
        self.polarity = polarity
        self.strong = strong
        self.text = text


_YES_SUBSTRINGS = ("instruct", "chat")
_YES_WORDS = {"it", "sft", "dpo", "rlhf", "orpo", "kto", "assistant"}
_NO_WORDS = {"base", "pt", "pretrained", "pretrain", "pretraining"}
_YES_TAGS = {"instruct", "instruction-tuned", "chat", "sft", "dpo", "rlhf", "orpo"}
_WEAK_YES_TAGS = {"conversational"}


def name_signals(names: list[tuple[str, str]]) -> list[Signal]:
    out = []
    for where, text in names:
        low = text.lower()
        words = set(re.split(r"[^a-z0-9]+", low))
        yes = next((s for s in _YES_SUBSTRINGS if s in low), None) or next(
            (w for w in sorted(_YES_WORDS) if w in words), None
        )
        no = next((w for w in sorted(_NO_WORDS) if w in words), None)
        if yes:
            out.append(Signal(1, True, f'{where} contains "{yes}"'))
        elif no:
            out.append(Signal(-1, True, f'{where} contains "{no}"'))
    return out


def tag_signals(tags: list[str], where: str) -> list[Signal]:
    out = []
    for tag in tags:
        low = tag.lower()
        if low in _YES_TAGS:
            out.append(Signal(1, True, f'{where} include "{tag}"'))
        elif low in _WEAK_YES_TAGS:
            out.append(
                Signal(
                    1, False, f'{where} include "{tag}" (set for any model with a chat template)'
                )
            )
        elif low in ("base", "pretrained"):
            out.append(Signal(-1, True, f'{where} include "{tag}"'))
    return out


def decide(signals: list[Signal]) -> tuple[InstructionTuned, list[str]]:
    """Strong evidence decides; a chat template alone does not (base models such as Gemma 3 and
    Qwen2.5 ship one too), so it leaves the answer "unknown" but is listed."""
    yes = any(s.strong and s.polarity > 0 for s in signals)
    no = any(s.strong and s.polarity < 0 for s in signals)
    evidence = [s.text for s in sorted(signals, key=lambda s: not s.strong)]
    if yes and not no:
        return "yes", evidence
    if no and not yes:
        return "no", evidence
    if yes and no:
        return "unknown", [*evidence, "the evidence conflicts"]
    if evidence:
        evidence.append("nothing in the names or metadata says instruction-tuned or base")
    return "unknown", evidence
