"""The documentation site: the generated reference pages match the code, the generator's
tables say what the models say, and ``mkdocs build --strict`` passes (no broken link, no page
left out of the navigation, every docstring renders)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

import assay
import assay.docsgen
from assay.docsgen import COMMAND, pages, stale
from assay.docsgen.__main__ import main
from assay.docsgen.fields import field_tables

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    return pages()


def test_generated_pages_are_current(built: dict[str, str]) -> None:
    old = stale(DOCS, built)
    assert not old, f"out of date: {', '.join(old)}; run `{COMMAND}` and commit the pages"


def test_check_names_the_page_and_the_command(
    built: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(assay.docsgen, "pages", lambda: built)  # generated once, above
    for path, text in built.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    assert stale(tmp_path, built) == []
    cli = tmp_path / "reference/cli.md"
    cli.write_text(cli.read_text().replace("--max-tokens", "--max-tokenz"), encoding="utf-8")
    (tmp_path / "reference/recipes.md").unlink()
    assert stale(tmp_path, built) == ["reference/cli.md", "reference/recipes.md"]
    assert main(["--check", "--docs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "out of date: " + str(tmp_path / "reference/cli.md") in err
    assert f"run `{COMMAND}`" in err


def test_the_pages_hold_what_changes_with_the_code(built: dict[str, str]) -> None:
    cli = built["reference/cli.md"]
    assert "## `assay eval`" in cli and "### `assay docs search`" in cli
    assert "-m, --model MODEL" in cli  # generate's option, from its --help
    vocabulary = built["reference/cli-vocabulary.md"]
    assert "| `assay eval` | `--rag-mode` | `--mode` |" in vocabulary
    assert "| `assay generate` | `--cot step_by_step` | `--cot step` |" in vocabulary
    assert "| `optim.learning_rate` | float | `5e-05` |" in built["reference/recipes.md"]
    assert "| `openai.timeout_s` | float | `60.0` |" in built["reference/workspace-config.md"]
    assert "::: assay.models.facade.load" in built["reference/python.md"]


class Price(BaseModel):
    """Dollars per million tokens."""

    prompt: float = Field(default=0.0, ge=0)
    """Per prompt token."""


class Example(BaseModel):
    name: str
    """What it is called.
    Spread over ``two`` lines."""
    mode: Literal["a", "b"] = "a"
    limit: int | None = Field(default=None, description="At most this many.")
    prices: dict[str, Price] = Field(default_factory=dict)
    hidden: str = Field(default="", exclude=True)


def test_field_tables() -> None:
    assert field_tables(Example) == "\n".join(
        [
            "| Key | Type | Default | Meaning |",
            "|---|---|---|---|",
            "| `name` | str | required | What it is called. Spread over `two` lines. |",
            '| `mode` | "a" \\| "b" | `"a"` |  |',
            "| `limit` | int \\| null | `null` | At most this many. |",
            "| `prices` | dict[str, Price] | `{}` |  |",
            "",
            "### `prices.NAME` (Price)",
            "",
            "Dollars per million tokens.",
            "",
            "| Key | Type | Default | Meaning |",
            "|---|---|---|---|",
            "| `prices.NAME.prompt` | float | `0.0` | Per prompt token. (≥ 0) |",
        ]
    )


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    # No -q: mkdocs' quiet mode also stops --strict from counting warnings (a broken link).
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(tmp_path / "site")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    api = (tmp_path / "site/reference/python/index.html").read_text()
    assert f'id="{assay._EXPORTS["evaluate"]}.evaluate"' in api
    assert "assay eval" in (tmp_path / "site/reference/cli/index.html").read_text()
