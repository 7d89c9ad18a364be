"""A damaged or read-only workspace database: one line naming the file and what to do; commands
that only read still work on a read-only workspace, and generation still answers."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.workspace import Workspace
from cli_util import one_error, run_assay


def _fill(home: Path) -> Path:
    """A workspace with one logged call, its database in one file (no -wal/-shm beside it)."""
    ws = Workspace(home)
    ws.db.execute(
        "INSERT INTO calls(model, fingerprint, op, n_requests) VALUES ('fake:', 'fp', 'stream', 1)"
    )
    ws.close()
    db = ws.db_path
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    return db


def test_not_a_database(assay_home: Path) -> None:
    assay_home.mkdir(parents=True)
    (assay_home / "assay.db").write_bytes(b"this is not sqlite\n" * 10)
    code, _, err = run_assay(["runs", "list"])
    assert code == 2
    line = one_error(err)
    assert str(assay_home / "assay.db") in line and "damaged" in line and "move it aside" in line


def test_truncated_database(assay_home: Path) -> None:
    db = _fill(assay_home)
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.truncate(size // 2)
    code, _, err = run_assay(["log"])
    assert code == 2
    assert "is damaged (database disk image is malformed)" in one_error(err)


@pytest.fixture
def read_only_home(assay_home: Path) -> Iterator[Path]:
    db = _fill(assay_home)
    for path in (*assay_home.iterdir(), assay_home):
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
    yield assay_home
    for path in (assay_home, *assay_home.iterdir()):
        path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o200)
    assert db.exists()


def test_read_only_workspace_still_reads(read_only_home: Path) -> None:
    code, out, err = run_assay(["log"])
    assert code == 0, err
    assert "fake:" in out and err == ""
    code, _, err = run_assay(["runs", "list"])
    assert code == 0, err


def test_read_only_workspace_generation_answers_and_warns(read_only_home: Path) -> None:
    before = (read_only_home / "assay.db").read_bytes()
    code, out, err = run_assay(["generate", "fake:", "again"])
    assert code == 0  # the answer was given; only its record is lost
    assert "again" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err, err  # the warning + the usual summary
    assert lines[0].startswith(
        "warning: this call was not logged or cached: the workspace database "
    )
    assert "read-only" in lines[0] and "chmod u+w" in lines[0]
    assert (read_only_home / "assay.db").read_bytes() == before


def test_read_only_workspace_refuses_writes_in_one_line(read_only_home: Path) -> None:
    code, _, err = run_assay(["chat", "fake:"], stdin="hi\n")  # a conversation is stored
    assert code == 2
    assert "is read-only" in one_error(err)


def test_debug_after_the_subcommand_shows_the_traceback(assay_home: Path) -> None:
    assay_home.mkdir(parents=True)
    (assay_home / "assay.db").write_bytes(b"x" * 100)
    from assay.errors import WorkspaceError

    with pytest.raises(WorkspaceError):
        from assay.cli.main import main

        main(["runs", "list", "--debug"])


def test_read_only_database_that_needs_a_migration_says_so(assay_home: Path) -> None:
    db = _fill(assay_home)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM _migrations WHERE name = '030_conversations'")
    conn.commit()
    conn.close()
    db.chmod(0o444)
    try:
        code, _, err = run_assay(["log"])
    finally:
        db.chmod(0o644)
    assert code == 2
    line = one_error(err)
    assert "read-only and was made by an older assay" in line and "chmod u+w" in line
