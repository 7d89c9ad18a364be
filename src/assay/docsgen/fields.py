"""Reference tables of a pydantic config model: each key with its type, default and meaning.

The meaning comes from the field's ``description`` or the docstring written under it in the
class body (the project's convention); nested models get their own table under a dotted prefix.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def markdown(text: str) -> str:
    """A docstring's reStructuredText markup as Markdown: ``x`` and :class:`x` become `x`."""
    text = _ROLE.sub(lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    return text.replace("``", "`")


def one_line(text: str) -> str:
    return " ".join(markdown(text).split())


def attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings written under each annotated attribute of ``cls`` and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, BaseModel) or not issubclass(klass, BaseModel):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        for stmt, after in zip(body.body, [*body.body[1:], None], strict=True):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(after.value.value)
    return docs


def type_name(annotation: Any) -> str:
    """A short, readable spelling of a field's type (``int | null``, ``"a" | "b"``)."""
    if annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        return f"list[{', '.join(type_name(a) for a in args if a is not Ellipsis)}]"
    if origin is dict:
        return f"dict[{', '.join(type_name(a) for a in args)}]"
    if origin is typing.Annotated:
        return type_name(args[0])
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS: tuple[tuple[type, str], ...] = (
    (annotated_types.Gt, ">"),
    (annotated_types.Ge, "≥"),
    (annotated_types.Lt, "<"),
    (annotated_types.Le, "≤"),
)


def bounds(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        for kind, sign in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, kind.__name__.lower())}")
    return ", ".join(parts)


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "see below"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except TypeError:
        text = str(value)
    return f"`{text}`"


def nested_models(annotation: Any, key: str) -> list[tuple[str, type[BaseModel]]]:
    """The config models a field holds, each with the dotted key its own keys go under:
    ``X`` or ``X | None`` at ``key``, ``dict[str, X]`` at ``key.NAME``, ``list[X]`` at
    ``key[]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(key, annotation)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return nested_models(args[1], f"{key}.NAME")
    if origin in (list, tuple, set, frozenset):
        return [found for arg in args for found in nested_models(arg, f"{key}[]")]
    return [found for arg in args for found in nested_models(arg, key)]


def field_tables(model: type[BaseModel], prefix: str = "", level: int = 2) -> str:
    """Markdown: a table of ``model``'s keys, then one section per nested model."""
    docs = attribute_docs(model)
    rows = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        meaning = one_line(field.description or docs.get(name, ""))
        limit = bounds(field)
        if limit:
            meaning = f"{meaning} ({limit})" if meaning else f"({limit})"
        typ = type_name(field.annotation)
        rows.append(f"| `{prefix}{name}` | {typ} | {default_text(field)} | {meaning} |")
        for key, sub in nested_models(field.annotation, f"{prefix}{name}"):
            if all(sub is not seen for _, seen in nested):
                nested.append((key, sub))
    parts = ["\n".join(rows)]
    for key, sub in nested:
        heading = "#" * min(level + 1, 6)
        about = one_line(inspect.getdoc(sub) or "") if sub.__doc__ else ""
        parts.append(f"{heading} `{key}` ({sub.__name__})" + (f"\n\n{about}" if about else ""))
        parts.append(field_tables(sub, prefix=f"{key}.", level=level + 1))
    return "\n\n".join(parts)


__all__ = ["attribute_docs", "field_tables", "markdown", "type_name"]
