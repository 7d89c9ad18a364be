"""One formatter for every config that pydantic validates (settings, task files, recipes, CLI
option groups): all problems at once, each with its key and, for a YAML file, its line, on one
line, never pydantic's multi-line text with its documentation URL.

    config.yaml:2: unknown key 'batch_sise'                (hint: did you mean 'batch_size'?)
    task.yaml: 2 problems: line 3: unknown key 'scorrers' (did you mean 'scorers'?); line 5:
        fewshot.k: Input should be greater than or equal to 0
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from assay.errors import ConfigError


def valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key a config class accepts (nested sections included)."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        out.append(key)
        # An optional block (``Block | None``) has keys of its own too.
        for ann in [a for a in get_args(info.annotation) if a is not type(None)] or [
            info.annotation
        ]:
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                out.extend(valid_keys(ann, prefix=f"{key}."))
    return out


def yaml_problem(source: str, exc: yaml.YAMLError) -> str:
    """A YAML parse error on one line, ``file:line: not valid YAML (what the parser expected)``,
    not the parser's several lines with their carets."""
    mark = getattr(exc, "problem_mark", None)
    at = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{source}{at}: not valid YAML ({problem})"


def yaml_key_lines(text: str) -> dict[str, int]:
    """The 1-based line of every key in a YAML mapping, by dotted path (``dataset.source``;
    list items as ``scorers.0``). Empty when the text is not YAML."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def visit(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                dotted = f"{path}.{key.value}" if path else str(key.value)
                lines[dotted] = key.start_mark.line + 1
                visit(value, dotted)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                dotted = f"{path}.{i}" if path else str(i)
                lines.setdefault(dotted, item.start_mark.line + 1)
                visit(item, dotted)

    visit(root, "")
    return lines


@dataclass
class Problem:
    key: str
    text: str
    hint: str | None = None
    line: int | None = None


def _suggest(where: str, keys: list[str]) -> str | None:
    parent, _, leaf = where.rpartition(".")
    siblings = [k for k in keys if k.rpartition(".")[0] == parent]
    by_leaf = {k.rpartition(".")[2]: k for k in siblings}
    near = [by_leaf[m] for m in difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.6)]
    if not near:
        ancestors = {".".join(where.split(".")[:i]) for i in range(1, where.count(".") + 1)}
        near = difflib.get_close_matches(where, [k for k in keys if k not in ancestors], n=1)
    if near:
        return f"did you mean '{near[0]}'?"
    return f"valid keys{' in ' + parent if parent else ''}: {', '.join(siblings)}"


def problems(
    err: ValidationError,
    keys: list[str],
    lines: Mapping[str, int] | None = None,
    names: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Each error as key + text (+ hint, + line); a field that is "missing" only because its
    key was misspelt is left out, the misspelling says it."""
    out: list[Problem] = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        key = ".".join(loc)
        shown = (names or {}).get(key, key)
        line = None
        for i in range(len(loc), 0, -1):  # the nearest key the file has
            line = (lines or {}).get(".".join(loc[:i]))
            if line is not None:
                break
        if e["type"] == "extra_forbidden":
            out.append(Problem(key, f"unknown key '{shown}'", _suggest(key, keys), line))
        elif e["type"] == "missing":
            out.append(Problem(key, f"'{shown}' is required", None, line))
        else:
            got = e.get("input")
            value = "" if isinstance(got, dict | list) or not loc else f" (got {got!r})"
            msg = str(e["msg"]).removeprefix("Value error, ")
            out.append(Problem(key, f"{shown}: {msg}{value}" if shown else msg, None, line))
    suggested = {p.hint.split("'")[1] for p in out if p.hint and p.hint.startswith("did you")}
    kept = [p for p in out if not (p.text.endswith("is required") and p.key in suggested)]
    return sorted(kept, key=lambda p: p.line or 0)


def explain(
    err: ValidationError,
    source: str,
    keys: list[str],
    lines: Mapping[str, int] | None = None,
    names: Mapping[str, str] | None = None,
) -> ConfigError:
    """All of a validation error's problems as one ``ConfigError`` naming ``source``."""
    found = problems(err, keys, lines, names)
    if len(found) == 1:
        (p,) = found
        at = f":{p.line}" if p.line else ""
        return ConfigError(f"{source}{at}: {p.text}", hint=p.hint)
    parts = [
        (f"line {p.line}: " if p.line else "")
        + p.text
        + (f" ({p.hint})" if p.hint and p.hint.startswith("did you") else "")
        for p in found
    ]
    return ConfigError(f"{source}: {len(found)} problems: " + "; ".join(parts))


__all__ = ["Problem", "explain", "problems", "valid_keys", "yaml_key_lines", "yaml_problem"]
