"""Reading a judge's reply: the JSON object with its reasoning and score, checked against the scale."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from assay.evals.judge.scale import JudgeReply, Scale

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)


class VerdictParseError(ValueError):
    """A reply that holds no valid verdict; the message is what the judge is told on a re-ask."""


def _scan_objects(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    i = 0
    while (j := text.find("{", i)) >= 0:
        try:
            obj, end = decoder.raw_decode(text, j)
        except ValueError:
            i = j + 1
            continue
        if isinstance(obj, dict):
            out.append(obj)
            i = end
        else:
            i = j + 1
    return out


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in a reply: those inside code fences first, then the rest in order."""
    found: list[dict[str, Any]] = []
    for m in _FENCE.finditer(text):
        found.extend(_scan_objects(m.group(1)))
    found.extend(_scan_objects(text))
    return found


def parse_verdict(text: str, scale: Scale | Any = (1, 5)) -> JudgeReply:
    """The validated ``{"reasoning", "score"}`` object in a reply, or :class:`VerdictParseError`.

    Keys are matched case-insensitively; extra keys are ignored.
    """
    scale = Scale.parse(scale)
    objects = json_objects(text)
    if not objects:
        raise VerdictParseError("the reply has no JSON object")
    lowered = [{str(k).strip().lower(): v for k, v in o.items()} for o in objects]
    chosen = next((o for o in lowered if "score" in o), lowered[0])
    try:
        return scale.schema.model_validate(chosen)
    except ValidationError as exc:
        raise VerdictParseError(_describe(exc, scale)) from None


def _describe(exc: ValidationError, scale: Scale) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "the object"
        if err["type"] == "missing":
            parts.append(f"the JSON object has no '{loc}'")
            continue
        msg = str(err["msg"]).removeprefix("Value error, ")
        got = json.dumps(err.get("input"), default=str)[:80]
        extra = f"; it must be {scale.hint}" if loc == "score" else ""
        parts.append(f"'{loc}' is {got}: {msg}{extra}")
    return "; ".join(parts)
