"""``assay generate`` with the fake backend: one call, stdin, JSON, templates, and file runs that
resume after a kill."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cli_util import run_assay as run


def calls(home: Path) -> list[dict[str, Any]]:
    db = home / "assay.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY id")]
    finally:
        conn.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- one call ------------------------------------------------------------------------------------


def test_one_call_streams_and_summarises(assay_home: Path) -> None:
    code, out, err = run(["generate", "fake:", "hello there"])
    assert code == 0, err
    assert out == "echo: User: hello there\nAssistant:\n"
    assert "tokens in" in err and "tokens/s" in err and "cost $" in err
    logged = calls(assay_home)
    assert len(logged) == 1 and logged[0]["op"] == "stream" and logged[0]["model"] == "fake:"


def test_a_streamed_answer_is_cached_like_the_json_one(assay_home: Path) -> None:
    code, first, _ = run(["generate", "fake:", "hello there"])
    assert code == 0
    code, again, err = run(["generate", "fake:", "hello there"])
    assert code == 0 and again == first and "cached" in err
    code, out, _ = run(["generate", "fake:", "hello there", "--json"])
    assert code == 0 and json.loads(out)["generations"][0]["cached"] is True
    assert [c["cached"] for c in calls(assay_home)] == [0, 1, 1]


def test_prompt_from_stdin_with_system(assay_home: Path) -> None:
    code, out, _ = run(["generate", "fake:", "--system", "Be brief."], stdin="from a pipe\n")
    assert code == 0
    assert out.startswith("echo: System: Be brief.\nUser: from a pipe\nAssistant:")


def test_raw_sends_text_as_is_and_stop(assay_home: Path) -> None:
    code, out, _ = run(["generate", "fake:", "2 + 2 =", "--raw"])
    assert code == 0 and out == "echo: 2 + 2 =\n"
    code, out, _ = run(["generate", "fake:", "a b\nc", "--raw", "--stop", r"\n"])
    assert code == 0 and out == "echo: a b\n"


def test_json_output(assay_home: Path) -> None:
    code, out, _ = run(["generate", "fake:", "hi", "--json", "--system", "sys", "--seed", "3"])
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "fake:" and data["fingerprint"].startswith("fake:")
    assert data["prompt"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
    ]
    assert data["text"] == "echo: System: sys\nUser: hi\nAssistant:"
    assert data["prompt_tokens"] == 5 and data["completion_tokens"] == 6
    assert data["sampling"]["seed"] == 3
    assert {"latency_s", "cost", "generations"} <= set(data)
    assert calls(assay_home)[-1]["op"] == "generate"


def test_n_samples(assay_home: Path) -> None:
    code, out, _ = run(["generate", "fake:", "hi", "-n", "3", "-t", "0.7", "--seed", "1", "--json"])
    assert code == 0
    gens = json.loads(out)["generations"]
    assert [g["sample_index"] for g in gens] == [0, 1, 2]
    code, out, _ = run(["generate", "fake:", "hi", "-n", "2", "-t", "0.7"])
    assert code == 0 and out.count("--- sample") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["generate", "fake:", "hi", "--temperature", "-1"],
            "error: temperature must be between 0 and 5",
        ),
        (["generate", "fake:", "hi", "--top-p", "0"], "error: top_p must be in (0, 1]"),
        (["generate", "no-such-model", "hi"], "error: unknown model 'no-such-model'"),
        (["generate", "nope:x", "hi"], "error: unknown provider 'nope'"),
        (["generate", "fake:"], "error: the prompt is empty"),
    ],
)
def test_user_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(args)
    assert code == 2
    assert err.startswith(message)
    assert "Traceback" not in err and out == ""


def test_context_length_error(tmp_path: Path) -> None:
    script = tmp_path / "short.yaml"
    script.write_text("replies: ['ok']\ncontext_length: 5\n")
    code, _, err = run(["generate", f"fake:{script}", "one two three four five six"])
    assert code == 2 and "more than the model's context of 5" in err


# -- templates -----------------------------------------------------------------------------------


def template(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jinja"
    path.write_text("{# role: system #}\nAnswer briefly.\n{# role: user #}\nQ: {{ question }}\n")
    return path


def test_template_with_vars(tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_text("What is in the file?\n")
    t = template(tmp_path)
    code, out, err = run(
        ["generate", "fake:", "--template", str(t), "--var", f"question=@{q}", "--json"]
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["prompt"][1] == {"role": "user", "content": "Q: What is in the file?"}
    assert len(data["template_sha256"]) == 64 and data["vars"]["question"].startswith("What")
    code, out, _ = run(["generate", "fake:", "--template", str(t), "--var", "question=@@home"])
    assert code == 0 and "Q: @home" in out


def test_template_missing_variable_names_file_and_line(tmp_path: Path) -> None:
    t = template(tmp_path)
    code, _, err = run(["generate", "fake:", "--template", str(t), "--var", "other=1"])
    assert code == 2
    assert err.startswith(f"error: {t} line 4: undefined variable 'question'")


def test_template_usage_errors(tmp_path: Path) -> None:
    t = template(tmp_path)
    code, _, err = run(["generate", "fake:", "a prompt", "--template", str(t)])
    assert code == 2 and "not both" in err
    code, _, err = run(["generate", "fake:", "hi", "--var", "a=b"])
    assert code == 2 and "needs --template" in err
    code, _, err = run(["generate", "fake:", "--template", str(t), "--var", "novalue"])
    assert code == 2 and "KEY=VALUE" in err


# -- running a template over a file --------------------------------------------------------------


def write_rows(tmp_path: Path, rows: list[str], name: str = "rows.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def file_run(model: str, t: Path, rows: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        [
            "generate",
            model,
            "--template",
            str(t),
            "--input",
            str(rows),
            "--output",
            str(out),
            *extra,
        ]
    )


def good_rows(n: int) -> list[str]:
    return [json.dumps({"id": i, "question": f"question number {i}"}) for i in range(1, n + 1)]


def test_file_run_writes_one_record_per_row_in_batches(tmp_path: Path, assay_home: Path) -> None:
    t = template(tmp_path)
    rows = write_rows(tmp_path, good_rows(5))
    out = tmp_path / "out.jsonl"
    code, stdout, err = file_run("fake:", t, rows, out, "--batch-size", "2")
    assert code == 0, err
    assert stdout == "" and "wrote 5 rows" in err
    records = read_jsonl(out)
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5]
    first = records[0]
    assert first["vars"] == {"id": 1, "question": "question number 1"}
    assert "Q: question number 1" in first["output"]
    assert first["error"] is None and first["model"] == "fake:"
    assert first["template_sha256"] == hashlib.sha256(t.read_bytes()).hexdigest()
    assert first["prompt_tokens"] > 0 and first["completion_tokens"] > 0
    assert {"latency_s", "cost", "fingerprint", "sampling"} <= set(first)
    generate_calls = [c for c in calls(assay_home) if c["op"] == "generate"]
    assert [c["n_requests"] for c in generate_calls] == [2, 2, 1]


def test_resume_after_a_kill_computes_only_missing_rows(tmp_path: Path, assay_home: Path) -> None:
    t = template(tmp_path)
    rows = write_rows(tmp_path, good_rows(6))
    out = tmp_path / "out.jsonl"
    assert file_run("fake:", t, rows, out)[0] == 0
    full = read_jsonl(out)
    # A kill in the middle of writing the third record: two whole lines and half a line.
    lines = out.read_text().splitlines(keepends=True)
    out.write_text(lines[0] + lines[1] + lines[2][: len(lines[2]) // 2])
    before = len(calls(assay_home))

    code, _, err = file_run("fake:", t, rows, out)
    assert code == 0, err
    assert "cut-off last line" in err and "wrote 4 rows" in err and "2 were already there" in err
    new_calls = calls(assay_home)[before:]
    assert sum(c["n_requests"] for c in new_calls if c["op"] == "generate") == 4
    resumed = read_jsonl(out)
    assert [r["row"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    assert [r["output"] for r in resumed] == [r["output"] for r in full]

    # Once complete, a rerun does nothing at all.
    before = len(calls(assay_home))
    code, _, err = file_run("fake:", t, rows, out)
    assert code == 0 and "wrote 0 rows" in err and "6 were already there" in err
    assert calls(assay_home)[before:] == []


def test_resume_refuses_a_different_template_or_changed_input(tmp_path: Path) -> None:
    t = template(tmp_path)
    rows = write_rows(tmp_path, good_rows(2))
    out = tmp_path / "out.jsonl"
    assert file_run("fake:", t, rows, out)[0] == 0
    other = tmp_path / "other.jinja"
    other.write_text("Q: {{ question }}?")
    code, _, err = file_run("fake:", other, rows, out)
    assert code == 2 and "another template" in err
    changed = write_rows(tmp_path, [json.dumps({"question": "changed"}), *good_rows(2)[1:]])
    code, _, err = file_run("fake:", t, changed, out)
    assert code == 2 and "input changed" in err


BAD_ROWS = [
    json.dumps({"question": "fine one"}),
    '{"question": "broken',
    json.dumps({"question": "fine two"}),
    json.dumps({"wrong": "no question here"}),
    "[1, 2]",
]


def test_bad_rows_stop_before_anything_runs(tmp_path: Path, assay_home: Path) -> None:
    t = template(tmp_path)
    rows = write_rows(tmp_path, BAD_ROWS)
    out = tmp_path / "out.jsonl"
    code, _, err = file_run("fake:", t, rows, out)
    assert code == 2
    assert "3 rows of" in err and "nothing was run" in err
    assert "line 2: not valid JSON" in err
    assert "line 4:" in err and "undefined variable 'question'" in err
    assert "line 5: expected a JSON object" in err
    assert "--on-error skip" in err
    assert not out.exists() and calls(assay_home) == []


def test_bad_rows_skipped(tmp_path: Path) -> None:
    t = template(tmp_path)
    rows = write_rows(tmp_path, BAD_ROWS)
    out = tmp_path / "out.jsonl"
    code, _, err = file_run("fake:", t, rows, out, "--on-error", "skip")
    assert code == 0, err
    assert "skipped 3 unusable input rows (lines 2, 4, 5)" in err
    assert [r["row"] for r in read_jsonl(out)] == [1, 3]


def test_row_too_long_for_the_context_gets_its_error(tmp_path: Path) -> None:
    script = tmp_path / "short.yaml"
    script.write_text("replies: ['fine']\ncontext_length: 12\n")
    t = template(tmp_path)
    rows = write_rows(
        tmp_path,
        [
            json.dumps({"question": "short"}),
            json.dumps({"question": " ".join(["word"] * 20)}),
            json.dumps({"question": "also short"}),
        ],
    )
    out = tmp_path / "out.jsonl"
    code, _, err = file_run(f"fake:{script}", t, rows, out)
    assert code == 0, err
    records = read_jsonl(out)
    assert [r["output"] for r in records] == ["fine", None, "fine"]
    assert "more than the model's context of 12" in records[1]["error"]
    assert "1 with an error" in err


def test_csv_input(tmp_path: Path) -> None:
    t = template(tmp_path)
    rows = tmp_path / "rows.csv"
    rows.write_text('question,id\n"two\nlines",1\nplain,2\n')
    out = tmp_path / "out.jsonl"
    code, _, err = file_run("fake:", t, rows, out)
    assert code == 0, err
    records = read_jsonl(out)
    assert [r["row"] for r in records] == [2, 4]
    assert records[0]["vars"] == {"question": "two\nlines", "id": "1"}


def test_file_mode_usage_errors(tmp_path: Path) -> None:
    t = template(tmp_path)
    rows = write_rows(tmp_path, good_rows(1))
    code, _, err = run(["generate", "fake:", "--input", str(rows), "--output", "o.jsonl"])
    assert code == 2 and "needs --template" in err
    code, _, err = run(["generate", "fake:", "--template", str(t), "--input", str(rows)])
    assert code == 2 and "needs --output" in err


def test_help_teaches() -> None:
    code, out, _ = run(["generate", "--help"])
    assert code == 0
    for text in ("Examples:", "--template", "{# role: user #}", "--input", "resume", "--on-error"):
        assert text in out


def test_file_run_with_several_samples_per_row(tmp_path: Path) -> None:
    t = template(tmp_path)
    rows = write_rows(tmp_path, good_rows(3))
    out = tmp_path / "out.jsonl"
    code, _, err = file_run("fake:", t, rows, out, "-n", "2", "-t", "0.5", "--batch-size", "2")
    assert code == 0, err
    records = read_jsonl(out)
    assert [r["row"] for r in records] == [1, 2, 3]
    for i, record in enumerate(records, start=1):
        assert len(record["samples"]) == 2
        assert all(f"question number {i}" in s for s in record["samples"])
        assert record["sampling"]["n"] == 2


def test_rows_reader_edge_cases(tmp_path: Path) -> None:
    from assay.prompting.rows import read_rows

    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"q": "a\u2028b"}\r\n\n{"q": "c"}\n', newline="")
    assert [(r.line, r.values) for r in read_rows(jsonl)] == [
        (1, {"q": "a\u2028b"}),
        (3, {"q": "c"}),
    ]
    csv = tmp_path / "r.csv"
    csv.write_text("q,a\nx,1\ny\nz,3,extra\n")
    got = read_rows(csv)
    assert [r.line for r in got] == [2, 3, 4]
    assert got[1].error == "1 values but the header has 2 columns"
