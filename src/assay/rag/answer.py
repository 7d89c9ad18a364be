"""Answer a question from a collection, citing the pages the answer comes from.

    >>> from assay.rag import ask
    >>> result = ask("What corpus do the authors use?", collection="papers", model="default")
    >>> print(result.text)
    >>> for c in result.citations:
    ...     print(c.n, c.document, c.page)

Steps:

1. Retrieve ``k`` chunks.
2. Abstain (answer :data:`~assay.rag.prompt.INSUFFICIENT`, model not called) when no chunk is
   relevant at all (cosine similarity of query and chunk below ``min_relevance``) or when no
   passage covers the question (``min_support``: the rarity-weighted share of the question's
   words held by the best run of sentences, :mod:`assay.rag.support`). The second catches
   on-topic questions whose answer is absent, which the first does not.
3. ``extractive=True``: quote the best passages with their document and page
   (:mod:`assay.rag.extractive`); nothing is generated.
4. Otherwise optionally let the model re-rank the chunks; number them as sources and keep as
   many as fit in the model's context next to the answer's ``max_tokens``; generate under the
   citation contract (:mod:`assay.rag.contract`: JSON sentences, each citing given source
   numbers; decoded under the schema by local models, structured output for API models).
5. Check each sentence against the passages it cites. An answer that fails is not shown: the
   extractive answer is, with ``problem`` saying what was wrong. An answer with no sentences is
   an abstention (``reason="model said so"``).

``mode`` says which answer it is: ``generated``, ``extractive`` or ``abstained``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import ContextLengthError
from assay.models.types import Sampling
from assay.prompting.structured import load_schema
from assay.rag.contract import CitedSentence, answer_schema, check, read_reply, render
from assay.rag.prompt import (
    INSUFFICIENT,
    build_messages,
    parse_citations,
    says_insufficient,
    source_block,
)

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.models.types import Message
    from assay.rag.collection import Collection
    from assay.rag.search import SearchHit
    from assay.rag.support import Idf
    from assay.workspace import Workspace

DEFAULT_K = 5
DEFAULT_MAX_TOKENS = 256
# Cosine similarity (all-MiniLM-L6-v2) below which a chunk is taken to be unrelated to the
# question. Unrelated questions score about 0.0-0.15 against scientific papers; related ones 0.3+.
DEFAULT_MIN_RELEVANCE = 0.2
# Share of the question's words (IDF-weighted) the best two-sentence passage must hold for an
# answer to be attempted; chosen on benchmarks/data/ask_pdfs.jsonl (see benchmarks/ask_pdfs.py).
DEFAULT_MIN_SUPPORT = 0.55
MIN_SOURCE_TOKENS = 24  # a source truncated to fewer tokens than this is dropped instead


@dataclass
class Source:
    """One numbered source given to the model."""

    n: int
    hit: SearchHit
    text: str
    relevance: float | None = None
    rerank_score: float | None = None
    truncated: bool = False

    @property
    def label(self) -> str:
        where = self.hit.pages or (f"§{self.hit.section}" if self.hit.section else None)
        name = self.hit.title or self.hit.document
        inner = ", ".join(x for x in (self.hit.document if self.hit.title else None, where) if x)
        return f"{name} ({inner})" if inner else name

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "label": self.label,
            "document": self.hit.document,
            "title": self.hit.title,
            "page_start": self.hit.page_start,
            "page_end": self.hit.page_end,
            "section": self.hit.section,
            "chunk_id": self.hit.chunk_id,
            "start": self.hit.start,
            "end": self.hit.end,
            "score": self.hit.score,
            "relevance": self.relevance,
            "rerank_score": self.rerank_score,
            "truncated": self.truncated,
            "text": self.text,
        }


@dataclass
class Citation:
    """A source number cited in the answer, mapped to its document and page."""

    n: int
    document: str | None
    title: str | None
    page: int | None
    chunk_id: int | None
    passage: str | None
    valid: bool
    raw: str
    stated_page: int | None = None

    @property
    def anchor(self) -> str:
        if not self.valid:
            return f"[{self.n}] (no such source)"
        where = f", p. {self.page}" if self.page is not None else ""
        return f"[{self.n}] {self.document}{where}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "document": self.document,
            "title": self.title,
            "page": self.page,
            "stated_page": self.stated_page,
            "chunk_id": self.chunk_id,
            "passage": self.passage,
            "valid": self.valid,
            "raw": self.raw,
        }


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation]
    sources: list[Source]
    insufficient: bool
    reason: str | None = None
    """Why the answer is insufficient: ``no relevant chunk`` or ``the passages do not cover the
    question`` (the model was not called), ``model said so``."""
    mode: str = "generated"
    """``generated``, ``extractive`` (quotes of the passages) or ``abstained``."""
    problem: str | None = None
    """Why a generated answer was not shown (the extractive one is shown instead)."""
    sentences: list[CitedSentence] = field(default_factory=list)
    retrieved: int = 0
    dropped: int = 0
    """Retrieved sources left out to fit the model's context."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_s: float = 0.0
    retrieval_s: float = 0.0
    model: str | None = None
    called_model: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def invalid_citations(self) -> list[int]:
        return sorted({c.n for c in self.citations if not c.valid})

    @property
    def cited_sources(self) -> list[Source]:
        cited = {c.n for c in self.citations if c.valid}
        return [s for s in self.sources if s.n in cited]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "insufficient": self.insufficient,
            "reason": self.reason,
            "mode": self.mode,
            "problem": self.problem,
            "sentences": [s.to_dict() for s in self.sentences],
            "citations": [c.to_dict() for c in self.citations],
            "invalid_citations": self.invalid_citations,
            "sources": [s.to_dict() for s in self.sources],
            "retrieved": self.retrieved,
            "dropped": self.dropped,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "latency_s": round(self.latency_s, 4),
            "retrieval_s": round(self.retrieval_s, 4),
            "model": self.model,
            "called_model": self.called_model,
            **{k: v for k, v in self.extra.items() if k in ("support", "best_relevance", "reply")},
        }


# -- pieces ---------------------------------------------------------------------------------------


def relevance(collection: Collection, question: str, hits: Sequence[SearchHit]) -> list[float]:
    """Cosine similarity of the question's embedding with each hit's chunk embedding."""
    from assay.rag.embed import single_thread

    if not hits:
        return []
    info = collection._require(counts=False)
    embedder = collection._check_embedder(info)
    matrix = collection._dense(info)
    ids = [h.chunk_id for h in hits]
    rows = matrix.rows_for(ids)
    with single_thread():
        query = embedder.encode_query(question)
    vectors = np.asarray(matrix.vectors[rows], dtype=np.float32)
    scores = vectors @ np.asarray(query, dtype=np.float32)
    # rows_for clips ids it does not know; those get no score
    return [
        float(s) if int(matrix.ids[r]) == cid else float("nan")
        for s, r, cid in zip(scores, rows, ids, strict=True)
    ]


RERANK_PROMPT = (
    "Rate how useful the passage is for answering the question, from 0 (unrelated) to 10 "
    "(answers it directly). Reply with the number only.\n\nQuestion: {question}\n\n"
    "Passage:\n{passage}\n\nScore (0-10):"
)


def parse_score(reply: str) -> float | None:
    """The first 0-10 number in a reply (``7``, ``Score: 8/10``, ``8.5``), or None."""
    m = re.search(r"(?<![\d.])(\d{1,2}(?:\.\d+)?)(?![\d.])", reply)
    if not m:
        return None
    value = float(m.group(1))
    return value if 0.0 <= value <= 10.0 else None


def rerank(
    model: Model, question: str, hits: Sequence[SearchHit], max_passage_tokens: int = 384
) -> list[tuple[SearchHit, float | None]]:
    """Ask the model to score each hit 0-10 (one short greedy reply each, batched) and reorder:
    higher score first, unparseable replies last, retrieval order breaking ties."""
    prompts = []
    limit = model.context_length
    for h in hits:
        passage = _truncate_words(model, h.text, max_passage_tokens)
        prompt = [
            {"role": "user", "content": RERANK_PROMPT.format(question=question, passage=passage)}
        ]
        if limit is not None and model.count_tokens(model.render_chat(prompt)) + 8 > limit:
            passage = _truncate_words(model, h.text, max(16, limit // 4))
            prompt = [
                {
                    "role": "user",
                    "content": RERANK_PROMPT.format(question=question, passage=passage),
                }
            ]
        prompts.append(prompt)
    gens = model.generate(prompts, max_tokens=6, temperature=0.0) if prompts else []
    scored = [(h, parse_score(g.text)) for h, g in zip(hits, gens, strict=True)]
    order = sorted(
        range(len(scored)),
        key=lambda i: (scored[i][1] is None, -(scored[i][1] or 0.0), i),
    )
    return [scored[i] for i in order]


def _truncate_words(model: Model, text: str, max_tokens: int) -> str:
    if model.count_tokens(text) <= max_tokens:
        return text
    words = text.split()
    lo, hi, best = 1, len(words), 0
    while lo <= hi:
        mid = (lo + hi) // 2
        if model.count_tokens(" ".join(words[:mid])) <= max_tokens:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return " ".join(words[:best]) + " ..."


def fit_sources(
    model: Model,
    question: str,
    hits: Sequence[SearchHit],
    max_tokens: int,
    min_source_tokens: int = MIN_SOURCE_TOKENS,
) -> tuple[list[Source], list[Message], int]:
    """Number the hits as sources, keeping (in rank order) as many as fit in the model's context
    with ``max_tokens`` left for the answer; the first that does not fit whole is truncated if at
    least ``min_source_tokens`` of it fit, and the rest are dropped.
    Returns the sources, the chat, and its length in tokens."""
    limit = model.context_length

    def size(blocks: list[str]) -> int:
        return model.count_tokens(model.render_chat(build_messages(question, blocks)))

    sources: list[Source] = []
    blocks: list[str] = []
    if limit is None:
        for i, h in enumerate(hits, 1):
            sources.append(Source(i, h, h.text))
            blocks.append(source_block(i, sources[-1].label, h.text))
        return sources, build_messages(question, blocks), size(blocks)

    budget = limit - max_tokens
    base = size([])
    if base >= budget:
        raise ContextLengthError(
            base + max_tokens, limit, what="the question plus the answer's max_tokens"
        )
    used = base
    for h in hits:
        n = len(sources) + 1
        probe = Source(n, h, h.text)
        whole = source_block(n, probe.label, h.text)
        n_tokens = size([*blocks, whole])
        if n_tokens < budget:
            sources.append(probe)
            blocks.append(whole)
            used = n_tokens
            continue
        words = h.text.split()
        lo, hi, best = 1, len(words) - 1, 0
        while lo <= hi:
            mid = (lo + hi) // 2
            cut = source_block(n, probe.label, " ".join(words[:mid]) + " ...")
            if size([*blocks, cut]) < budget:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        if best and model.count_tokens(" ".join(words[:best])) >= min_source_tokens:
            text = " ".join(words[:best]) + " ..."
            sources.append(Source(n, h, text, truncated=True))
            blocks.append(source_block(n, probe.label, text))
            used = size(blocks)
        break
    if not sources and hits:
        raise ContextLengthError(
            base + max_tokens + min_source_tokens,
            limit,
            what="the question, one source and the answer's max_tokens",
        )
    return sources, build_messages(question, blocks), used


def map_citations(text: str, sources: Sequence[Source]) -> list[Citation]:
    """Each distinct (number, page) cited in ``text``, in order of first appearance."""
    by_n = {s.n: s for s in sources}
    out: list[Citation] = []
    seen: set[tuple[int, int | None]] = set()
    for mark in parse_citations(text):
        key = (mark.n, mark.page)
        if key in seen:
            continue
        seen.add(key)
        src = by_n.get(mark.n)
        if src is None:
            out.append(Citation(mark.n, None, None, None, None, None, False, mark.raw, mark.page))
            continue
        h = src.hit
        page = h.page_start
        if (
            mark.page is not None
            and h.page_start is not None
            and h.page_start <= mark.page <= (h.page_end or h.page_start)
        ):
            page = mark.page
        out.append(
            Citation(
                n=mark.n,
                document=h.document,
                title=h.title,
                page=page,
                chunk_id=h.chunk_id,
                passage=src.text,
                valid=True,
                raw=mark.raw,
                stated_page=mark.page,
            )
        )
    return out


# -- the whole thing ------------------------------------------------------------------------------


def _abstain(
    question: str, reason: str, on_token: Callable[[str], None] | None, **fields: Any
) -> Answer:
    if on_token is not None:
        on_token(INSUFFICIENT)
    return Answer(
        question=question,
        text=INSUFFICIENT,
        citations=[],
        insufficient=True,
        reason=reason,
        mode="abstained",
        **fields,
    )


def _numbered(hits: Sequence[SearchHit]) -> list[Source]:
    return [Source(i, h, h.text) for i, h in enumerate(hits, 1)]


def ask(
    question: str,
    *,
    collection: Collection | str = "default",
    model: Model | str = "default",
    k: int = DEFAULT_K,
    mode: str = "hybrid",
    max_tokens: int = DEFAULT_MAX_TOKENS,
    min_relevance: float | None = DEFAULT_MIN_RELEVANCE,
    min_support: float | None = DEFAULT_MIN_SUPPORT,
    extractive: bool = False,
    rerank_with_model: bool = False,
    on_token: Callable[[str], None] | None = None,
    workspace: Workspace | None = None,
) -> Answer:
    """Answer ``question`` from ``collection`` with ``model``, every sentence citing a source.

    ``collection`` and ``model`` may be objects or names/addresses. Two checks can answer
    "not in the documents" before the model is called: ``min_relevance`` (cosine floor of the
    best chunk) and ``min_support`` (the share of the question's words, weighted by rarity, that
    the best passage holds; see :mod:`assay.rag.support`); ``None`` turns either off.
    ``extractive`` quotes the best passage instead of generating (no model is loaded). A
    generated answer that breaks the citation contract (:mod:`assay.rag.contract`) is replaced
    by the extractive one, with ``problem`` saying why. ``rerank_with_model`` asks the model to
    score the retrieved chunks first (fetching ``2k`` candidates and keeping the best ``k``).
    ``on_token`` is called with the answer's text once it has passed its checks.
    """
    from assay.errors import UserError
    from assay.models.facade import Model as ModelClass
    from assay.rag.collection import Collection as CollectionClass
    from assay.rag.support import collection_idf, evidence_support

    if not question or not question.strip():
        raise UserError("the question is empty")
    if k < 1:
        raise UserError(f"k must be at least 1, got {k}")
    col = collection if not isinstance(collection, str) else CollectionClass(workspace, collection)
    address = model if isinstance(model, str) else model.address

    started = time.perf_counter()
    fetch = k * 2 if rerank_with_model else k
    hits = col.search(question, fetch, mode)
    scores: list[float | None] = [None] * len(hits)
    if min_relevance is not None:
        scores = list(relevance(col, question, hits))
    idf = collection_idf(col)
    support = evidence_support(question, [h.text for h in hits], idf)
    retrieval_s = time.perf_counter() - started
    rel = dict(zip([h.chunk_id for h in hits], scores, strict=True))

    best = max((s for s in scores if s is not None and s == s), default=None)
    extra: dict[str, Any] = {"best_relevance": best, "support": support}
    common: dict[str, Any] = {"retrieved": len(hits), "retrieval_s": retrieval_s, "extra": extra}
    if min_relevance is not None and (best is None or best < min_relevance):
        return _abstain(
            question,
            "no relevant chunk",
            on_token,
            sources=[],
            model=address,
            called_model=False,
            **common,
        )
    if min_support is not None and support < min_support:
        return _abstain(
            question,
            "the passages do not cover the question",
            on_token,
            sources=_numbered(hits[:k]),
            model=address,
            called_model=False,
            **common,
        )
    if extractive:
        return _quoted(
            question,
            _numbered(hits[:k]),
            idf,
            on_token,
            None,
            model=address,
            called_model=False,
            **common,
        )

    llm = (
        model
        if not isinstance(model, str)
        else ModelClass.load(model, workspace=workspace or col.workspace)
    )
    rerank_scores: dict[int, float | None] = {}
    if rerank_with_model:
        reranked = rerank(llm, question, hits)
        rerank_scores = {h.chunk_id: s for h, s in reranked}
        hits = [h for h, _ in reranked][:k]
    sources, messages, _ = fit_sources(llm, question, hits, max_tokens)
    for s in sources:
        s.relevance = rel.get(s.hit.chunk_id)
        s.rerank_score = rerank_scores.get(s.hit.chunk_id)

    t = time.perf_counter()
    sampling = Sampling(
        max_tokens=max_tokens,
        temperature=0.0,
        json_schema=load_schema(answer_schema(len(sources))).text,
    )
    gen = llm.generate(messages, sampling)[0]
    usage: dict[str, Any] = {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "cost": gen.cost,
        "latency_s": time.perf_counter() - t,
        "model": llm.address,
        "dropped": len(hits) - len(sources),
        "retrieved": len(hits),
    }
    common.pop("retrieved")
    raw = gen.text.strip()
    extra["reply"] = raw
    sentences, as_json = read_reply(raw)
    if (as_json and not sentences) or (not as_json and says_insufficient(raw)):
        return _abstain(question, "model said so", on_token, sources=sources, **usage, **common)
    problem = check(sentences, {s.n: s.text for s in sources}, question)
    if problem is None and not sentences:
        problem = "the reply has no sentence"
    if problem is not None:
        return _quoted(question, sources, idf, on_token, problem, **usage, **common)
    return _shown(question, sentences, sources, on_token, mode="generated", **usage, **common)


def _quoted(
    question: str,
    sources: list[Source],
    idf: Idf,
    on_token: Callable[[str], None] | None,
    problem: str | None,
    **fields: Any,
) -> Answer:
    from assay.rag.extractive import extract

    quotes = extract(question, [(s.n, s.text) for s in sources], idf)
    if not quotes:
        return _abstain(question, "no passage to quote", on_token, sources=sources, **fields)
    return _shown(question, quotes, sources, on_token, mode="extractive", problem=problem, **fields)


def _shown(
    question: str,
    sentences: list[CitedSentence],
    sources: list[Source],
    on_token: Callable[[str], None] | None,
    **fields: Any,
) -> Answer:
    text = render(sentences)
    if on_token is not None:
        on_token(text)
    return Answer(
        question=question,
        text=text,
        citations=map_citations(text, sources),
        sources=sources,
        insufficient=False,
        sentences=sentences,
        **fields,
    )


__all__ = [
    "DEFAULT_MIN_RELEVANCE",
    "DEFAULT_MIN_SUPPORT",
    "INSUFFICIENT",
    "Answer",
    "Citation",
    "Source",
    "ask",
    "fit_sources",
    "map_citations",
    "parse_score",
    "relevance",
    "rerank",
]
