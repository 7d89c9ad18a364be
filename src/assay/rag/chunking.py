"""Split a document into chunks the embedder can read whole, on sentence and paragraph boundaries.

Tokens are counted with the embedder's own tokenizer. A chunk is filled with whole sentences up to
``max_tokens``; a new paragraph starts a new chunk when the current one is already half full and the
paragraph would not fit; a new section always starts a new chunk. When a chunk must end inside a
paragraph, the next one repeats its last sentences (up to ``overlap_tokens``) so no sentence loses
its context. A sentence longer than ``max_tokens`` is cut on token boundaries. Every chunk is an
exact slice ``text[start:end]`` of the document, with its pages and section heading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assay.rag.document import ParsedDocument


class ChunkingConfig(BaseModel):
    """How a collection's documents are chunked; stored with the collection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(default=200, ge=16, le=8192)
    overlap_tokens: int = Field(default=40, ge=0)
    respect_sections: bool = True

    @model_validator(mode="after")
    def _check(self) -> ChunkingConfig:
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError(
                f"the overlap ({self.overlap_tokens} tokens) must be smaller than half the "
                f"chunk size ({self.max_tokens} tokens)"
            )
        return self


@dataclass(frozen=True)
class Chunk:
    seq: int
    start: int
    end: int
    text: str
    n_tokens: int
    page_start: int | None
    page_end: int | None
    section: str | None


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    para: int
    section: int


def _words(text: str) -> list[str]:
    return text.split()


_PARAGRAPH = re.compile(r"(?:[^\n]|\n(?![ \t]*\n))+")
_BOUNDARY = re.compile(r"[.!?][\"”’)\]]*\s+(?=[\"“(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    _words(
        "e.g i.e et al etc fig figs eq eqs dr mr mrs ms prof vs cf no nos vol pp sec secs tab approx "
        "resp st jr sr inc ltd co corp dept univ ref refs ch chap ed eds viz al"
    )
)


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``, shifted by ``offset``; whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        before = text[start : m.start()]
        word = re.search(r"([A-Za-z][A-Za-z.]*)$", before)
        if word:
            w = word.group(1).lower().rstrip(".")
            if w in _ABBREVIATIONS or len(w) == 1 or w.endswith((" et al", "et al")):
                continue
        end = m.start() + len(m.group().rstrip())
        spans.append((start, end))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        seg = text[a:b]
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg) - len(seg.rstrip())
        if b - trail > a + lead:
            out.append((offset + a + lead, offset + b - trail))
    return out


def chunk_document(
    doc: ParsedDocument,
    config: ChunkingConfig,
    count_tokens: Callable[[Sequence[str]], list[int]],
    token_spans: Callable[[str], list[tuple[int, int]]],
) -> list[Chunk]:
    text = doc.text
    heading_starts = [h.start for h in doc.headings]
    units: list[_Unit] = []
    spans: list[tuple[int, int, int]] = []  # (start, end, paragraph)
    for p, m in enumerate(_PARAGRAPH.finditer(text)):
        if m.group().strip():
            spans.extend((a, b, p) for a, b in split_sentences(m.group(), m.start()))
    if not spans:
        return []
    counts = count_tokens([text[a:b] for a, b, _ in spans])

    def section_of(pos: int) -> int:
        return sum(1 for h in heading_starts if h <= pos)

    limit = config.max_tokens
    for (a, b, p), n in zip(spans, counts, strict=True):
        sec = section_of(a) if config.respect_sections else 0
        if n <= limit:
            units.append(_Unit(a, b, n, p, sec))
            continue
        # A sentence too long for one chunk: cut it into windows of whole tokens.
        offsets = token_spans(text[a:b])
        step = limit - config.overlap_tokens
        for i in range(0, len(offsets), step):
            window = offsets[i : i + limit]
            units.append(_Unit(a + window[0][0], a + window[-1][1], len(window), p, sec))
            if i + limit >= len(offsets):
                break

    para_tokens: dict[int, int] = {}
    for u in units:
        para_tokens[u.para] = para_tokens.get(u.para, 0) + u.tokens

    groups: list[list[_Unit]] = []
    cur: list[_Unit] = []
    total = 0
    for u in units:
        if cur:
            last = cur[-1]
            new_section = u.section != last.section
            new_para = u.para != last.para
            if (
                new_section
                or total + u.tokens > limit
                or (new_para and total >= limit // 2 and total + para_tokens[u.para] > limit)
            ):
                groups.append(cur)
                carry: list[_Unit] = []
                if not new_section and not new_para and config.overlap_tokens:
                    kept = 0
                    for prev in reversed(cur):
                        if kept + prev.tokens > config.overlap_tokens or prev.end > u.start:
                            break
                        carry.insert(0, prev)
                        kept += prev.tokens
                    if kept + u.tokens > limit or len(carry) == len(cur):
                        carry = []
                cur = carry
                total = sum(c.tokens for c in cur)
        cur.append(u)
        total += u.tokens
    if cur:
        groups.append(cur)

    chunks: list[Chunk] = []
    for seq, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        page_first, page_last = doc.pages_for(start, end)
        chunks.append(
            Chunk(
                seq=seq,
                start=start,
                end=end,
                text=text[start:end],
                n_tokens=sum(u.tokens for u in group),
                page_start=page_first,
                page_end=page_last,
                section=doc.heading_at(start),
            )
        )
    return chunks


__all__ = ["Chunk", "ChunkingConfig", "chunk_document", "split_sentences"]
