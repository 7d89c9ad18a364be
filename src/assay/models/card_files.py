"""Reading a model folder's small files for its card: JSON, safetensors headers, README front
matter, the file list. Nothing here loads weights."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from assay.errors import InvalidModelFileError
from assay.models.card import FileInfo


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelFileError(f"{what} '{path}' is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidModelFileError(f"{what} '{path}' is not a JSON object")
    return data


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file: ``{name: {dtype, shape, data_offsets}}``."""
    try:
        with path.open("rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise InvalidModelFileError(f"'{path.name}' is too short to be a safetensors file")
            (n,) = struct.unpack("<Q", raw)
            if n > 100_000_000 or n > path.stat().st_size:
                raise InvalidModelFileError(f"'{path.name}' is not a safetensors file")
            header = json.loads(f.read(n))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelFileError(
            f"'{path.name}' is not a readable safetensors file: {exc}"
        ) from exc
    if not isinstance(header, dict):
        raise InvalidModelFileError(f"'{path.name}' has no safetensors header")
    return header


def first_heading(text: str | None) -> str | None:
    for line in (text or "").splitlines()[:20]:
        if line.startswith("# ") and line[2:].strip():
            return line[2:].strip()
    return None


def first_int(cfg: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = as_int(cfg.get(key))
        if value is not None:
            return value
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return max(value)  # per-layer values (some GGUFs): the largest bounds the memory
    return None


def folder_files(folder: Path) -> list[FileInfo]:
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") or part.startswith("checkpoint-") for part in rel.parts):
            continue
        if p.is_file():
            out.append(FileInfo(name=rel.as_posix(), bytes=p.stat().st_size))
    return out


def read_readme(path: Path) -> tuple[str | None, dict[str, Any]]:
    """README text without its YAML front matter, and the front matter as a dict."""
    if not path.is_file():
        return None, {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, {}
    front: dict[str, Any] = {}
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if match:
        import yaml

        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, dict):
            front = loaded
        text = text[match.end() :]
    return text.strip("\n") or None, front


def read_conversion(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def conversion_source_name(record: dict[str, Any]) -> str:
    """The GGUF file name a conversion record (``assay_conversion.json``) was made from."""
    return str(record.get("file_name") or Path(str(record.get("source", "?"))).name)


def conversion_quantization(record: dict[str, Any]) -> str | None:
    """The source GGUF's quantisation in a conversion record (a name, or ``{file_type: ...}``)."""
    q = record.get("quantization")
    if isinstance(q, dict):
        q = q.get("file_type")
    return str(q) if q else None
