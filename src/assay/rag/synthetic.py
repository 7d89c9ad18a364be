"""Synthetic question–answer pairs from a collection, to bootstrap an evaluation set.

    >>> from assay.rag.synthetic import synthesize_qa
    >>> report = synthesize_qa("papers", "openai:gpt-4o-mini", n=50, out="qa.jsonl")
    >>> report.written, report.duplicates

Chunks are drawn in a seeded random order (chunks shorter than ``min_tokens`` are passed over);
for each, the model writes one question answerable from that chunk alone and a short answer
(a structured reply, validated). Questions that refer to "the passage" itself are dropped (no reader of the
collection could ask them), and the rest de-duplicated twice: exactly, after normalising
case, punctuation and spacing; and by meaning, when the cosine similarity of their embeddings
(the collection's own embedder) reaches ``near_duplicate``. Each row records where its question
came from::

    {"id": "c812", "question": "...", "answer": "...", "chunk_id": 812, "document": "paper.pdf",
     "document_id": 3, "title": "...", "page_start": 4, "page_end": 4, "section": "Results",
     "collection": "papers", "generator": "openai:gpt-4o-mini", "seed": 0}

so the file is at once an evaluation dataset (``dataset: {source: qa.jsonl}``, ``input:
question``, ``target: answer``) and a set of relevance judgements: :func:`retrieval_recall`
measures recall@k, MRR and nDCG of the collection on it (chunk or document level).

The file is its own progress record: every row is appended and flushed as it is accepted, and
rejected chunks (invalid reply, generic or duplicate question) go to ``<out>.rejected``; running again
with the same output skips every chunk already in either file and stops at ``n`` rows in all.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from assay.errors import UserError
from assay.progress import Progress, progress_bar

if TYPE_CHECKING:
    import numpy as np

    from assay.models.facade import Model
    from assay.rag.collection import Collection
    from assay.workspace import Workspace

_GENERIC = re.compile(
    r"\b(?:the|this|that) (?:passage|text|paragraph|excerpt|question|document)\b", re.IGNORECASE
)
DEFAULT_NEAR_DUPLICATE = 0.9
DEFAULT_MIN_TOKENS = 24
MAX_PASSAGE_CHARS = 3000


class QAPair(BaseModel):
    # Bounded lengths: constrained decoding then always ends within the token budget.
    question: str = Field(min_length=8, max_length=200)
    answer: str = Field(min_length=1, max_length=200)


EXAMPLE_QUESTION = "What F1 score did the parser reach on section 23 of the Penn Treebank?"
"""The worked example in the prompt: small models answer the form far better with one, and a
reply that copies it is rejected as generic."""

PROMPT = (
    "Example.\n"
    'Passage: "We trained the parser on 40,000 sentences of the Penn Treebank and reached 91.2 '
    'F1 on section 23."\n'
    '{{"question": "' + EXAMPLE_QUESTION + '", "answer": "91.2 F1"}}\n\n'
    'Now a passage from "{title}"{where}:\n\n"{passage}"\n\n'
    "Write one question that this passage answers, and its short answer, as in the example. The "
    'question names its subject (never "the passage", "this paper" or "the authors") and asks '
    "for a specific fact stated in the passage. The answer is short (a few words or one "
    "sentence) and comes from the passage."
)


@dataclass
class ChunkRef:
    """A chunk and where it is, as recorded with the question made from it."""

    chunk_id: int
    document_id: int
    document: str
    title: str | None
    page_start: int | None
    page_end: int | None
    section: str | None
    seq: int
    text: str

    def prompt(self) -> str:
        where = f", page {self.page_start}" if self.page_start is not None else ""
        if self.section:
            where += f", section {self.section}"
        text = " ".join(self.text.split())[:MAX_PASSAGE_CHARS]
        return PROMPT.format(title=self.title or self.document, where=where, passage=text)

    def record(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "document": self.document,
            "document_id": self.document_id,
            "title": self.title,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "section": self.section,
            "seq": self.seq,
        }


@dataclass
class SynthReport:
    path: Path
    written: int = 0
    """Rows added by this call."""
    total: int = 0
    """Rows in the file now (earlier runs included)."""
    duplicates: int = 0
    near_duplicates: int = 0
    generic: int = 0
    """Questions about "the passage" itself, which no reader of the collection could ask."""
    invalid: int = 0
    resumed: int = 0
    """Chunks skipped because an earlier run already handled them."""
    exhausted: bool = False
    """The collection ran out of usable chunks before ``n`` rows."""
    tried: int = 0
    """Chunks sent to the model by this call."""
    gave_up: bool = False
    """Stopped at ``max_chunks`` tries with fewer than ``n`` rows (chunks remain)."""
    rejected_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "written": self.written,
            "total": self.total,
            "duplicates": self.duplicates,
            "near_duplicates": self.near_duplicates,
            "generic": self.generic,
            "invalid": self.invalid,
            "resumed": self.resumed,
            "exhausted": self.exhausted,
            "tried": self.tried,
            "gave_up": self.gave_up,
        }


def is_generic(question: str) -> bool:
    """A question that refers to the passage it was written from ("What is this passage about?")."""
    copied = " ".join(question.lower().split()) == EXAMPLE_QUESTION.lower()
    return copied or bool(_GENERIC.search(question))


def normalise_question(text: str) -> str:
    """Lower case, punctuation dropped, spacing collapsed: the key for exact duplicates."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def sample_chunks(col: Collection, seed: int, min_tokens: int) -> list[ChunkRef]:
    """Every chunk of the collection with at least ``min_tokens`` tokens, in a seeded order."""
    refs = []
    for doc in col.documents():
        for c in col.chunks(doc.id):
            if (c.get("n_tokens") or 0) < min_tokens:
                continue
            refs.append(
                ChunkRef(
                    chunk_id=int(c["id"]),
                    document_id=doc.id,
                    document=doc.name,
                    title=doc.title,
                    page_start=c.get("page_start"),
                    page_end=c.get("page_end"),
                    section=c.get("section"),
                    seq=int(c.get("seq") or 0),
                    text=str(c["text"]),
                )
            )
    refs.sort(key=lambda r: r.chunk_id)
    random.Random(seed).shuffle(refs)
    return refs


class _Deduper:
    """Exact (normalised text) and near (embedding cosine) duplicate detection."""

    def __init__(self, col: Collection, threshold: float | None) -> None:
        self.col = col
        self.threshold = threshold
        self.keys: dict[str, str] = {}
        self.ids: list[str] = []
        self.vectors: np.ndarray | None = None

    def _embed(self, questions: Sequence[str]) -> np.ndarray:
        import numpy as np

        from assay.rag.embed import single_thread

        with single_thread():
            return np.asarray(self.col.embedder().encode(list(questions)), dtype=np.float32)

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Remember the questions of earlier runs."""
        if not rows:
            return
        vectors = self._embed([r["question"] for r in rows]) if self.threshold is not None else None
        for i, r in enumerate(rows):
            self.remember(r["id"], r["question"], vectors[i] if vectors is not None else None)

    def remember(self, row_id: str, question: str, vector: np.ndarray | None) -> None:
        import numpy as np

        self.keys[normalise_question(question)] = row_id
        self.ids.append(row_id)
        if vector is not None:
            row = vector[None, :]
            self.vectors = row if self.vectors is None else np.vstack([self.vectors, row])

    def check(self, question: str, vector: np.ndarray | None) -> tuple[str, str] | None:
        """``(kind, id of the earlier question)`` if ``question`` repeats one, else None."""
        same = self.keys.get(normalise_question(question))
        if same is not None:
            return "duplicate", same
        if vector is not None and self.vectors is not None and self.threshold is not None:
            sims = self.vectors @ vector
            best = int(sims.argmax())
            if float(sims[best]) >= self.threshold:
                return "near_duplicate", self.ids[best]
        return None


def synthesize_qa(
    collection: Collection | str,
    model: Model | str,
    n: int = 50,
    *,
    out: str | Path,
    seed: int = 0,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    near_duplicate: float | None = DEFAULT_NEAR_DUPLICATE,
    max_attempts: int = 2,
    max_chunks: int | None = None,
    progress: bool = False,
    workspace: Workspace | None = None,
) -> SynthReport:
    """Write up to ``n`` question–answer rows for ``collection`` to ``out`` (see the module
    docstring). ``near_duplicate=None`` keeps only the exact de-duplication.

    ``max_chunks`` (default ``5 * n``) bounds the chunks one call tries: a model whose
    questions are mostly rejected would otherwise grind through the whole collection."""
    from assay.models.facade import Model as ModelClass
    from assay.models.types import Sampling
    from assay.prompting.outfile import OutputFile
    from assay.prompting.structured import generate_structured
    from assay.rag.collection import Collection as CollectionClass

    sampling = Sampling(max_tokens=512, temperature=0.0, seed=seed)
    if n < 1:
        raise UserError(f"n must be at least 1, got {n}")
    limit = 5 * n if max_chunks is None else max_chunks
    if limit < 1:
        raise UserError(f"max_chunks must be at least 1, got {limit}")
    if near_duplicate is not None and not 0.0 < near_duplicate <= 1.0:
        raise UserError(f"near_duplicate is a cosine similarity in (0, 1], got {near_duplicate}")
    col = collection if not isinstance(collection, str) else CollectionClass(workspace, collection)
    path = Path(out)
    chunks = sample_chunks(col, seed, min_tokens)  # refuses an unknown collection first
    llm = (
        model
        if not isinstance(model, str)
        else ModelClass.load(model, workspace=workspace or col.workspace)
    )
    rejected_path = path.with_name(path.name + ".rejected")
    report = SynthReport(path, rejected_path=rejected_path)
    with (
        OutputFile(path, key="chunk_id") as accepted,
        OutputFile(rejected_path, key="chunk_id") as rejected,
    ):
        for f, expected, what in (
            ("collection", col.name, "collection"),
            ("generator", llm.address, "model"),
            ("seed", seed, "seed"),
        ):
            accepted.check_same(f, expected, what)
        if accepted.repaired:
            report.notes.append(f"removed a cut-off last line from {path}")
        done = set(accepted.records) | set(rejected.records)
        todo = [c for c in chunks if c.chunk_id not in done]
        report.resumed = len(chunks) - len(todo)
        dedupe = _Deduper(col, near_duplicate)
        dedupe.add(list(accepted.records.values()))
        have = len(accepted.records)
        bar = _bar(progress, n, have)
        size = max(1, llm.settings.batch_size)
        tried = 0
        try:
            while have < n and todo and tried < limit:
                take = min(size, n - have, limit - tried)
                batch, todo = todo[:take], todo[take:]
                tried += len(batch)
                replies = generate_structured(
                    llm,
                    [c.prompt() for c in batch],
                    QAPair,
                    sampling=sampling,
                    max_attempts=max_attempts,
                )
                pairs = [r.value if isinstance(r.value, QAPair) else None for r in replies]
                vectors = (
                    dedupe._embed([p.question for p in pairs if p is not None])
                    if near_duplicate is not None and any(p is not None for p in pairs)
                    else None
                )
                v = 0
                for chunk, pair, reply in zip(batch, pairs, replies, strict=True):
                    base = {"chunk_id": chunk.chunk_id, "document": chunk.document}
                    if pair is None:
                        rejected.write({**base, "reason": "invalid", "errors": reply.errors})
                        report.invalid += 1
                        continue
                    vector = vectors[v] if vectors is not None else None
                    v += 1
                    question = " ".join(pair.question.split())
                    if is_generic(question):
                        rejected.write({**base, "reason": "generic", "question": question})
                        report.generic += 1
                        continue
                    repeat = dedupe.check(question, vector)
                    if repeat is not None:
                        kind, of = repeat
                        rejected.write({**base, "reason": kind, "of": of, "question": question})
                        if kind == "duplicate":
                            report.duplicates += 1
                        else:
                            report.near_duplicates += 1
                        continue
                    row = {
                        "id": f"c{chunk.chunk_id}",
                        "question": question,
                        "answer": " ".join(pair.answer.split()),
                        **chunk.record(),
                        "collection": col.name,
                        "generator": llm.address,
                        "seed": seed,
                    }
                    accepted.write(row)
                    dedupe.remember(row["id"], question, vector)
                    report.written += 1
                    have += 1
                    bar.update(1)
        finally:
            bar.close()
        accepted.ensure()  # the file the summary names exists, even with no row yet
        report.total = len(accepted.records)
        report.tried = tried
        report.gave_up = have < n and bool(todo)
        report.exhausted = have < n and not todo
    return report


def _bar(progress: bool, total: int, initial: int) -> Progress:
    return progress_bar(
        total, "questions", "question", initial=min(initial, total), enabled=progress
    )


def read_qa(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a synthetic QA file (a cut-off last line is ignored)."""
    import json

    rows = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise UserError(f"{path} line {number}: not valid JSON") from None
    return rows


def retrieval_recall(
    collection: Collection | str,
    qa: str | Path | Sequence[dict[str, Any]],
    *,
    modes: Sequence[str] = ("bm25", "dense", "hybrid"),
    ks: Sequence[int] = (1, 5, 10),
    level: str = "chunk",
    workspace: Workspace | None = None,
) -> dict[str, dict[str, float]]:
    """Recall@k, MRR and nDCG@10 of ``collection`` per search mode, with each question's source
    chunk (``level="document"``: its document) as the one relevant item."""
    from assay.rag.collection import Collection as CollectionClass
    from assay.rag.metrics import evaluate_rankings

    if level not in ("chunk", "document"):
        raise UserError(f"level is 'chunk' or 'document', not '{level}'")
    col = collection if not isinstance(collection, str) else CollectionClass(workspace, collection)
    rows = read_qa(qa) if isinstance(qa, (str, Path)) else list(qa)
    if not rows:
        raise UserError("no questions to measure retrieval with")
    depth = max(max(ks), 10)
    out: dict[str, dict[str, float]] = {}
    for mode in modes:
        rankings: list[list[Any]] = []
        relevants: list[set[Any]] = []
        for row in rows:
            hits = col.search(row["question"], depth if level == "chunk" else depth * 4, mode)
            if level == "chunk":
                rankings.append([h.chunk_id for h in hits])
                relevants.append({int(row["chunk_id"])})
            else:
                rankings.append(list(dict.fromkeys(h.document for h in hits)))
                relevants.append({row["document"]})
        out[mode] = {**evaluate_rankings(rankings, relevants, ks=ks), "n": float(len(rows))}
    return out


__all__ = [
    "QAPair",
    "SynthReport",
    "is_generic",
    "normalise_question",
    "read_qa",
    "retrieval_recall",
    "sample_chunks",
    "synthesize_qa",
]
