"""Build a Hugging Face hub cache from local files, in the hub's own layout, without a network:

<cache>/models--ORG--NAME/blobs/<sha256>
<cache>/models--ORG--NAME/snapshots/<commit>/<file> -> ../../blobs/<sha256>
<cache>/models--ORG--NAME/refs/<ref>                  holds <commit>
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def add_snapshot(
    cache: Path, repo: str, source: Path, commit: str, refs: tuple[str, ...] = ()
) -> Path:
    """Put the files of the folder ``source`` in ``cache`` as ``repo`` at ``commit`` (40 hex
    characters), with the named refs pointing at it; returns the snapshot folder."""
    root = cache / f"models--{repo.replace('/', '--')}"
    blobs, snapshot = root / "blobs", root / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        data = file.read_bytes()
        blob = blobs / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / file.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (root / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (root / "refs" / ref).write_text(commit)
    return snapshot
