"""Running the same training command again: what a failed run leaves behind, and which changes
to the config forbid resuming from its checkpoint."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from assay.errors import ConfigError
from assay.finetune import checkpoint as ckpt
from assay.finetune.config import RecipeConfig
from assay.finetune.runs import read_record


def discard_unfinished(folder: Path) -> bool:
    """After a failed run, remove its folder unless it holds something to keep: a complete
    checkpoint (the same command resumes from it) or a finished run's outputs. A run that
    failed before its first checkpoint leaves nothing behind. Returns whether it was removed."""
    if int(os.environ.get("RANK", "0")) != 0 or not folder.is_dir():
        return False  # the main process decides, as it made the folder
    if ckpt.complete_checkpoints(folder):
        return False
    record = read_record(folder)
    if record is not None and record.get("status") == "complete":
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def refuse_changed_config(saved: dict[str, Any], cfg: RecipeConfig, where: Path) -> None:
    """Raise with the differences when ``cfg`` is not the config ``saved`` was trained with."""
    from assay.finetune.config import config_diff

    if saved.get("config_hash") == cfg.config_hash():
        return
    diff = config_diff(saved.get("config", {}), cfg.semantic_dict())
    raise ConfigError(
        f"run '{cfg.run_id}' has a checkpoint ({where}) trained with a different config:\n  "
        + "\n  ".join(diff or ["(the configs differ)"]),
        hint="undo those changes to resume; or start over with --fresh; or choose another run_id=",
    )


__all__ = ["discard_unfinished", "refuse_changed_config"]
