"""Where assay keeps its state: a folder holding the database, caches, conversions and artifacts.

Found like ``.git``: ``$ASSAY_HOME`` if set, else the nearest ``.assay/`` folder walking up from the
current directory (made by ``assay init``), else ``~/.assay``. Nothing is created at import time.

The database is SQLite in WAL mode with a busy timeout so two processes (say, ``assay serve`` and an
evaluation) can write at once. Schema changes are ordered migrations recorded in ``_migrations``;
each later feature appends its own and never edits an old one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from assay.errors import WorkspaceError

WORKSPACE_DIR = ".assay"
DB_NAME = "assay.db"
CONFIG_NAME = "config.yaml"

Migration = Callable[[sqlite3.Connection], None]


def run_script(db: sqlite3.Connection, sql: str) -> None:
    """Run ``;``-separated statements inside the caller's transaction.

    ``executescript`` would commit the open transaction first, breaking migration atomicity.
    """
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _m001_calls_and_cache(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            model TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            op TEXT NOT NULL,
            n_requests INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            latency_s REAL NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            cached INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            preview TEXT
        );
        CREATE INDEX calls_ts ON calls(ts);
        CREATE TABLE responses (
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            op TEXT NOT NULL,
            response TEXT NOT NULL,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE TABLE file_hashes (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL
        );
        """,
    )


MIGRATIONS: list[tuple[str, Migration | str]] = [
    ("001_calls_and_cache", _m001_calls_and_cache),
    # Later features keep their schema next to their code; named here as "module:function" so
    # every database gets every migration, in this order, whatever was imported first.
    ("010_rag_store", "assay.rag.store:migrate_010_rag_store"),
    ("020_runs", "assay.evals.runs:migrate_020_runs"),
    ("030_conversations", "assay.prompting.conversation_store:migrate_030_conversations"),
]


def _resolve(fn: Migration | str) -> Migration:
    if callable(fn):
        return fn
    import importlib

    module, _, attr = fn.partition(":")
    resolved: Migration = getattr(importlib.import_module(module), attr)
    return resolved


def find_root(start: Path | None = None) -> Path:
    env = os.environ.get("ASSAY_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / WORKSPACE_DIR
        if candidate.is_dir():
            return candidate
    return Path.home() / WORKSPACE_DIR


@dataclass
class Workspace:
    root: Path
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @classmethod
    def find(cls, start: Path | None = None) -> Workspace:
        return cls(find_root(start))

    @classmethod
    def init(cls, folder: Path) -> Workspace:
        root = folder.resolve() / WORKSPACE_DIR
        root.mkdir(parents=True, exist_ok=True)
        ws = cls(root)
        ws.migrate()
        return ws

    # -- paths -------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    def dir(self, *parts: str) -> Path:
        """A sub-folder of the workspace, created on first use."""
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- database ----------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """A connection for this thread (sqlite3 connections must not cross threads)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise WorkspaceError(
                    f"cannot open the workspace database {self.db_path}: {exc}",
                    hint="check permissions, or point ASSAY_HOME at a writable folder",
                ) from exc
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            _use_wal(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            self.migrate(conn)
        return conn

    @property
    def db(self) -> sqlite3.Connection:
        return self.connect()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def migrate(self, conn: sqlite3.Connection | None = None) -> list[str]:
        """Apply pending migrations in order, each in its own transaction. Returns their names."""
        conn = conn or self.connect()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
            "applied TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
        )
        applied: list[str] = []
        for name, fn in MIGRATIONS:
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone()
                if not done:
                    _resolve(fn)(conn)
                    conn.execute("INSERT INTO _migrations(name) VALUES (?)", (name,))
                    applied.append(name)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return applied

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _use_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch a database to write-ahead logging (the mode is stored in the file).

    Several processes opening a new workspace at once (``accelerate launch``) race for the
    switch, and SQLite reports "locked" at once instead of waiting, so wait here.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


__all__ = ["Workspace", "find_root", "run_script"]
