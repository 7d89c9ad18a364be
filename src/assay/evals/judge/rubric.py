"""Rubrics: the judge's prompt (a Jinja template) and the item fields it needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from assay.errors import ConfigError
from assay.prompting.templates import PromptTemplate

RUBRICS_DIR = Path(__file__).parent.parent / "rubrics"
FIELDS = ("question", "answer", "reference", "context")
"""The item fields every rubric may use."""
ALIASES = {"input": "question", "prediction": "answer"}

_REQUIRES = re.compile(r"\{#-?\s*requires\s*:\s*(.*?)\s*-?#\}", re.S)


def rubric_names() -> list[str]:
    """The rubrics that ship with assay."""
    return sorted(p.stem for p in RUBRICS_DIR.glob("*.jinja"))


@dataclass(frozen=True)
class Rubric:
    """A judge prompt: a template plus the item fields it needs."""

    name: str
    template: PromptTemplate
    requires: frozenset[str]

    @classmethod
    def load(cls, spec: str | Path | PromptTemplate | Rubric) -> Rubric:
        """A bundled rubric by name, a ``.jinja`` file, or a template."""
        if isinstance(spec, Rubric):
            return spec
        if isinstance(spec, PromptTemplate):
            return cls(spec.name, spec, _requires(spec))
        text = str(spec)
        bundled = RUBRICS_DIR / f"{text}.jinja"
        path = Path(text).expanduser()
        if isinstance(spec, str) and re.fullmatch(r"[A-Za-z0-9_-]+", text) and bundled.is_file():
            template = PromptTemplate.from_file(bundled)
            return cls(text, template, _requires(template))
        if path.is_file():
            template = PromptTemplate.from_file(path)
            return cls(str(path), template, _requires(template))
        raise ConfigError(
            f"unknown rubric '{text}'",
            hint=f"bundled rubrics: {', '.join(rubric_names())}; or give the path of a .jinja file",
        )

    @property
    def sha256(self) -> str:
        return self.template.sha256


def _requires(template: PromptTemplate) -> frozenset[str]:
    m = _REQUIRES.search(template.source)
    if m:
        names = [n.strip() for n in m.group(1).replace(",", " ").split()]
        return frozenset(ALIASES.get(n, n) for n in names if n)
    used = {ALIASES.get(v, v) for v in template.variables}
    return frozenset(used & set(FIELDS))
