"""The prompt for answering from numbered sources, and the parsing of citations in an answer.

Sources are numbered in rank order, ``[1]``, ``[2]``, ..., each labelled with its document's
title and page(s). The model is told to answer only from them, in JSON whose every sentence
lists the numbers of the sources that state it (see :mod:`assay.rag.contract`), and to give no
sentences when they do not answer the question. The answer is shown with inline markers,
``[1]`` or ``[2, p. 3]``, which :func:`parse_citations` reads back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.models.types import Message

INSUFFICIENT = "The documents do not contain enough information to answer this."

SYSTEM = (
    "You answer questions using only the numbered sources below, never outside knowledge. "
    "Answer in one to three short sentences, copying names and figures exactly as the sources "
    "give them, and give for each sentence the numbers of the sources that state it. Reply in "
    'JSON: an object whose "sentences" list holds one object per sentence, with its "text" and '
    'its "cites". If the sources do not answer the question, reply {"sentences": []}.'
)


def source_block(n: int, label: str, text: str) -> str:
    return f"[{n}] {label}\n{text.strip()}"


def build_messages(question: str, blocks: list[str]) -> list[Message]:
    """A system turn with the instructions and a user turn with the sources and the question."""
    sources = "\n\n".join(blocks) if blocks else "(no sources)"
    user = f"Sources:\n\n{sources}\n\nQuestion: {question.strip()}\nAnswer, citing the sources:"
    return [Message(role="system", content=SYSTEM), Message(role="user", content=user)]


# -- citations ----------------------------------------------------------------------------------

_BRACKET = re.compile(r"\[([^\[\]\n]{1,60})\]")
_ALLOWED = re.compile(r"^(?:sources?|src|pages?|pp?\.?|[\d\s,;.\-–])*$", re.IGNORECASE)
_PAGE = re.compile(r"(?:pages?|pp?)\.?\s*(\d+)(?:\s*[-–]\s*\d+)?", re.IGNORECASE)
_NUMBER = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")


@dataclass(frozen=True)
class CitationMark:
    """One source number cited in the answer text, with the page it names (if any)."""

    n: int
    page: int | None
    raw: str
    start: int


def parse_citations(text: str, max_range: int = 20) -> list[CitationMark]:
    """Citation marks in ``text``: ``[1]``, ``[1, 2]``, ``[1-3]``, ``[2, p. 3]``, ``[1; 2, pp. 4-5]``,
    ``[Source 2]``. Brackets holding anything else (``[a]``, ``[citation needed]``) are ignored."""
    marks: list[CitationMark] = []
    for m in _BRACKET.finditer(text):
        inner = m.group(1)
        if not any(c.isdigit() for c in inner) or not _ALLOWED.match(inner):
            continue
        for part in re.split(r";", inner):
            page_m = _PAGE.search(part)
            page = int(page_m.group(1)) if page_m else None
            rest = _PAGE.sub(" ", part)
            for num in _NUMBER.finditer(rest):
                lo = int(num.group(1))
                hi = int(num.group(2)) if num.group(2) else lo
                if hi < lo or hi - lo > max_range:
                    hi = lo
                for n in range(lo, hi + 1):
                    marks.append(CitationMark(n=n, page=page, raw=m.group(0), start=m.start()))
    return marks


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def says_insufficient(text: str) -> bool:
    """Whether the answer gives the fixed phrase (case, punctuation and spacing aside)."""
    said = _normalise(text.replace("n't", " not"))
    return "not contain enough information" in said or _normalise(INSUFFICIENT) in said


__all__ = [
    "INSUFFICIENT",
    "SYSTEM",
    "CitationMark",
    "build_messages",
    "parse_citations",
    "says_insufficient",
    "source_block",
]
