"""``assay generate`` with few-shot examples, chain of thought and answer extraction (fake
backend), for one prompt and for file runs; token and cost totals from the price table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from assay.models.types import Message
from assay.prompting.extract import parse_extractor
from assay.prompting.fewshot import Example, FewShot
from assay.prompting.shaping import PromptShaping
from cli_util import run_assay as run


def jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def script(path: Path, replies: list[str]) -> str:
    path.write_text(yaml.safe_dump({"replies": replies}))
    return f"fake:{path}"


POOL = [
    {"id": "a", "input": "2+2?", "output": "4"},
    {"id": "b", "input": "3+3?", "output": "6"},
    {"id": "c", "input": "5+5?", "output": "10"},
]


def test_one_prompt_with_examples_cot_and_extraction(tmp_path: Path) -> None:
    pool = jsonl(tmp_path / "pool.jsonl", POOL)
    code, out, err = run(
        ["generate", "fake:", "3+3?", "--examples", str(pool), "--shots", "2", "--cot", "step"]
    )
    assert code == 0, err
    # The item itself (same text as example b) is never one of its examples.
    assert "User: 2+2?\nAssistant: 4\nUser: 5+5?\nAssistant: 10\nUser: 3+3?" in out
    assert "Let's think step by step." in out

    model = script(tmp_path / "s.yaml", ["Two and two.\nAnswer: 4"])
    code, _, err = run(["generate", model, "2+2?", "--cot", "reason-then-answer"])
    assert code == 0 and "answer: 4 (answer_line)" in err
    code, _, err = run(["generate", model, "2+2?", "--extract", "choice:ABCD"])
    assert code == 0 and "answer: none, extraction failed" in err


def test_json_output_records_extractions_and_inline_layout(tmp_path: Path) -> None:
    pool = jsonl(tmp_path / "pool.jsonl", POOL)
    model = script(tmp_path / "s.yaml", ["It is (B)", "no letter here"])
    args = ["generate", model, "Pick", "--json", "-n", "2", "-t", "0.5", "--seed", "1"]
    args += ["--examples", str(pool), "--shots", "1", "--layout", "inline", "--extract", "choice"]
    code, out, err = run(args)
    assert code == 0, err
    data = json.loads(out)
    assert data["prompt"][-1]["content"] == "Question: 2+2?\nAnswer: 4\n\nQuestion: Pick\nAnswer:"
    assert data["prompting"]["fewshot"]["layout"] == "inline"
    assert [e["answer"] for e in data["extractions"]] == ["B", None]
    assert data["extractions"][1]["extraction"]["ok"] is False


def test_file_run_records_shots_and_answers_and_refuses_other_settings(tmp_path: Path) -> None:
    template = tmp_path / "t.jinja"
    template.write_text("Q: {{ question }}")
    pool = jsonl(
        tmp_path / "pool.jsonl",
        [{"id": f"p{i}", "question": f"pool question {i}", "output": str(i)} for i in range(4)],
    )
    rows = jsonl(
        tmp_path / "rows.jsonl",
        [{"id": "p1", "question": "pool question 1"}, {"id": "x", "question": "new question"}],
    )
    model = script(tmp_path / "s.yaml", ["The answer is 12.", "I cannot say."])
    out = tmp_path / "out.jsonl"
    base = ["generate", model, "--template", str(template), "--input", str(rows)]
    base += ["--output", str(out), "--batch-size", "1"]
    shaping = ["--examples", str(pool), "--shots", "2", "--select", "random", "--shots-seed", "3"]
    code, _, err = run([*base, *shaping, "--extract", "last-number"])
    assert code == 0, err
    assert "answers extracted from 1 rows; extraction failed on 1" in err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert "p1" not in records[0]["shots"] and len(records[0]["shots"]) == 2
    assert records[0]["answer"] == "12" and records[0]["extraction"]["ok"] is True
    assert records[1]["answer"] is None and records[1]["extraction"]["ok"] is False
    assert records[0]["prompting"]["fewshot"]["method"] == "random"

    # Resuming with other few-shot settings (or none) is refused.
    code, _, err = run([*base, "--extract", "last-number"])
    assert code == 2 and "other few-shot" in err


def test_usage_errors(tmp_path: Path) -> None:
    code, _, err = run(["generate", "fake:", "hi", "--shots", "2"])
    assert code == 2 and "needs --examples" in err
    code, _, err = run(["generate", "fake:", "hi", "--extract", "vibes"])
    assert code == 2 and "unknown answer extraction 'vibes'" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a", "output": "b"}\n{"input": "c"}\n')
    code, _, err = run(["generate", "fake:", "hi", "--examples", str(bad)])
    assert code == 2 and "line 2: no field 'output'" in err
    code, _, err = run(["generate", "fake:", "hi", "--raw", "--examples", str(bad)])
    assert code == 2
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object"}')
    code, _, err = run(["generate", "fake:", "hi", "--schema", str(schema), "--cot", "step"])
    assert code == 2 and "--schema does not combine with --cot" in err


def test_help_teaches() -> None:
    code, out, _ = run(["generate", "--help"])
    assert code == 0
    for text in ("--examples", "--cot", "reason-then-answer", "--extract", "choice:ABCD"):
        assert text in out


def test_similar_selection_through_the_python_api() -> None:
    def embed(texts: Sequence[str]) -> np.ndarray:
        # 2-D vectors: how many times "dog" and "capital" appear.
        return np.array([[t.count("dog"), t.count("capital")] for t in texts], dtype=float)

    pool = [Example("1", "dog dog", "d"), Example("2", "capital city", "c")]
    shaping = PromptShaping(
        FewShot(pool, k=1, method="similar", embedder=embed),
        cot="reason_then_answer",
        extractor=parse_extractor("last-number"),
    )
    chat = [Message(role="system", content="S"), Message(role="user", content="a capital?")]
    prompt, shown = shaping.apply(chat)
    assert shown == ["2"] and isinstance(prompt, list)
    assert [m.role for m in prompt] == ["system", "user", "assistant", "user"]
    assert shaping.extract("so 3 then 4\nAnswer: 7 apples").value == "7"  # type: ignore[union-attr]
    assert not shaping.extract("so 3 then 4").ok  # type: ignore[union-attr]


# -- tokens and cost --------------------------------------------------------------------------


def test_file_run_totals_use_the_price_table(tmp_path: Path, assay_home: Path) -> None:
    assay_home.mkdir(parents=True, exist_ok=True)
    (assay_home / "config.yaml").write_text(
        "prices:\n  'fake:':\n    prompt: 1000000\n    completion: 2000000\n"
    )
    template = tmp_path / "t.jinja"
    template.write_text("{{ q }}")
    rows = jsonl(tmp_path / "rows.jsonl", [{"q": "one two"}, {"q": "three"}])
    out = tmp_path / "out.jsonl"
    code, _, err = run(
        [
            "generate",
            "fake:",
            "--template",
            str(template),
            "--input",
            str(rows),
            "--output",
            str(out),
        ]
    )
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for r in records:  # $1 per prompt token and $2 per completion token
        assert r["cost"] == pytest.approx(r["prompt_tokens"] + 2 * r["completion_tokens"])
    p = sum(r["prompt_tokens"] for r in records)
    c = sum(r["completion_tokens"] for r in records)
    assert f"{p} tokens in, {c} out" in err
    assert f"cost ${p + 2 * c:.4g}" in err
