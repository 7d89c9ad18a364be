"""Content fingerprints of model weights, so cached answers follow the weights, not the path.

``file_sha256`` hashes a file once and remembers the result in the workspace ``file_hashes`` table,
keyed by absolute path and checked against the file's size and modification time: a file that
changes is hashed again, one that does not costs a single SQL lookup.

``weights_fingerprint`` of a model folder is the sha256 over the sorted sha256s of its weight files
(``*.safetensors``, ``*.bin``, ``*.gguf`` at the top level). A single file's fingerprint is the
file's own sha256. A folder that assay converted from a GGUF file (it holds
``assay_conversion.json``) keeps the fingerprint of that GGUF file, so a model answers to the same
fingerprint before and after its conversion.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import ModelNotFoundError

if TYPE_CHECKING:
    from assay.workspace import Workspace

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf")
CONVERSION_FILE = "assay_conversion.json"
_CHUNK = 1 << 20


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path | str, workspace: Workspace | None = None) -> str:
    """sha256 of a file, cached in the workspace by (path, size, mtime_ns).

    Without a workspace the file is simply hashed.
    """
    path = Path(path).expanduser().resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelNotFoundError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if workspace is None:
        return _hash_file(path)
    db = workspace.db
    row = db.execute(
        "SELECT size, mtime_ns, sha256 FROM file_hashes WHERE path = ?", (str(path),)
    ).fetchone()
    if row is not None and row["size"] == stat.st_size and row["mtime_ns"] == stat.st_mtime_ns:
        return str(row["sha256"])
    sha = _hash_file(path)
    db.execute(
        "INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
        (str(path), stat.st_size, stat.st_mtime_ns, sha),
    )
    return sha


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a model folder, sorted by name."""
    found = {p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.name)


def conversion_sha256(folder: Path) -> str | None:
    """The source GGUF sha256 recorded in a folder assay converted, else None."""
    meta = folder / CONVERSION_FILE
    if not meta.is_file():
        return None
    try:
        sha = json.loads(meta.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return sha if isinstance(sha, str) and sha else None


def weights_fingerprint(folder_or_file: Path | str, workspace: Workspace | None = None) -> str:
    """sha256 identifying a model's weights (see the module docstring)."""
    path = Path(folder_or_file).expanduser().resolve()
    if path.is_file():
        return file_sha256(path, workspace)
    converted = conversion_sha256(path)
    if converted is not None:
        return converted
    files = weight_files(path)
    if not files:
        raise ModelNotFoundError(
            f"'{path}' holds no weight files ({', '.join(WEIGHT_PATTERNS)})",
            hint="give a folder written by save_pretrained, or a .gguf file",
        )
    digest = hashlib.sha256()
    for f in files:
        digest.update(file_sha256(f, workspace).encode())
    return digest.hexdigest()


__all__ = ["file_sha256", "weight_files", "weights_fingerprint"]
