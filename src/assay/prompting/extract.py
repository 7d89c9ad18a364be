"""Answer extraction: pull the answer out of a model's text, or say why it could not.

Every strategy returns an :class:`Extraction`. A failed extraction has ``ok=False``, ``value=None``
and a ``reason``; it is recorded as a failure and must never be scored as if it were an answer.

Strategies (each a plain function ``text -> Extraction``, plus arguments):

``last_number``
    The last number in the text, GSM8K conventions: thousands commas and ``$`` removed, a
    trailing period ignored, negatives and decimals kept; then written canonically
    (``"$1,200.50"`` -> ``"1200.5"``, ``"-3.0"`` -> ``"-3"``). Compare gold answers through
    :func:`normalize_number` too.
``choice_letter``
    A multiple-choice letter (``choices="ABCD"``): first the last ``answer is (B)`` /
    ``Answer: b`` phrase; else letters marked as options (``(B)``, ``[B]``, ``B)`` at a line
    start, or a reply that is just ``B``), accepted only when they all agree.
``regex``
    A user pattern; the value is group 1 (or the whole match when the pattern has no group).
``json_field``
    The first JSON object in the text (code fences are fine), then a dotted path such as
    ``answer`` or ``result.items.0``.
``answer_line``
    The last line that starts with ``Answer:`` (also ``Final answer:``, ``**Answer:**``).

Compose them: :func:`then` applies a second strategy to what the first found
(``then(answer_line, last_number)`` reads the number on the ``Answer:`` line); :func:`first_ok`
tries strategies in order and records which one succeeded. :func:`get_extractor` builds an
:class:`Extractor` by name and arguments, which it records, so a pipeline can state exactly how
answers were read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

from assay.errors import ConfigError
from assay.plugins import Registry


class Extraction(BaseModel):
    """The answer read from a text, or a recorded failure to read one."""

    model_config = ConfigDict(frozen=True)

    value: str | None
    ok: bool
    strategy: str
    reason: str = ""

    @classmethod
    def found(cls, value: str, strategy: str) -> Extraction:
        return cls(value=value, ok=True, strategy=strategy)

    @classmethod
    def failed(cls, strategy: str, reason: str) -> Extraction:
        return cls(value=None, ok=False, strategy=strategy, reason=reason)


# -- last number ---------------------------------------------------------------------------------

_NUMBER = re.compile(
    r"(?<![\w.])"  # not inside a word or another number ("COVID-19" gives 19, not -19)
    r"(?P<neg>[-\u2212])?\$?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?![\d])"
)


def normalize_number(text: str) -> str | None:
    """Canonical form of a number as GSM8K answers are compared: ``"$1,200.50."`` -> ``"1200.5"``.

    Returns None when ``text`` is not a number.
    """
    s = text.strip().replace(",", "").replace("$", "").replace("\u2212", "-").replace(" ", "")
    s = s.rstrip(".")
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    out = format(d.normalize(), "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def last_number(text: str) -> Extraction:
    matches = list(_NUMBER.finditer(text))
    if not matches:
        return Extraction.failed("last_number", "no number in the text")
    m = matches[-1]
    raw = ("-" if m.group("neg") else "") + m.group("num")
    value = normalize_number(raw)
    if value is None:  # pragma: no cover - the pattern only matches numbers
        return Extraction.failed("last_number", f"could not read {raw!r} as a number")
    return Extraction.found(value, "last_number")


# -- choice letter -------------------------------------------------------------------------------

_ANSWER_PHRASE = re.compile(
    r"\banswer\b\s*(?:is\b)?\s*(?:[:=\-]\s*)?(?:option\s+|choice\s+)?"
    r"(?P<open>[(\[]\s*)?(?P<letter>[A-Za-z])(?P<close>\s*[)\]])?(?P<after>.?)",
    re.IGNORECASE,
)
_MARKED = re.compile(r"[(\[](?P<a>[A-Z])[)\]]|^\s*\**(?P<b>[A-Z])\**\s*[).:]", re.MULTILINE)
_BARE = re.compile(r"^\W*(?P<letter>[A-Za-z])\W*$")


def _letters(choices: str | Sequence[str]) -> list[str]:
    letters = [c.upper() for c in choices]
    if not letters or any(len(c) != 1 or not c.isalpha() for c in letters):
        raise ConfigError(f"choices must be single letters, got {list(choices)!r}")
    return letters


def choice_letter(text: str, choices: str | Sequence[str] = "ABCDE") -> Extraction:
    letters = _letters(choices)
    name = "choice_letter"
    phrases = []
    for m in _ANSWER_PHRASE.finditer(text):
        letter = m.group("letter")
        if letter.upper() not in letters:
            continue
        after = m.group("after")
        if after.isalnum():
            continue  # the letter starts a word: "the answer is Because ..."
        bracketed = bool(m.group("open")) and bool(m.group("close"))
        if letter.islower() and not bracketed and after not in ("", ".", ",", ";", ")", "!"):
            continue  # "the answer is a bit ..." is not an answer; "answer: b" is
        phrases.append(letter.upper())
    if phrases:
        return Extraction.found(phrases[-1], name)
    bare = _BARE.match(text)
    if bare and bare.group("letter").upper() in letters:
        return Extraction.found(bare.group("letter").upper(), name)
    marked = [m.group("a") or m.group("b") for m in _MARKED.finditer(text)]
    marked = [c for c in marked if c in letters]
    distinct = sorted(set(marked))
    if len(distinct) == 1:
        return Extraction.found(distinct[0], name)
    if len(distinct) > 1:
        return Extraction.failed(
            name,
            f"several different letters are marked ({', '.join(distinct)}) and none is "
            "stated as the answer",
        )
    return Extraction.failed(name, f"no choice letter among {', '.join(letters)} found")


# -- regex ---------------------------------------------------------------------------------------


def compile_pattern(pattern: str | re.Pattern[str], group: int = 1) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    except re.error as exc:
        raise ConfigError(f"invalid regular expression {pattern!r}: {exc}") from None
    if compiled.groups and group > compiled.groups:
        raise ConfigError(
            f"the pattern {compiled.pattern!r} has {compiled.groups} group(s), not group {group}"
        )
    return compiled


def regex(
    text: str,
    pattern: str | re.Pattern[str],
    group: int = 1,
    select: str = "first",
) -> Extraction:
    """Group ``group`` of the first (or, with ``select="last"``, the last) match of ``pattern``;
    the whole match when the pattern has no groups."""
    compiled = compile_pattern(pattern, group)
    name = "regex"
    matches = list(compiled.finditer(text))
    if not matches:
        return Extraction.failed(name, f"no match for {compiled.pattern!r}")
    m = matches[-1] if select == "last" else matches[0]
    value = m.group(group if compiled.groups else 0)
    if value is None:
        return Extraction.failed(name, f"group {group} of {compiled.pattern!r} did not take part")
    value = value.strip()
    if not value:
        return Extraction.failed(name, f"{compiled.pattern!r} matched an empty string")
    return Extraction.found(value, name)


# -- JSON field ----------------------------------------------------------------------------------


def first_json_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def json_field(text: str, path: str = "answer") -> Extraction:
    """The value at dotted ``path`` in the first JSON object (strings stripped, the rest as
    JSON). An empty or blank string is no answer, as an empty ``Answer:`` line is not."""
    name = "json_field"
    obj = first_json_object(text)
    if obj is None:
        return Extraction.failed(name, "no JSON object in the text")
    node: Any = obj
    walked: list[str] = []
    for part in [p for p in path.split(".") if p]:
        walked.append(part)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif (
            isinstance(node, list)
            and part.lstrip("-").isdigit()
            and -len(node) <= int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            return Extraction.failed(name, f"the JSON object has no field '{'.'.join(walked)}'")
    if node is None:
        return Extraction.failed(name, f"the field '{path}' is null")
    value = node if isinstance(node, str) else json.dumps(node, ensure_ascii=False)
    if not value.strip():
        return Extraction.failed(name, f"the field '{path}' is empty")
    return Extraction.found(value.strip(), name)


# -- answer line ---------------------------------------------------------------------------------

_ANSWER_LINE = re.compile(
    r"^[\s>#*_]*(?:final\s+)?answer[\s*_]*:[\s*_]*(?P<value>.*?)[\s*_]*$",
    re.IGNORECASE | re.MULTILINE,
)


def answer_line(text: str) -> Extraction:
    """What follows ``Answer:`` on the last line that starts with it."""
    name = "answer_line"
    matches = list(_ANSWER_LINE.finditer(text))
    if not matches:
        return Extraction.failed(name, "no line starting with 'Answer:'")
    value = matches[-1].group("value").strip()
    if value.endswith(".") and not value.endswith(".."):
        value = value[:-1].rstrip()
    if not value:
        return Extraction.failed(name, "the 'Answer:' line is empty")
    return Extraction.found(value, name)


# -- composition ---------------------------------------------------------------------------------

ExtractFn = Callable[[str], Extraction]


@dataclass(frozen=True)
class Extractor:
    """A strategy with its arguments bound; calling it extracts, ``spec()`` records it."""

    strategy: str
    args: Mapping[str, Any] = field(default_factory=dict)
    fn: ExtractFn | None = field(default=None, repr=False, compare=False)

    def __call__(self, text: str) -> Extraction:
        if self.fn is not None:
            return self.fn(text)
        return STRATEGIES[self.strategy](text, **self.args)

    def spec(self) -> dict[str, Any]:
        return {"strategy": self.strategy, **dict(self.args)}


def _as_extractor(x: Extractor | ExtractFn) -> Extractor:
    if isinstance(x, Extractor):
        return x
    return Extractor(getattr(x, "__name__", "custom"), fn=x)


def then(first: Extractor | ExtractFn, second: Extractor | ExtractFn) -> Extractor:
    """Apply ``second`` to the value ``first`` found (``answer_line`` then ``last_number``)."""
    a, b = _as_extractor(first), _as_extractor(second)
    name = f"{a.strategy}>{b.strategy}"

    def run(text: str) -> Extraction:
        got = a(text)
        if not got.ok or got.value is None:
            return Extraction.failed(name, got.reason)
        inner = b(got.value)
        if not inner.ok or inner.value is None:
            return Extraction.failed(name, f"{inner.reason} in {got.value!r}")
        return Extraction.found(inner.value, name)

    return Extractor(name, {"steps": [a.spec(), b.spec()]}, fn=run)


def first_ok(*extractors: Extractor | ExtractFn) -> Extractor:
    """Try strategies in order; the result names the one that succeeded, or all the reasons."""
    steps = [_as_extractor(x) for x in extractors]
    if not steps:
        raise ConfigError("first_ok needs at least one strategy")
    name = "first_ok(" + ",".join(s.strategy for s in steps) + ")"

    def run(text: str) -> Extraction:
        reasons = []
        for step in steps:
            got = step(text)
            if got.ok:
                return got
            reasons.append(f"{step.strategy}: {got.reason}")
        return Extraction.failed(name, "; ".join(reasons))

    return Extractor(name, {"steps": [s.spec() for s in steps]}, fn=run)


STRATEGIES: Registry[Callable[..., Extraction]] = Registry("extraction strategy")
"""Strategy name → ``fn(text, **args) -> Extraction``; :meth:`Registry.register` adds one."""
for _strategy in (last_number, choice_letter, regex, json_field, answer_line):
    STRATEGIES.register(_strategy.__name__, _strategy)


def get_extractor(strategy: str, **args: Any) -> Extractor:
    """An :class:`Extractor` by name; arguments are checked now, not at the first answer."""
    if strategy not in STRATEGIES:
        raise STRATEGIES.unknown(strategy)
    if strategy == "regex":
        if "pattern" not in args:
            raise ConfigError("the regex strategy needs a 'pattern'")
        compile_pattern(args["pattern"], int(args.get("group", 1)))
    if strategy == "choice_letter" and "choices" in args:
        _letters(args["choices"])
    try:
        STRATEGIES[strategy]("", **args)
    except TypeError as exc:
        raise ConfigError(f"bad arguments for the {strategy} strategy: {exc}") from None
    return Extractor(strategy, dict(args))


SPEC_HELP = "last-number, choice[:ABCD], regex:PATTERN, json:FIELD or answer-line"


def parse_extractor(spec: str) -> Extractor:
    """An :class:`Extractor` from a short text, as typed on the command line.

    ``last-number``, ``choice`` (letters A-E) or ``choice:ABCD``, ``regex:PATTERN`` (group 1, or
    the whole match), ``json:FIELD`` (a dotted path), ``answer-line``. Underscores work too.
    """
    name, sep, arg = spec.partition(":")
    name = name.strip().replace("_", "-")
    if name == "last-number" and not sep:
        return get_extractor("last_number")
    if name == "answer-line" and not sep:
        return get_extractor("answer_line")
    if name in ("choice", "choice-letter"):
        return get_extractor("choice_letter", **({"choices": arg.strip()} if arg.strip() else {}))
    if name == "regex" and arg:
        return get_extractor("regex", pattern=arg)
    if name in ("json", "json-field") and arg.strip():
        return get_extractor("json_field", path=arg.strip())
    raise ConfigError(f"unknown answer extraction '{spec}'", hint=f"use {SPEC_HELP}")


__all__ = [
    "SPEC_HELP",
    "STRATEGIES",
    "Extraction",
    "Extractor",
    "answer_line",
    "choice_letter",
    "first_json_object",
    "first_ok",
    "get_extractor",
    "json_field",
    "last_number",
    "normalize_number",
    "parse_extractor",
    "regex",
    "then",
]
