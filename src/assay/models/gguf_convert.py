"""Convert a GGUF file to a plain safetensors folder once, so later loads take seconds.

transformers can load a GGUF file directly, but it dequantises every tensor on each load (~35 s
for SmolLM2-135M on two CPU cores), and the object it returns refuses ``save_pretrained``
("quantized with gguf"). So the first load builds a fresh model from the same config (without its
``quantization_config``), copies the dequantised weights into it and saves that, with the
tokenizer and its chat template, into the workspace::

    <workspace>/conversions/<sha256 of the GGUF file>/
        config.json  generation_config.json  model.safetensors
        tokenizer.json  tokenizer_config.json  chat_template.jinja
        assay_conversion.json      source, sha256, file_name, quantization, license, converted_at

Other parts of assay (model cards, ``assay models list``) find conversions by globbing
``conversions/*/assay_conversion.json``, so keep that layout.

The folder appears atomically: everything is written into ``conversions/.partial/<random>/``
(same file system) and renamed into place at the end, so a killed or concurrent conversion never
leaves a half-written folder under its final name. When two processes convert the same file at
once, both do the work and the first rename wins; the other discards its copy. Partial folders
left by killed processes are removed by the next conversion once they are an hour old.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidModelFileError
from assay.models.fingerprint import CONVERSION_FILE

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.workspace import Workspace

CONVERSIONS_DIR = "conversions"
PARTIAL_DIR = ".partial"
STALE_PARTIAL_S = 3600.0


def conversion_dir(workspace: Workspace, sha256: str) -> Path:
    """Where the conversion of the GGUF file with this sha256 lives (it may not exist yet)."""
    return workspace.dir(CONVERSIONS_DIR) / sha256


def is_complete(folder: Path) -> bool:
    """A finished conversion: renamed into place, so its metadata file exists."""
    return (folder / CONVERSION_FILE).is_file() and (folder / "config.json").is_file()


def gguf_summary(path: Path) -> dict[str, Any]:
    """Quantisation, licence and naming facts from the GGUF header (no tensor data read)."""
    from assay.models.gguf_meta import file_type_name, read_gguf_header

    header = read_gguf_header(path)
    file_type = header.get("general.file_type")
    return {
        "quantization": {
            "file_type": file_type_name(int(file_type)) if file_type is not None else None,
            "tensor_types": dict(Counter(t.type_name for t in header.tensors).most_common()),
        },
        "license": header.get("general.license"),
        "architecture": header.get("general.architecture"),
        "model_name": header.get("general.name"),
    }


def _remove_stale_partials(partial_root: Path) -> None:
    now = time.time()
    for entry in partial_root.iterdir() if partial_root.is_dir() else ():
        try:
            if now - entry.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass


def _write_model(gguf_path: Path, out: Path) -> None:
    """Dequantise ``gguf_path`` with transformers and save it as a plain folder in ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, file_name = str(gguf_path.parent), gguf_path.name
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=file_name, dtype=torch.float32
        )
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        fresh.load_state_dict(loaded.state_dict(), strict=True)
        fresh.generation_config = loaded.generation_config
        del loaded
        fresh.save_pretrained(out)
        del fresh
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file_name)
        tokenizer.save_pretrained(out)
    except (ValueError, KeyError, NotImplementedError, RuntimeError, struct.error) as exc:
        # Typically an architecture or tensor type transformers cannot read from GGUF.
        raise InvalidModelFileError(
            f"transformers cannot convert '{file_name}': {exc}",
            hint=f"llama.cpp may load it: gguf:{gguf_path} (pip install 'assay[llama]')",
        ) from exc


def convert_gguf(
    gguf_path: Path, sha256: str, workspace: Workspace, *, quiet: bool = False
) -> Path:
    """The converted folder for ``gguf_path`` (whose sha256 is given), converting it if needed."""
    final = conversion_dir(workspace, sha256)
    if is_complete(final):
        return final
    summary = gguf_summary(gguf_path)  # reads and checks the header first: fails fast, clearly
    if not quiet:
        print(
            f"converting {gguf_path.name} to safetensors once (~35 s); cached in {final}",
            file=sys.stderr,
            flush=True,
        )
    partial_root = final.parent / PARTIAL_DIR
    partial_root.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(partial_root)
    tmp = Path(tempfile.mkdtemp(prefix=f"{sha256[:16]}-", dir=partial_root))
    try:
        _write_model(gguf_path, tmp)
        meta = {
            "source": str(gguf_path.resolve()),
            "sha256": sha256,
            "file_name": gguf_path.name,
            **summary,
            "converted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        # Written last: a folder with this file is a finished conversion.
        (tmp / CONVERSION_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; a conversion is ordinary workspace data
        _publish(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def converted_folder(gguf_path: Path, workspace: Workspace, *, quiet: bool = False) -> Path:
    """The converted folder for ``gguf_path``, hashing it (cached) and converting it if needed."""
    from assay.models.fingerprint import file_sha256

    return convert_gguf(gguf_path, file_sha256(gguf_path, workspace), workspace, quiet=quiet)


def transformers_folder(address: str, settings: Settings, workspace: Workspace) -> Path:
    """A folder that transformers loads for the local model at ``address`` (an alias, a path,
    ``hf:``/``gguf:``): a GGUF file's conversion (made now if needed), or the folder itself."""
    from assay.errors import ModelNotFoundError
    from assay.models.gguf_meta import require_gguf
    from assay.models.registry import local_path, resolve_alias, split_address

    provider, name = split_address(resolve_alias(address, settings.aliases))
    if provider not in ("hf", "gguf"):
        raise ModelNotFoundError(
            f"'{address}' is not a local model file ({provider}:)",
            hint="give a .gguf file, hf:FILE.gguf or an alias of one (assay models list)",
        )
    path = local_path(name)
    if path.is_dir() and (path / "config.json").is_file():
        return path  # already a transformers folder
    require_gguf(path, hint="give a .gguf file or a transformers model folder")
    return converted_folder(path, workspace)


def _publish(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final`` unless a finished conversion got there first."""
    if final.exists() and not is_complete(final):
        # An empty folder, or one not written by this module: never a finished conversion.
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        if not is_complete(final):
            raise


__all__ = [
    "conversion_dir",
    "convert_gguf",
    "converted_folder",
    "gguf_summary",
    "is_complete",
    "transformers_folder",
]
