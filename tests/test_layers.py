"""The layer order of docs/design/layers.md, checked with import-linter's contract in
pyproject.toml: packages import only from the layers below them, and every package has a layer."""

from __future__ import annotations

import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import assay

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
SOURCE = Path(assay.__file__).resolve().parents[1]

LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))"
)


def lint(config: Path, source: Path) -> subprocess.CompletedProcess[str]:
    # A fresh interpreter, so the graph is built from `source` and not from the assay already
    # imported here.
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run(
        [sys.executable, "-c", LINT, str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=120,
    )


def layers() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "layers"]
    return list(contract["layers"])


def test_the_layer_contract_is_kept() -> None:
    result = lint(PYPROJECT, SOURCE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_every_package_has_a_layer() -> None:
    placed = {name.strip() for layer in layers() for name in re.split(r"[|:]", layer)}
    found = {m.name for m in pkgutil.iter_modules(assay.__path__)}
    missing = sorted(found - placed)
    assert not missing, (
        f"assay.{', assay.'.join(missing)} has no layer: add it to the layers of "
        "[tool.importlinter] in pyproject.toml (see docs/design/layers.md)"
    )
    assert not placed - found, f"layers name packages that do not exist: {placed - found}"


def test_an_upward_import_inside_a_function_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(
        SOURCE / "assay", tmp_path / "src" / "assay", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    estimate = tmp_path / "src" / "assay" / "stats" / "estimate.py"
    estimate.write_text(
        estimate.read_text(encoding="utf-8")
        + "\n\ndef _upward() -> None:\n    from assay.cli.main import main\n\n    main()\n",
        encoding="utf-8",
    )
    result = lint(tmp_path / "pyproject.toml", tmp_path / "src")
    assert result.returncode != 0
    assert "assay.stats is not allowed to import assay.cli" in result.stdout
