"""What every benchmark result records about where it ran: machine, load, versions, commit."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


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


def save(name: str, record: dict[str, Any]) -> Path:
    """Write ``record`` to ``results/<name>-<timestamp>.json`` and say where."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=2, default=str))
    print(f"\nwrote {path.relative_to(HERE.parent)}", file=sys.stderr)
    return path
