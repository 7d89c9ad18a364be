"""What every benchmark result records about where it ran: machine, load, versions, commit."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def environment(dists: Sequence[str] = ("assay", "torch", "transformers")) -> dict[str, Any]:
    """Python, platform, CPUs, load average, OpenMP settings, versions of ``dists``, git commit."""
    import importlib.metadata as md

    versions = {}
    for dist in dists:
        with contextlib.suppress(md.PackageNotFoundError):
            versions[dist] = md.version(dist)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "env": {
            k: os.environ[k] for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ
        },
        "versions": versions,
        "git_commit": commit or None,
    }
