"""The generated pages of the documentation site, built from the code itself.

``python -m assay.docsgen`` writes them under ``docs/reference/``: the command-line reference
(every ``--help``), the shared option vocabulary with the old spellings still taken, the task
YAML, workspace ``config.yaml`` and training recipe references (from the pydantic models), and
the Python API page (mkdocstrings directives for everything ``import assay`` exports).
``python -m assay.docsgen --check`` (and ``tests/test_docs_site.py``) fails when a committed
page differs from what the code gives now.

The pages are rendered by a fresh interpreter (:mod:`assay.docsgen.build`) with no plugins:
they document assay itself, and a process that has run commands could print other help (click
caches a command's help option once it has run; plugins add commands and recipes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

COMMAND = "python -m assay.docsgen"
SOURCE = str(Path(__file__).resolve().parents[2])  # the folder that holds the assay package


def pages() -> dict[str, str]:
    """Path under ``docs/`` -> the page's text, as the code gives it now."""
    done = subprocess.run(
        [sys.executable, "-m", "assay.docsgen.build"],
        capture_output=True,
        text=True,
        check=False,
        # the child imports this same assay, installed or not
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
        },
    )
    if done.returncode != 0:
        raise RuntimeError(f"generating the reference pages failed:\n{done.stderr}")
    built: dict[str, str] = json.loads(done.stdout)
    return built


def stale(docs: Path, built: dict[str, str] | None = None) -> list[str]:
    """The generated pages under ``docs`` that are missing or differ from :func:`pages` (or
    from ``built``, pages already generated)."""
    out = []
    for path, text in (built if built is not None else pages()).items():
        file = docs / path
        if not file.is_file() or file.read_text(encoding="utf-8") != text:
            out.append(path)
    return out


def write(docs: Path) -> list[str]:
    """Write every generated page under ``docs``; the paths that changed."""
    built = pages()
    changed = stale(docs, built)
    for path, text in built.items():
        if path in changed:
            file = docs / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
    return changed


__all__ = ["COMMAND", "pages", "stale", "write"]
