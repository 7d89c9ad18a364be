from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from assay.workspace import MIGRATIONS, Workspace, find_root


def test_assay_home_wins(tmp_path: Path, assay_home: Path) -> None:
    (tmp_path / "proj" / ".assay").mkdir(parents=True)
    assert find_root(tmp_path / "proj") == assay_home.resolve()


def test_walks_up_to_nearest_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_HOME")
    Workspace.init(tmp_path / "proj")
    deep = tmp_path / "proj" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == (tmp_path / "proj" / ".assay").resolve()


def test_falls_back_to_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert find_root(tmp_path) == tmp_path / "home" / ".assay"


def test_migrations_apply_once_in_order() -> None:
    ws = Workspace.find()
    names = [r["name"] for r in ws.db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == sorted(names) == [n for n, _ in MIGRATIONS]
    assert ws.migrate() == []
    assert ws.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_failed_migration_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db) -> None:  # type: ignore[no-untyped-def]
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr("assay.workspace.MIGRATIONS", [*MIGRATIONS, ("999_broken", broken)])
    ws = Workspace.find()
    with pytest.raises(RuntimeError):
        ws.connect()
    ws2 = Workspace.find()
    monkeypatch.setattr("assay.workspace.MIGRATIONS", list(MIGRATIONS))
    tables = {r[0] for r in ws2.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_done" not in tables


def _writer(root: str, n: int, tag: str) -> None:
    ws = Workspace(Path(root))
    for i in range(n):
        with ws.transaction() as db:
            db.execute(
                "INSERT INTO calls(model, fingerprint, op, n_requests) VALUES (?,?,?,?)",
                (tag, "fp", "generate", i),
            )


def test_two_processes_write_at_once(assay_home: Path) -> None:
    Workspace.find().migrate()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(assay_home), 200, t)) for t in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    counts = dict(Workspace.find().db.execute("SELECT model, COUNT(*) FROM calls GROUP BY model"))
    assert counts == {"a": 200, "b": 200}


def _open_and_write(root: str, tag: str) -> None:
    ws = Workspace(Path(root))
    with ws.transaction() as db:
        db.execute(
            "INSERT INTO calls(model, fingerprint, op, n_requests) VALUES (?,?,?,?)",
            (tag, "fp", "generate", 1),
        )


def test_processes_creating_one_new_workspace_at_once(tmp_path: Path) -> None:
    # As under `accelerate launch`: every process opens (and so creates and migrates) the same
    # new database at the same moment.
    root = tmp_path / "fresh"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open_and_write, args=(str(root), f"p{i}")) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ws = Workspace(root)
    assert ws.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ws.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 6
