"""Swap lists: terms of one group of people exchanged for another's, in text.

A list (YAML) names groups of terms, aligned by position, and the pairs of groups to swap::

    groups:
      female: [she, her, mother, Mrs]
      male:   [he, his, father, Mr]
    swaps:                 # optional: with two groups, the one pair; with more, the first
      - [female, male]     # group against each other one
    match_case: false      # true: a term matches only as written or in capitals (names)

A swap exchanges both directions at once ("he told her" becomes "she told him"), so a swapped
text is as natural as the original and swapping it again gives the original back (up to
terms with two counterparts, her -> his / him, where the first listed wins).

Terms match as whole words (not inside another word: "he" is not swapped in "the", "her" not
in "there") and keep the case they were written in: mother -> father, Mother -> Father,
MOTHER -> FATHER. Several-word and hyphenated terms (mother-in-law) are matched before their
parts.

Built-in lists: ``gender`` (gendered words and pronouns) and ``names`` (first names of
Bertrand and Mullainathan, 2004), in ``assay/checks/data/swaps``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from assay.errors import UserError

BUILTIN_DIR = Path(__file__).parent / "data" / "swaps"


def builtin_lists() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def _cased(written: str, term: str) -> str:
    """``term`` in the case ``written`` was in."""
    if len(written) > 1 and written.isupper():
        return term.upper()
    if written[:1].isupper():
        return term[:1].upper() + term[1:]
    if written.islower():
        return term.lower()
    return term


@dataclass(frozen=True)
class Swap:
    """One pair of groups, exchanged both ways."""

    a: str
    b: str
    mapping: Mapping[str, str]  # a term as listed (lower case unless match_case) -> its swap
    match_case: bool

    @property
    def name(self) -> str:
        return f"{self.a} <-> {self.b}"

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        terms = sorted(self.mapping, key=lambda t: (-len(t), t))
        if self.match_case:
            terms = sorted({v for t in terms for v in (t, t.upper())}, key=lambda t: (-len(t), t))
        body = "|".join(re.escape(t) for t in terms)
        flags = 0 if self.match_case else re.IGNORECASE
        return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", flags)

    def apply(self, text: str) -> tuple[str, int]:
        """``text`` with every term swapped, and how many were."""
        lookup = (
            {**self.mapping, **{k.upper(): v for k, v in self.mapping.items()}}
            if self.match_case
            else self.mapping
        )

        def swap(m: re.Match[str]) -> str:
            written = m.group(0)
            key = written if self.match_case else written.lower()
            return _cased(written, lookup[key])

        return self._pattern.subn(swap, text)

    def apply_value(self, value: Any) -> tuple[Any, int]:
        """A row's value with terms swapped: strings, and strings inside lists and dicts."""
        if isinstance(value, str):
            return self.apply(value)
        if isinstance(value, list):
            parts = [self.apply_value(v) for v in value]
            return [p for p, _ in parts], sum(n for _, n in parts)
        if isinstance(value, dict):
            done = {k: self.apply_value(v) for k, v in value.items()}
            return {k: p for k, (p, _) in done.items()}, sum(n for _, n in done.values())
        return value, 0


@dataclass(frozen=True)
class SwapList:
    name: str
    groups: Mapping[str, tuple[str, ...]]
    swaps: tuple[Swap, ...]
    source: str


def _fail(where: str, what: str, hint: str | None = None) -> UserError:
    return UserError(f"{where}: {what}", hint=hint or "see `assay check counterfactual --help`")


def parse_swaps(data: Any, where: str, name: str | None = None) -> SwapList:
    """A swap list from its YAML data; ``where`` names the file in errors."""
    if not isinstance(data, dict) or not isinstance(data.get("groups"), dict):
        raise _fail(where, "needs 'groups': a mapping of group name to a list of terms")
    unknown_keys = set(data) - {"groups", "swaps", "match_case"}
    if unknown_keys:
        raise _fail(where, f"unknown field {', '.join(sorted(unknown_keys))}")
    match_case = bool(data.get("match_case", False))
    groups: dict[str, tuple[str, ...]] = {}
    for group, terms in data["groups"].items():
        if not isinstance(terms, list) or not terms:
            raise _fail(where, f"groups.{group} is empty: list the group's terms")
        bad = [t for t in terms if not isinstance(t, str) or not t.strip()]
        if bad:
            raise _fail(where, f"groups.{group}: {bad[0]!r} is not a term (a word or phrase)")
        groups[str(group)] = tuple(t.strip() for t in terms)
    if len(groups) < 2:
        raise _fail(where, "needs at least two groups to swap between")
    names = list(groups)
    pairs = data.get("swaps")
    if pairs is None:
        pairs = [[names[0], other] for other in names[1:]]
    if not isinstance(pairs, list) or not pairs:
        raise _fail(where, "swaps must be a list of [group, group] pairs")
    swaps = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _fail(where, f"swaps[{i}] must be a pair of group names, got {pair!r}")
        a, b = (str(p) for p in pair)
        for g in (a, b):
            if g not in groups:
                raise _fail(
                    where, f"swaps[{i}] names unknown group '{g}'", f"groups: {', '.join(names)}"
                )
        if a == b:
            raise _fail(where, f"swaps[{i}] swaps '{a}' with itself")
        if len(groups[a]) != len(groups[b]):
            raise _fail(
                where,
                f"swaps[{i}]: groups.{a} has {len(groups[a])} terms and groups.{b} "
                f"{len(groups[b])}; they are paired by position, so give both the same number",
            )
        mapping: dict[str, str] = {}
        for x, y in [
            *zip(groups[a], groups[b], strict=True),
            *zip(groups[b], groups[a], strict=True),
        ]:
            key = x if match_case else x.lower()
            mapping.setdefault(key, y)  # a term with two counterparts: the first listed wins
        swaps.append(Swap(a, b, mapping, match_case))
    return SwapList(name or Path(where).stem, groups, tuple(swaps), where)


def load_swaps(spec: str | Path) -> SwapList:
    """A built-in list (``gender``, ``names``) or a YAML file."""
    import yaml

    path = Path(spec)
    if not path.is_file() and str(spec) in builtin_lists():
        path = BUILTIN_DIR / f"{spec}.yaml"
    if not path.is_file():
        raise UserError(
            f"no swap list '{spec}'",
            hint=f"give a YAML file or a built-in list: {', '.join(builtin_lists())}",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the swap list ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise UserError(f"{path}{line}: {problem}") from None
    return parse_swaps(data, str(path), path.stem)


__all__ = ["BUILTIN_DIR", "Swap", "SwapList", "builtin_lists", "load_swaps", "parse_swaps"]
