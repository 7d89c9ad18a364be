"""A conversation as JSON or Markdown, for papers, appendices and sharing.

JSON holds everything stored (settings, pinned facts, summary, every turn with its token count
and time). Markdown is for reading: a header of settings, then the turns in order. Files are
written whole (temporary file, then rename), never half.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import UserError

if TYPE_CHECKING:
    from assay.prompting.conversation import Conversation
    from assay.workspace import Workspace

FORMATS = ("json", "md")


def conversation_dict(conv: Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "model": conv.model.address,
        "system": conv.system,
        "policy": conv.policy,
        "pinned": list(conv.pinned),
        "summary": conv.summary.model_dump(mode="json") if conv.summary is not None else None,
        "sampling": conv.sampling.model_dump(mode="json"),
        "turns": [
            {
                "seq": t.seq,
                "role": t.role,
                "content": t.content,
                "tokens": t.tokens,
                "ts": t.ts,
                **({"images": [i.sha256 for i in t.images]} if t.images else {}),
            }
            for t in conv.turns
        ],
    }


def stored_dict(ws: Workspace, conversation_id: str) -> dict[str, Any]:
    """The same data read from the workspace, without loading the model."""
    from assay.prompting import conversation_store as store

    stored, turns = store.load(ws, conversation_id)
    return {
        "id": stored.id,
        "model": stored.model,
        "system": stored.system,
        "policy": stored.policy,
        "pinned": stored.pinned,
        "summary": stored.summary,
        "sampling": stored.sampling,
        "created": stored.created,
        "updated": stored.updated,
        "turns": [
            {
                "seq": t.seq,
                "role": t.role,
                "content": t.content,
                "tokens": t.tokens,
                "ts": t.ts,
                **({"images": list(t.images)} if t.images else {}),
            }
            for t in turns
        ],
    }


def to_markdown(data: dict[str, Any]) -> str:
    lines = [f"# Conversation {data['id']}", ""]
    lines.append(f"- model: `{data['model']}`")
    lines.append(f"- policy: {data['policy']}")
    lines.append(f"- turns: {len(data['turns'])}")
    if data.get("system"):
        lines += ["", "## System prompt", "", data["system"]]
    if data.get("pinned"):
        lines += ["", "## Pinned facts", ""] + [f"- {f}" for f in data["pinned"]]
    if data.get("summary"):
        lines += ["", "## Running summary", ""]
        for name, value in data["summary"].items():
            label = name.replace("_", " ").capitalize()
            if isinstance(value, list):
                lines.append(f"**{label}:**" + ("" if value else " (none)"))
                lines += [f"- {v}" for v in value]
            else:
                lines.append(f"**{label}:** {value}")
    lines += ["", "## Turns"]
    for turn in data["turns"]:
        when = f" ({turn['ts']})" if turn.get("ts") else ""
        lines += ["", f"### {turn['role'].capitalize()}{when}", ""]
        lines += [f"[image {sha[:12]}]" for sha in turn.get("images", [])]
        lines.append(turn["content"])
    return "\n".join(lines) + "\n"


def export(
    conv: Conversation | dict[str, Any], path: str | Path | None = None, fmt: str | None = None
) -> str:
    """JSON or Markdown text of a conversation (or of its :func:`stored_dict`)."""
    if fmt is None:
        suffix = Path(path).suffix.lower().lstrip(".") if path is not None else "json"
        fmt = {"markdown": "md"}.get(suffix, suffix)
    if fmt not in FORMATS:
        raise UserError(
            f"cannot export a conversation as '{fmt}'", hint="use a .json or .md file name"
        )
    data = conv if isinstance(conv, dict) else conversation_dict(conv)
    text = (
        json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if fmt == "json"
        else to_markdown(data)
    )
    if path is not None:
        write_whole(Path(path), text)
    return text


def write_whole(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["FORMATS", "conversation_dict", "export", "stored_dict", "to_markdown", "write_whole"]
