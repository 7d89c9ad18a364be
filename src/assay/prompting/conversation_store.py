"""Where conversations and tool calls live: three tables in the workspace database.

``conversations``
    One row per conversation: model address, system prompt, budget policy, pinned facts (JSON
    list), the running summary (JSON, or NULL), sampling settings, created/updated times.
``conversation_turns``
    Every turn ever said, in order (``seq``), with its token count. Turns are never deleted
    when a budget policy leaves them out of the prompt: history and export keep everything.
``tool_calls``
    Every tool call a tool loop made: the tool, its arguments, its result or the error it
    raised, the step of the loop, and the conversation it belongs to (if any).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assay.errors import UserError
from assay.workspace import Workspace, run_script


def migrate_030_conversations(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            model TEXT NOT NULL,
            system TEXT,
            policy TEXT NOT NULL,
            pinned TEXT NOT NULL DEFAULT '[]',
            summary TEXT,
            sampling TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE conversation_turns (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            tokens INTEGER NOT NULL DEFAULT 0,
            ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            UNIQUE (conversation_id, seq)
        );
        CREATE TABLE tool_calls (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            conversation_id TEXT,
            run_id TEXT NOT NULL,
            step INTEGER NOT NULL,
            tool TEXT NOT NULL,
            arguments TEXT NOT NULL,
            result TEXT,
            error TEXT,
            latency_s REAL NOT NULL DEFAULT 0
        );
        CREATE INDEX tool_calls_run ON tool_calls(run_id);
        CREATE INDEX conversations_updated ON conversations(updated)
        """,
    )


@dataclass(frozen=True)
class StoredTurn:
    seq: int
    role: str
    content: str
    tokens: int
    ts: str
    images: tuple[str, ...] = ()
    """sha256 of the turn's images (see :mod:`assay.models.image_store`)."""


@dataclass(frozen=True)
class StoredConversation:
    id: str
    created: str
    updated: str
    model: str
    system: str | None
    policy: str
    pinned: list[str]
    summary: dict[str, Any] | None
    sampling: dict[str, Any]
    n_turns: int = 0
    summary_through: int = 0


def new_id() -> str:
    return "conv-" + uuid.uuid4().hex[:12]


def create(
    ws: Workspace,
    conversation_id: str,
    *,
    model: str,
    system: str | None,
    policy: str,
    pinned: list[str],
    sampling: dict[str, Any],
) -> None:
    with ws.transaction() as db:
        db.execute(
            "INSERT INTO conversations(id, model, system, policy, pinned, sampling) "
            "VALUES (?,?,?,?,?,?)",
            (conversation_id, model, system, policy, json.dumps(pinned), json.dumps(sampling)),
        )


def migrate_085_conversation_images(db: sqlite3.Connection) -> None:
    # A turn's images, as a JSON list of sha256 (the bytes live in <workspace>/images/).
    db.execute("ALTER TABLE conversation_turns ADD COLUMN images TEXT NOT NULL DEFAULT '[]'")


def migrate_050_conversation_summary_through(db: sqlite3.Connection) -> None:
    # Summaries used to be updated after every exchange, so an existing one covers every turn.
    run_script(
        db,
        """
        ALTER TABLE conversations ADD COLUMN summary_through INTEGER NOT NULL DEFAULT 0;
        UPDATE conversations SET summary_through = COALESCE(
            (SELECT MAX(seq) FROM conversation_turns t WHERE t.conversation_id = conversations.id),
            0) WHERE summary IS NOT NULL;
        """,
    )


def _row_to_conversation(row: sqlite3.Row, n_turns: int = 0) -> StoredConversation:
    return StoredConversation(
        id=row["id"],
        created=row["created"],
        updated=row["updated"],
        model=row["model"],
        system=row["system"],
        policy=row["policy"],
        pinned=json.loads(row["pinned"]),
        summary=json.loads(row["summary"]) if row["summary"] else None,
        sampling=json.loads(row["sampling"]),
        n_turns=n_turns,
        summary_through=row["summary_through"] or 0,
    )


def find_id(ws: Workspace, given: str) -> str:
    """A conversation's full id from the id or a unique prefix of it."""
    rows = ws.db.execute(
        "SELECT id FROM conversations WHERE substr(id, 1, ?) = ? ORDER BY id",
        (len(given), given),
    ).fetchall()
    ids = [r["id"] for r in rows]
    if given in ids:
        return given
    if len(ids) == 1:
        return str(ids[0])
    if not ids:
        raise UserError(
            f"no conversation '{given}' in the workspace {ws.root}",
            hint="'assay chat list' shows the conversations there",
        )
    raise UserError(f"'{given}' matches {len(ids)} conversations; give more of the id")


def load(ws: Workspace, conversation_id: str) -> tuple[StoredConversation, list[StoredTurn]]:
    cid = find_id(ws, conversation_id)
    row = ws.db.execute("SELECT * FROM conversations WHERE id = ?", (cid,)).fetchone()
    turns = [
        StoredTurn(
            r["seq"], r["role"], r["content"], r["tokens"], r["ts"], tuple(json.loads(r["images"]))
        )
        for r in ws.db.execute(
            "SELECT seq, role, content, tokens, ts, images FROM conversation_turns "
            "WHERE conversation_id = ? ORDER BY seq",
            (cid,),
        )
    ]
    return _row_to_conversation(row, len(turns)), turns


def add_turn(
    ws: Workspace,
    conversation_id: str,
    seq: int,
    role: str,
    content: str,
    tokens: int,
    images: Sequence[str] = (),
) -> str:
    """Store one turn (``images``: sha256 of images already kept); returns its time stamp."""
    with ws.transaction() as db:
        db.execute(
            "INSERT INTO conversation_turns(conversation_id, seq, role, content, tokens, images) "
            "VALUES (?,?,?,?,?,?)",
            (conversation_id, seq, role, content, tokens, json.dumps(list(images))),
        )
        db.execute(
            "UPDATE conversations SET updated = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
            (conversation_id,),
        )
        ts = db.execute(
            "SELECT ts FROM conversation_turns WHERE conversation_id = ? AND seq = ?",
            (conversation_id, seq),
        ).fetchone()["ts"]
    return str(ts)


def update(ws: Workspace, conversation_id: str, **fields: Any) -> None:
    """Set ``pinned``, ``summary``, ``summary_through``, ``policy``, ``system`` or ``sampling``
    (JSON-encoded here)."""
    allowed = {"pinned", "summary", "summary_through", "policy", "system", "sampling"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    sets, values = [], []
    for name, value in fields.items():
        sets.append(f"{name} = ?")
        values.append(
            json.dumps(value)
            if name in ("pinned", "summary", "sampling") and value is not None
            else value
        )
    with ws.transaction() as db:
        db.execute(
            f"UPDATE conversations SET {', '.join(sets)}, "
            "updated = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
            (*values, conversation_id),
        )


def list_conversations(ws: Workspace, limit: int = 50) -> list[tuple[StoredConversation, str]]:
    """The most recently used conversations, each with its first user turn (a title)."""
    rows = ws.db.execute(
        "SELECT c.*, (SELECT COUNT(*) FROM conversation_turns t WHERE t.conversation_id = c.id) "
        "AS n_turns, (SELECT content FROM conversation_turns t WHERE t.conversation_id = c.id "
        "AND t.role = 'user' ORDER BY seq LIMIT 1) AS first_user "
        "FROM conversations c ORDER BY updated DESC, id LIMIT ?",
        (limit,),
    ).fetchall()
    return [(_row_to_conversation(r, r["n_turns"]), r["first_user"] or "") for r in rows]


def log_tool_call(
    ws: Workspace,
    *,
    run_id: str,
    conversation_id: str | None,
    step: int,
    tool: str,
    arguments: dict[str, Any],
    result: str | None,
    error: str | None,
    latency_s: float,
) -> None:
    ws.db.execute(
        "INSERT INTO tool_calls(run_id, conversation_id, step, tool, arguments, result, error, "
        "latency_s) VALUES (?,?,?,?,?,?,?,?)",
        (
            run_id,
            conversation_id,
            step,
            tool,
            json.dumps(arguments, ensure_ascii=False, default=str),
            result,
            error,
            latency_s,
        ),
    )


def tool_calls(ws: Workspace, run_id: str | None = None) -> list[dict[str, Any]]:
    query = "SELECT * FROM tool_calls"
    args: tuple[Any, ...] = ()
    if run_id is not None:
        query += " WHERE run_id = ?"
        args = (run_id,)
    return [dict(r) for r in ws.db.execute(query + " ORDER BY id", args)]


__all__ = [
    "StoredConversation",
    "StoredTurn",
    "add_turn",
    "create",
    "find_id",
    "list_conversations",
    "load",
    "log_tool_call",
    "migrate_030_conversations",
    "new_id",
    "tool_calls",
    "update",
]
