"""``assay chat``: stored sessions, resume, pins, policies, list/show/export (fake backend)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_util import run_assay as run


def only_id() -> str:
    code, out, _ = run(["chat", "list", "--json"])
    assert code == 0
    [row] = json.loads(out)
    return str(row["id"])


def test_sessions_are_stored_resumed_listed_and_exported(tmp_path: Path) -> None:
    code, out, err = run(
        ["chat", "fake:", "--system", "be brief", "--pin", "Rex is a dog"], "hello\n/tokens\n"
    )
    assert code == 0, err
    assert "Facts to keep in mind:\n- Rex is a dog\nUser: hello" in out
    assert "prompt tokens of" in err
    cid = only_id()
    assert f"conversation {cid} started with fake:" in err

    code, out, err = run(["chat", "--resume", cid[:8], "--max-tokens", "50"], "again\n")
    assert code == 0, err
    assert "resumed (2 turns)" in err
    assert "User: hello\nAssistant: echo:" in out and out.rstrip().endswith(
        "User: again\nAssistant:"
    )
    assert only_id() == cid

    code, out, _ = run(["chat", "list"])
    assert code == 0 and cid in out and "4 turns" in out and "hello" in out
    code, out, _ = run(["chat", "show", cid])
    assert code == 0 and out.startswith(f"# Conversation {cid}") and "- Rex is a dog" in out
    target = tmp_path / "c.json"
    code, _, err = run(["chat", "export", cid, "-o", str(target)])
    assert code == 0, err
    data = json.loads(target.read_text())
    assert [t["role"] for t in data["turns"]] == ["user", "assistant"] * 2
    assert data["sampling"]["max_tokens"] == 50
    code, out, _ = run(["chat", "export", cid, "--format", "md"])
    assert code == 0 and "### User" in out


def test_bad_ids_and_formats_are_one_line_errors(tmp_path: Path) -> None:
    code, _, err = run(["chat", "show", "conv-missing"])
    assert code == 2 and "no conversation 'conv-missing'" in err
    run(["chat", "fake:"], "hi\n")
    code, _, err = run(["chat", "export", only_id(), "-o", str(tmp_path / "c.txt")])
    assert code == 2 and "cannot export" in err and not (tmp_path / "c.txt").exists()


def test_a_message_too_long_for_the_context_is_reported_and_the_session_goes_on(
    tmp_path: Path,
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("replies: ['ok']\ncontext_length: 40\n")
    long = " ".join(["word"] * 60)
    code, out, err = run(["chat", f"fake:{script}", "--max-tokens", "5"], f"{long}\nshort\n")
    assert code == 0, err
    assert "more than the model's context of 40" in err
    assert out.strip() == "ok"
