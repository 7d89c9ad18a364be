"""Where assay keeps its state: a folder holding the database, caches, conversions and artifacts.

Found like ``.git``: ``$ASSAY_HOME`` if set, else the nearest ``.assay/`` folder walking up from the
current directory (made by ``assay init``), else ``~/.assay``. Nothing is created at import time.

The database is SQLite in WAL mode with a busy timeout so two processes (say, ``assay serve`` and an
evaluation) can write at once. Schema changes are ordered migrations recorded in ``_migrations``;
each later feature appends its own and never edits an old one.

A database that this process may not write (its file or folder without write permission, or the
file marked read-only with ``chmod a-w``, which is honoured even for root) is opened read-only:
commands that only read work, and a write fails with one line saying how to fix the permissions.
A damaged database is reported by name, with what to do, instead of SQLite's bare message.
"""

from __future__ import annotations

import os
import sqlite3
import stat
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


def _m070_call_retries(db: sqlite3.Connection) -> None:
    # Retries a call needed (429s, 5xx, dropped connections) so `assay log` shows a flaky API.
    db.execute("ALTER TABLE calls ADD COLUMN retries INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: list[tuple[str, Migration | str]] = [
    ("001_calls_and_cache", _m001_calls_and_cache),
    # Later features keep their schema next to their code; named here as "module:function" so
    # every database gets every migration, in this order, whatever was imported first.
    ("010_rag_store", "assay.rag.store:migrate_010_rag_store"),
    ("020_runs", "assay.evals.runs:migrate_020_runs"),
    ("030_conversations", "assay.prompting.conversation_store:migrate_030_conversations"),
    ("040_run_errors", "assay.evals.runs:migrate_040_run_errors"),
    (
        "050_conversation_summary_through",
        "assay.prompting.conversation_store:migrate_050_conversation_summary_through",
    ),
    ("060_abstention_calibration", "assay.rag.calibrate:migrate_060_abstention_calibration"),
    ("070_call_retries", _m070_call_retries),
    ("070_checks", "assay.checks.record:migrate_070_checks"),
    ("070_review", "assay.review.store:migrate_070_review"),
    ("084_collection_store", "assay.rag.store:migrate_084_collection_store"),
    (
        "085_conversation_images",
        "assay.prompting.conversation_store:migrate_085_conversation_images",
    ),
    ("086_rag_figures", "assay.rag.store:migrate_086_rag_figures"),
    ("087_sweeps", "assay.sweeps.store:migrate_087_sweeps"),
    ("088_sweep_cache_hits", "assay.sweeps.store:migrate_088_sweep_cache_hits"),
]


def _resolve(fn: Migration | str) -> Migration:
    if callable(fn):
        return fn
    import importlib

    module, _, attr = fn.partition(":")
    resolved: Migration = getattr(importlib.import_module(module), attr)
    return resolved


def database_error(exc: sqlite3.Error, db_path: Path) -> WorkspaceError:
    """SQLite's failure as one line naming the database file and what to do about it."""
    reason = str(exc)
    low = reason.lower()
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return WorkspaceError(
            f"the workspace database {db_path} is damaged ({reason})",
            hint=f"restore it from a backup, or move it aside (mv {db_path} {db_path}.broken) "
            "and assay starts an empty one",
        )
    if "readonly" in low or "read-only" in low:
        return WorkspaceError(
            f"the workspace database {db_path} is read-only",
            hint=f"make it writable (chmod u+w {db_path} {db_path.parent}) "
            "or set ASSAY_HOME to a writable folder",
        )
    if "locked" in low or "busy" in low:
        return WorkspaceError(
            f"the workspace database {db_path} is locked by another process ({reason})",
            hint="wait for the other assay command to finish, then try again",
        )
    return WorkspaceError(
        f"the workspace database {db_path} failed: {reason}",
        hint="check the file and its folder (permissions, free disk space)",
    )


def _writable(path: Path) -> bool:
    """Whether this process should write ``path``: allowed by the OS, and not marked read-only.

    Root may write anything, so the mode bits are read as well: ``chmod a-w`` is a wish to keep
    a workspace as it is (say, archived with a paper), and it is kept.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(stat.S_IMODE(mode) & 0o222)


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
            read_only = self.read_only
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                if read_only:
                    conn = self._open_read_only()
                else:
                    conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise WorkspaceError(
                    f"cannot open the workspace database {self.db_path}: {exc}",
                    hint="check permissions, or point ASSAY_HOME at a writable folder",
                ) from exc
            try:
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA busy_timeout=30000")
                if not read_only:
                    _use_wal(conn)
                conn.execute("PRAGMA foreign_keys=ON")
                if read_only:
                    self._check_up_to_date(conn)
                else:
                    self.migrate(conn)
            except sqlite3.Error as exc:
                conn.close()
                raise database_error(exc, self.db_path) from exc
            self._local.conn = conn
        return conn

    @property
    def read_only(self) -> bool:
        """True when the database exists but may not be written (see the module docstring)."""
        return self.db_path.exists() and not (
            _writable(self.db_path) and _writable(self.db_path.parent)
        )

    def _open_read_only(self) -> sqlite3.Connection:
        # A WAL database needs its -shm file; in a folder nobody may write, none can be made,
        # and ``immutable`` reads the file as it is (nothing else can change it either).
        flag = "mode=ro" if _writable(self.db_path.parent) else "immutable=1"
        uri = f"{self.db_path.resolve().as_uri()}?{flag}"
        return sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)

    def _check_up_to_date(self, conn: sqlite3.Connection) -> None:
        """A read-only database cannot be migrated: refuse one that lacks a migration."""
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='_migrations'"
        ).fetchone()
        done = {r[0] for r in conn.execute("SELECT name FROM _migrations")} if has_table else set()
        pending = [name for name, _ in MIGRATIONS if name not in done]
        if pending:
            raise WorkspaceError(
                f"the workspace database {self.db_path} is read-only and was made by an older "
                f"assay ({len(pending)} schema update(s) pending)",
                hint=f"make it writable once (chmod u+w {self.db_path} {self.db_path.parent}) "
                "so assay can update it",
            )

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


__all__ = ["Workspace", "database_error", "find_root", "run_script"]
