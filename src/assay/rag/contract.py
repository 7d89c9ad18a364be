"""The citation contract of a generated answer: every sentence cites a given source, and the
sources it cites back it.

The model is asked for JSON, ``{"sentences": [{"text": ..., "cites": [1, 2]}, ...]}``, under a
schema whose ``cites`` may only hold the numbers of the sources it was given and must hold at
least one; an empty list of sentences means the sources do not answer the question. Local
``hf`` and ``gguf`` models decode under the schema (so the JSON and its citations cannot be
malformed), API models get it as structured output. A backend that ignores the schema may reply
in prose with inline markers (``... [1].``); that is read too, sentence by sentence.

:func:`check` then holds each sentence to its citations: at least one valid source number, and
cited passages that hold its figures and most of its words (:func:`assay.rag.support.backs`).
An answer with one sentence that fails is not shown as an answer; the caller falls back to
quoting the evidence (:mod:`assay.rag.extractive`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.rag.claims import split_claims
from assay.rag.support import backs, terms

MAX_SENTENCES = 3
MAX_SENTENCE_CHARS = 300


def answer_schema(n_sources: int) -> dict[str, Any]:
    """The JSON Schema of an answer citing sources ``1..n_sources``."""
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "maxItems": MAX_SENTENCES,
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": MAX_SENTENCE_CHARS},
                        "cites": {
                            "type": "array",
                            "items": {"enum": list(range(1, n_sources + 1))},
                            "minItems": 1,
                            "maxItems": 3,
                        },
                    },
                    "required": ["text", "cites"],
                },
            }
        },
        "required": ["sentences"],
    }


@dataclass
class CitedSentence:
    text: str
    cites: list[int]
    backed: bool | None = None
    """Whether the cited passages back the sentence (None: not checked yet)."""
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "cites": self.cites,
            "backed": self.backed,
            "problem": self.problem,
        }


def read_reply(text: str) -> tuple[list[CitedSentence], bool]:
    """The sentences of a reply and whether it was the JSON form. Prose (from a backend that
    does not hold decoding to the schema) is split into sentences with their inline markers."""
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("sentences"), list):
        out = []
        for item in data["sentences"]:
            if not isinstance(item, dict):
                continue
            body = " ".join(str(item.get("text", "")).split())
            cites = [c for c in item.get("cites") or [] if isinstance(c, int)]
            if body:
                out.append(CitedSentence(body, list(dict.fromkeys(cites))))
        return out, True
    claims = split_claims(stripped, min_words=1, clauses=False)
    return [CitedSentence(c.text, list(c.citations)) for c in claims], False


def check(
    sentences: Sequence[CitedSentence], passages: Mapping[int, str], question: str = ""
) -> str | None:
    """Hold each sentence to its citations (setting ``backed`` and ``problem``); the first
    problem as one line, or None when every sentence passes. With ``question``, a sentence must
    also share a content word with it: a small model can copy a backed but unrelated fragment
    (a figure caption, a table row) from a passage it was given."""
    asked = set(terms(question))
    first: str | None = None
    for i, s in enumerate(sentences, 1):
        valid = [n for n in s.cites if n in passages]
        if not s.cites:
            s.problem = "cites no source"
        elif len(valid) < len(s.cites):
            bad = ", ".join(f"[{n}]" for n in s.cites if n not in passages)
            s.problem = f"cites {bad}, which no source has"
        elif not backs(s.text, [passages[n] for n in valid]):
            s.problem = "is not backed by the passages it cites"
        elif asked and not asked & set(terms(s.text)):
            s.problem = "does not address the question"
        s.backed = s.problem is None
        if s.problem and first is None:
            first = f"sentence {i} {s.problem}"
    return first


def render(sentences: Sequence[CitedSentence]) -> str:
    """The answer as prose with inline markers: ``The corpus has 20,093 headlines [1].``"""
    parts = []
    for s in sentences:
        body = s.text.rstrip()
        end = body[-1] if body and body[-1] in ".!?" else "."
        body = body.rstrip(".!?").rstrip()
        marks = "".join(f"[{n}]" for n in s.cites)
        parts.append(f"{body} {marks}{end}" if marks else f"{body}{end}")
    return " ".join(parts)


__all__ = ["CitedSentence", "answer_schema", "check", "read_reply", "render"]
