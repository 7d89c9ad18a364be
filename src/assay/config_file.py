"""One layer for every YAML config (workspace settings, task files, training configs): read a
file as a mapping with the line of each key, apply dotted ``key=value`` overrides, validate
against a pydantic class, and suggest the nearest name for a misspelt one.

    >>> loaded = read_yaml_mapping(Path("task.yaml"), what="task file", shape="name, kind, ...")
    >>> apply_overrides(loaded.data, parse_overrides(["fewshot.k=3"]), "task.yaml")
    >>> task = validate(TaskConfig, loaded.data, loaded.source, lines=loaded.lines)

Every problem is a one-line :class:`~assay.errors.ConfigError` naming the file and line (the
formatting itself is :mod:`assay.config_errors`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from assay.config_errors import explain, valid_keys, yaml_key_lines, yaml_problem
from assay.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


@dataclass
class ConfigText:
    """A config file read as a mapping, with the 1-based line of each dotted key."""

    data: dict[str, Any]
    source: str
    lines: dict[str, int] = field(default_factory=dict)


def read_yaml_mapping(
    path: Path, *, what: str = "config file", shape: str = "settings", empty: str | None = None
) -> ConfigText:
    """Read ``path`` as a YAML mapping. ``shape`` says what the mapping holds (for the error when
    the top level is something else); ``empty`` is the hint when an empty file is refused (an
    empty file is an empty mapping when it is None)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(str(path), exc)) from None
    if data is None:
        if empty is not None:
            raise ConfigError(f"{path} is empty", hint=empty)
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {shape} at the top level")
    return ConfigText(data, str(path), yaml_key_lines(text))


def parse_override(
    item: str, *, flag: str = "override", blank: Any = "", example: str = "optim.learning_rate=1e-4"
) -> tuple[str, Any]:
    """``"a.b=1"`` -> ``("a.b", 1)``: the value is read as YAML (numbers, booleans, lists,
    ``null``); text that is not valid YAML stays text, and nothing after ``=`` is ``blank``."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{flag} '{item}' is not key=value", hint=f"e.g. {example}")
    if not raw.strip():
        return key, blank
    try:
        return key, yaml.safe_load(raw)
    except yaml.YAMLError:
        return key, raw


def parse_overrides(
    items: Iterable[str] | Mapping[str, Any] | None,
    *,
    flag: str = "override",
    blank: Any = "",
    example: str = "optim.learning_rate=1e-4",
) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``; a mapping is taken as it is."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    return dict(parse_override(item, flag=flag, blank=blank, example=example) for item in items)


def set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str = "override") -> None:
    """``data["a"]["b"] = value`` for ``"a.b"``, making the sections on the way; refuses to
    descend into a key that holds a plain value."""
    parts = dotted.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"{source}: '{where}' is a value, so '{dotted}' cannot be set")
        node = child
    node[parts[-1]] = value


def apply_overrides(
    data: dict[str, Any],
    overrides: Mapping[str, Any],
    source: str = "",
    lines: dict[str, int] | None = None,
) -> None:
    """Each dotted override set in ``data`` (in place). With the file's ``lines``, an overridden
    key loses its line (0: none), so a problem with it is not blamed on the file."""
    for key, value in overrides.items():
        set_dotted(data, key, value, source or f"override '{key}'")
        if lines is not None:
            for known in [k for k in lines if k.startswith(key + ".")]:
                del lines[known]
            lines[key] = 0


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top, sections merged key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def validate(
    cls: type[M],
    data: Mapping[str, Any],
    source: str,
    *,
    lines: Mapping[str, int] | None = None,
    hidden: Iterable[str] = (),
) -> M:
    """``cls`` validated from ``data``; every problem in one ConfigError naming ``source`` and,
    from a file, the line (``hidden`` fields are never suggested as valid keys)."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        skip = set(hidden)
        keys = [k for k in valid_keys(cls) if k not in skip]
        raise explain(exc, source, keys, lines) from None


def close_names(name: str, names: Iterable[str], n: int = 1) -> list[str]:
    """The names nearest to a misspelt ``name`` (none when nothing is near)."""
    return difflib.get_close_matches(name, list(names), n=n)


def did_you_mean(name: str, names: Iterable[str], n: int = 1) -> str:
    """``"did you mean 'x'? "`` for the nearest names, or ``""``: a prefix for a hint."""
    near = close_names(name, names, n)
    return f"did you mean {', '.join(repr(x) for x in near)}? " if near else ""


__all__ = [
    "ConfigText",
    "apply_overrides",
    "close_names",
    "did_you_mean",
    "merge",
    "parse_override",
    "parse_overrides",
    "read_yaml_mapping",
    "set_dotted",
    "validate",
]
