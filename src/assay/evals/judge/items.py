"""Items as the user gives them (one mapping or a list; strings, lists or nothing per field), made
into the text a rubric shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assay.errors import UserError


def _criteria(criteria: str | Sequence[str] | None) -> tuple[str, ...]:
    if criteria is None:
        return ()
    if isinstance(criteria, str):
        return (criteria.strip(),) if criteria.strip() else ()
    return tuple(str(c).strip() for c in criteria if str(c).strip())


def _as_items(items: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(items, Mapping):
        return [items]
    out = list(items)
    for i, item in enumerate(out):
        if not isinstance(item, Mapping):
            raise UserError(
                f"judge item {i} is a {type(item).__name__}, not a mapping",
                hint="give dicts with question, answer, reference and/or context",
            )
    return out


def _absent(value: Any, name: str) -> bool:
    if value is None:
        return True
    if name == "answer":
        return False  # an empty answer is still an answer to grade
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Sequence | Mapping):
        return len(value) == 0
    return False


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _reference_text(value: Any) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        refs = [_text(v) for v in value if _text(v)]
        if len(refs) == 1:
            return refs[0]
        return "Any of these answers is correct:\n" + "\n".join(f"- {r}" for r in refs)
    return _text(value)


def _context_text(value: Any) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        parts = [_text(v) for v in value if _text(v)]
        return "\n\n".join(f"[{i}] {p}" for i, p in enumerate(parts, 1))
    return _text(value)
