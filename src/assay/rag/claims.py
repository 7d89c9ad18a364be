"""Split an answer into claims, each with the source numbers it cites.

The default splitter is deterministic: sentences (and clauses joined by ``;``), with citation
markers such as ``[1]`` or ``[2, p. 3]`` stripped from the text and kept as the claim's
citations. A marker that opens a sentence (``... in 2019. [2] The model ...``) belongs to the
sentence before it. Sentences that assert nothing (the fixed "not enough information" reply,
questions, fragments of fewer than ``min_words`` words) are dropped.

:func:`split_claims_llm` asks a model for atomic claims instead (structured reply), for answers
whose sentences pack several facts each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from assay.rag.prompt import parse_citations, says_insufficient

if TYPE_CHECKING:
    from assay.models.facade import Model

MIN_WORDS = 3
# Abbreviations whose final period does not end a sentence.
_ABBREVIATIONS = frozenset(
    "al e.g i.e etc fig figs eq eqs sec vs cf approx no ref refs tab dr mr mrs ms prof st vol pp p".split()  # noqa: SIM905 (a word list reads better as one string)
)
_BRACKET = re.compile(r"\[[^\[\]\n]{1,60}\]")
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_LEADING_MARKS = re.compile(r"^(?:\s*\[[^\[\]\n]{1,60}\])+")


@dataclass
class Claim:
    """One claim of an answer: its text without citation markers, and the sources it cites."""

    index: int
    text: str
    citations: list[int] = field(default_factory=list)
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "citations": self.citations}


def _is_marker(bracket: str) -> bool:
    return bool(parse_citations(bracket))


def strip_markers(text: str) -> tuple[str, list[int]]:
    """``text`` without its citation markers, and the cited numbers in order (no repeats)."""
    cited: list[int] = []
    for mark in parse_citations(text):
        if mark.n not in cited:
            cited.append(mark.n)

    def drop(m: re.Match[str]) -> str:
        return "" if _is_marker(m.group(0)) else m.group(0)

    clean = _BRACKET.sub(drop, text)
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
    return " ".join(clean.split()), cited


def _ends_with_abbreviation(piece: str) -> bool:
    words = piece.rstrip().split()
    if not words:
        return False
    last = words[-1].rstrip(".").lower()
    # "et al.", "e.g.", single capitals ("J. Smith") and numbered items ("Fig. 3") keep going.
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def sentences(text: str) -> list[str]:
    """Sentences of ``text``; list items and paragraphs are sentences too."""
    pieces: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        piece = text[start : m.end()]
        if "\n\n" not in m.group(0) and _ends_with_abbreviation(piece):
            continue
        if _next_starts_lower(text, m.end()):
            continue
        pieces.append(piece)
        start = m.end()
    pieces.append(text[start:])
    out = [_LIST_MARK.sub("", p).strip() for p in pieces]
    return [p for p in out if p]


def _next_starts_lower(text: str, at: int) -> bool:
    rest = _LEADING_MARKS.sub("", text[at:]).lstrip()
    return bool(rest) and rest[0].islower()


def split_claims(answer: str, *, min_words: int = MIN_WORDS, clauses: bool = True) -> list[Claim]:
    """The claims of ``answer`` (see the module docstring). ``clauses`` also splits at ``;``."""
    parts = sentences(answer)
    # A marker that opens a sentence is the previous sentence's citation.
    moved: list[str] = []
    for part in parts:
        lead = _LEADING_MARKS.match(part)
        if lead and moved and _is_marker(lead.group(0)):
            moved[-1] = moved[-1] + " " + lead.group(0).strip()
            part = part[lead.end() :].strip()
        if part:
            moved.append(part)
    claims: list[Claim] = []
    for sentence in moved:
        pieces = _clauses(sentence) if clauses else [sentence]
        for piece in pieces:
            text, cited = strip_markers(piece)
            if not _asserts(text, min_words):
                continue
            claims.append(Claim(index=len(claims), text=text, citations=cited, raw=piece))
    return claims


def _clauses(sentence: str) -> list[str]:
    """Split at ``;``; clauses without markers share the sentence's final markers."""
    parts = [p.strip() for p in sentence.split(";") if p.strip()]
    if len(parts) < 2:
        return [sentence]
    tail = re.search(r"((?:\s*\[[^\[\]\n]{1,60}\])+)\s*[.!?]?\s*$", parts[-1])
    shared = tail.group(1).strip() if tail and _is_marker(tail.group(1)) else ""
    out = []
    for p in parts:
        if shared and not parse_citations(p):
            p = f"{p} {shared}"
        out.append(p)
    return out


def _asserts(text: str, min_words: int) -> bool:
    if len(text.split()) < min_words:
        return False
    if text.rstrip().endswith("?"):
        return False
    return not says_insufficient(text)


# -- model-based splitting -------------------------------------------------------------------


class ClaimItem(BaseModel):
    text: str = Field(min_length=1, max_length=200)
    citations: list[int] = Field(default_factory=list, max_length=5)


class ClaimList(BaseModel):
    claims: list[ClaimItem] = Field(max_length=12)


SPLIT_PROMPT = """Break the answer below into atomic claims: short, self-contained statements \
that each assert one fact, with pronouns replaced by what they refer to. For each claim list the \
numbers of the sources the answer cites for it (the numbers in square brackets, e.g. [2] -> 2); \
an empty list if none. Leave out questions and statements that assert nothing.

Answer:
{answer}"""


def split_claims_llm(
    model: Model, answers: Sequence[str], *, max_attempts: int = 3
) -> list[list[Claim]]:
    """Atomic claims per answer, written by ``model``. An answer whose reply stays invalid
    falls back to :func:`split_claims` (recorded as ``raw='fallback'`` on its claims)."""
    from assay.models.types import Sampling
    from assay.prompting.structured import generate_structured

    prompts = [SPLIT_PROMPT.format(answer=a.strip()) for a in answers]
    sampling = Sampling(max_tokens=1024, temperature=0.0, seed=0)
    replies = generate_structured(
        model, prompts, ClaimList, sampling=sampling, max_attempts=max_attempts
    )
    out: list[list[Claim]] = []
    for answer, reply in zip(answers, replies, strict=True):
        if reply.value is None:
            claims = split_claims(answer)
            for c in claims:
                c.raw = "fallback"
            out.append(claims)
            continue
        assert isinstance(reply.value, ClaimList)
        items = [i for i in reply.value.claims if i.text.strip()]
        out.append(
            [
                Claim(i, " ".join(item.text.split()), list(dict.fromkeys(item.citations)), "llm")
                for i, item in enumerate(items)
            ]
        )
    return out


__all__ = [
    "Claim",
    "ClaimList",
    "sentences",
    "split_claims",
    "split_claims_llm",
    "strip_markers",
]
