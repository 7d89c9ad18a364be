"""Input that is not what the command expects ends in one clear line, never a traceback:
bytes that are not UTF-8, missing folders, directories given as files, and --debug placement."""

from __future__ import annotations

import json
from pathlib import Path

from cli_util import one_error, run_assay


def test_stdin_that_is_not_utf8_is_replaced_with_one_warning() -> None:
    code, out, err = run_assay(["generate", "fake:"], stdin=b"caf\xe9 au lait")
    assert code == 0, err
    assert "caf\ufffd au lait" in out
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert lines[0] == (
        "warning: standard input is not valid UTF-8 (byte 0xe9 at byte offset 3); "
        "undecodable bytes were replaced with U+FFFD"
    )


def test_argument_with_undecodable_bytes_is_replaced_with_one_warning() -> None:
    # How Python hands a command-line argument holding byte 0xE9 to the program.
    argument = b"caf\xe9".decode("utf-8", "surrogateescape")
    code, out, err = run_assay(["generate", "fake:", argument])
    assert code == 0, err
    assert "caf\ufffd" in out
    assert err.startswith(
        "warning: the prompt argument is not valid UTF-8 (byte 0xe9 at byte offset 3)"
    )


def test_debug_is_accepted_after_the_subcommand() -> None:
    code, _, err = run_assay(["generate", "fake:", "hi", "--debug"])
    assert code == 0, err


def test_a_folder_given_as_the_task_is_one_line(tmp_path: Path) -> None:
    code, _, err = run_assay(["eval", str(tmp_path), "-m", "fake:"])
    assert code == 2
    assert f"{tmp_path} is a folder; a task is a built-in task name" in one_error(err)


def _finished_run(tmp_path: Path) -> str:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(f'{{"q": "{i} ?", "a": "{i}"}}\n' for i in range(12)))
    task = tmp_path / "t.yaml"
    task.write_text(f"name: t\ndataset: {{source: {data}}}\ninput: q\ntarget: a\n")
    code, out, err = run_assay(["eval", str(task), "-m", "fake:", "--json"])
    assert code == 0, err
    return str(json.loads(out)[0]["id"])


def test_outputs_into_missing_folders_are_created(tmp_path: Path) -> None:
    run = _finished_run(tmp_path)
    out = tmp_path / "new" / "deeper"
    code, _, err = run_assay(["runs", "export", run, "-o", str(out / "s.jsonl")])
    assert code == 0, err
    assert len((out / "s.jsonl").read_text().splitlines()) == 12
    code, _, err = run_assay(["compare", run, run, "-o", str(out / "cmp" / "table.md")])
    assert code == 0, err
    assert (out / "cmp" / "table.md").read_text().startswith("|")


def test_generate_over_an_input_without_rows_leaves_an_empty_output(tmp_path: Path) -> None:
    template = tmp_path / "q.txt"
    template.write_text("Q: {{ question }}\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    output = tmp_path / "out" / "answers.jsonl"
    args = ["--template", str(template), "--input", str(empty), "--output", str(output)]
    code, _, err = run_assay(["generate", "fake:", *args])
    assert code == 0, err
    assert f"wrote 0 rows to {output}; {empty} has no rows" in err
    assert output.read_text() == ""


def _usage_error(err: str) -> str:
    """Click's usage error: its last line, which must carry the reason (no pydantic URL)."""
    assert "Traceback" not in err and "pydantic.dev" not in err, err
    return err.strip().splitlines()[-1]


def test_chunking_options_are_checked_with_their_reason(tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("Cats sleep a lot.\n")
    code, _, err = run_assay(["docs", "add", str(doc), "-c", "c", "--chunk-tokens", "0"])
    assert code == 2
    assert "--chunk-tokens: Input should be greater than or equal to 16 (got 0)" in _usage_error(
        err
    )
    code, _, err = run_assay(
        ["docs", "add", str(doc), "-c", "c", "--chunk-tokens", "50", "--overlap-tokens", "100"]
    )
    assert code == 2
    assert (
        "the overlap (100 tokens) must be smaller than half the chunk size (50 tokens)"
        in _usage_error(err)
    )


def test_search_refuses_k_zero() -> None:
    code, _, err = run_assay(["docs", "search", "cats", "-c", "c", "-k", "0"])
    assert code == 2 and "0 is not in the range x>=1" in _usage_error(err)


def test_a_folder_with_nothing_readable_creates_no_collection(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "gone.pdf").symlink_to(tmp_path / "missing.pdf")
    code, _, err = run_assay(["docs", "add", str(folder), "-c", "papers"])
    assert code == 2
    line = one_error(err)
    assert "nothing to add, so collection 'papers' was not created" in line
    assert "gone.pdf: a link to a missing file" in line
    code, out, _ = run_assay(["docs", "collections", "--json"])
    assert code == 0 and "papers" not in out


def test_a_system_prompt_with_undecodable_bytes_is_one_line() -> None:
    # Text that reaches the model without repair is refused where it is, not in the tokenizer.
    system = b"be br\xefef".decode("utf-8", "surrogateescape")
    code, _, err = run_assay(["generate", "fake:", "hi", "--system", system])
    assert code == 2
    assert "messages[0].content (U+DCEF at character 5): an unpaired surrogate" in one_error(err)
