"""What a run must record to be reproduced: versions, the user's git state, the machine."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "assay",
    "torch",
    "transformers",
    "tokenizers",
    "sentence-transformers",
    "llama-cpp-python",
    "openai",
    "numpy",
    "pydantic",
    "peft",
    "accelerate",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_state(folder: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the user's project (the folder assay runs in), if it is a repo."""
    folder = folder or Path.cwd()

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"repo": False}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "repo": True,
        "root": git("rev-parse", "--show-toplevel"),
        "commit": commit,
        "dirty": bool(status),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
    }


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "hostname": platform.node(),
    }
    try:
        import psutil

        info["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info


def collect(folder: Path | None = None) -> dict[str, Any]:
    return {"packages": package_versions(), "git": git_state(folder), "machine": machine()}


__all__ = ["collect", "git_state", "machine", "package_versions"]
