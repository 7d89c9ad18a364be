"""The retrieval step of an evaluation task: search a collection with a row's question and render
the hits, numbered, into a template variable, so the same task runs with and without retrieval.

    retrieval:
      collection: papers        # a collection in the workspace (assay docs add ... -c papers)
      k: 4                      # passages per sample; 0 turns retrieval off (the variable is "")
      mode: hybrid              # hybrid | bm25 | dense | mmr
      query_field: question     # default: the task's ``input`` field
      into: context             # the template variable that receives the passages

The template reads the passages as ``{{ context }}`` (``{% if context %}...{% endif %}`` keeps
one template for both variants). Each sample record stores what was retrieved (chunk ids,
documents, pages, scores) under ``retrieval``; the run's provenance stores the collection's
identity (embedder, size, generation). ``assay eval TASK -c NAME`` / ``--no-rag`` / ``-k``
switch it from the command line; ``assay compare`` then pairs the two runs sample by sample.

With relevance judgements in the data (e.g. the ``chunk_id`` column written by ``assay docs
synth``) the scorer ``assay.evals.retrieval_step:retrieval_hit`` gives 1 when a relevant chunk
was retrieved, and ``retrieval_rr`` the reciprocal rank of the first one (options: ``relevant``,
the row field, default ``chunk_id``; ``match: document`` to match document names instead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assay.errors import ConfigError, UserError
from assay.evals.kinds.base import Batch, KindContext, Record, TaskKind
from assay.evals.record import SampleRecord

if TYPE_CHECKING:
    from assay.evals.scorers import Scorer
    from assay.evals.task import TaskConfig
    from assay.prompting.templates import PromptTemplate
    from assay.rag.collection import Collection
    from assay.rag.search import SearchHit
    from assay.rag.store import CollectionInfo
    from assay.workspace import Workspace

HIDDEN_KEY = "_retrieval"
"""The key under which an augmented row carries what was retrieved (read by the scorers below)."""


class RetrievalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: str
    k: int = Field(default=4, ge=0)
    """Passages per sample; 0 leaves the variable empty and searches nothing (the no-RAG variant)."""
    mode: Literal["hybrid", "bm25", "dense", "mmr"] = "hybrid"
    query_field: str | None = None
    """The row field used as the search query; default: the task's ``input`` field."""
    into: str = "context"
    """The template variable that receives the numbered passages."""
    max_chars: int | None = Field(default=None, ge=1)
    """Cut each passage to this many characters (small models have small contexts)."""

    @property
    def enabled(self) -> bool:
        return self.k > 0


@dataclass
class Retrieved:
    """What one sample got: the rendered passages and the record kept for provenance."""

    text: str
    record: dict[str, Any] = field(default_factory=dict)


def format_passages(hits: Sequence[SearchHit], max_chars: int | None = None) -> str:
    """``[1] Title (doc.pdf, p. 3)`` and the passage, per hit, separated by blank lines."""
    from assay.rag.answer import Source
    from assay.rag.prompt import source_block

    blocks = []
    for n, hit in enumerate(hits, start=1):
        text = " ".join(hit.text.split())
        if max_chars is not None and len(text) > max_chars:
            text = text[:max_chars].rsplit(" ", 1)[0] + " ..."
        blocks.append(source_block(n, Source(n, hit, text).label, text))
    return "\n\n".join(blocks)


class Retriever:
    """Searches the task's collection for each row of a batch (one search per row)."""

    def __init__(
        self, config: RetrievalConfig, query_field: str, workspace: Workspace | None = None
    ) -> None:
        self.config = config
        self.query_field = query_field
        self._workspace = workspace
        self._collection: Collection | None = None

    @property
    def collection(self) -> Collection:
        if self._collection is None:
            from assay.rag.collection import Collection

            self._collection = Collection(self._workspace, self.config.collection)
        return self._collection

    def _info(self) -> CollectionInfo:
        info = self.collection.info
        if info is None:
            from assay.rag.errors import CollectionError

            name = self.config.collection
            raise CollectionError(
                f"no collection named '{name}' for the task's retrieval step",
                hint=f"add documents first: assay docs add PATH -c {name}",
            )
        return info

    def provenance(self) -> dict[str, Any]:
        """The retrieval config and the collection's identity, for the run record."""
        out: dict[str, Any] = {"config": self.config.model_dump(), "query_field": self.query_field}
        if self.config.enabled:
            info = self._info()
            out["collection"] = {**info.to_dict(), "generation": info.generation}
        return out

    def key(self) -> dict[str, Any]:
        """What must match for a run to be resumed: a re-indexed collection is a new run."""
        if not self.config.enabled:
            return {"retrieval": "off"}
        info = self._info()
        return {
            "collection": info.name,
            "embedder": info.embedder,
            "generation": info.generation,
            "chunks": info.n_chunks,
        }

    def retrieve(self, row_id: str, row: Mapping[str, Any]) -> Retrieved:
        cfg = self.config
        if not cfg.enabled:
            return Retrieved("", {"enabled": False})
        query = row.get(self.query_field)
        if query is None or not str(query).strip():
            raise UserError(
                f"row {row_id}: no query in field '{self.query_field}' for retrieval",
                hint="set retrieval.query_field to the row field that holds the question",
            )
        hits = self.collection.search(str(query), cfg.k, cfg.mode)
        return Retrieved(
            format_passages(hits, cfg.max_chars),
            {
                "enabled": True,
                "query": str(query),
                "chunk_ids": [h.chunk_id for h in hits],
                "documents": [h.document for h in hits],
                "pages": [h.page_start for h in hits],
                "scores": [round(h.score, 6) for h in hits],
            },
        )

    def augment(
        self, batch: Sequence[tuple[str, dict[str, Any]]]
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
        """The batch with the passages in each row's ``into`` variable, and the per-row records."""
        rows: list[tuple[str, dict[str, Any]]] = []
        records: list[dict[str, Any]] = []
        for rid, row in batch:
            got = self.retrieve(rid, row)
            rows.append((rid, {**row, self.config.into: got.text, HIDDEN_KEY: got.record}))
            records.append(got.record)
        return rows, records


def make_retriever(
    task: TaskConfig, template: PromptTemplate, workspace: Workspace | None
) -> Retriever | None:
    """The task's retriever, or None without a ``retrieval`` block. Refuses a template that does
    not read the variable the passages go into (they would silently never reach the model)."""
    cfg = task.retrieval
    if cfg is None:
        return None
    if cfg.into not in template.variables:
        raise ConfigError(
            f"task '{task.name}': retrieval puts passages into '{cfg.into}', "
            "but the template never uses it",
            hint=f"add {{% if {cfg.into} %}}Sources:\\n{{{{ {cfg.into} }}}}{{% endif %}} "
            "to the template, or set retrieval.into",
        )
    return Retriever(cfg, cfg.query_field or task.input, workspace)


def example_row(task: TaskConfig, row: Mapping[str, Any]) -> dict[str, Any]:
    """A few-shot example's row: shown without passages (the variable is empty), since
    retrieving for every example would cost a search each and show the model other questions'
    evidence."""
    if task.retrieval is None:
        return dict(row)
    return {task.retrieval.into: "", **row}


class RetrievalStep(TaskKind):
    """Any kind with retrieval in front: each row gets its passages before the kind answers it,
    and each record keeps what was retrieved under ``retrieval`` (provenance)."""

    def __init__(self, inner: TaskKind, retriever: Retriever) -> None:
        self.inner = inner
        self.retriever = retriever
        self.name = inner.name
        self.chat_default = inner.chat_default
        self.blocks = inner.blocks

    def needed_fields(self, task: TaskConfig) -> set[str]:
        return self.inner.needed_fields(task)

    def check_prompts(self, task: TaskConfig) -> bool:
        return False  # the template reads what retrieval adds at solve time

    def check_config(self, task: TaskConfig) -> None:
        self.inner.check_config(task)

    def default_scorers(self, task: TaskConfig) -> list[str]:
        return self.inner.default_scorers(task)

    def scorers(self, task: TaskConfig) -> list[Scorer]:
        return self.inner.scorers(task)

    def scoring_row(self, row: dict[str, Any], record: Record) -> dict[str, Any]:
        return self.inner.scoring_row(row, record)

    def prepare(self, batch: Batch) -> Batch:
        rows, _ = self.retriever.augment(batch)
        return self.inner.prepare(rows)

    def solve(self, ctx: KindContext, batch: Batch) -> list[Record]:
        records = [SampleRecord.of(r) for r in self.inner.solve(ctx, batch)]
        for rec, (_, row) in zip(records, batch, strict=True):
            rec.retrieval = row[HIDDEN_KEY]  # what each sample was shown (provenance)
        return records


def with_cli_overrides(
    task: TaskConfig,
    *,
    collection: str | None = None,
    k: int | None = None,
    mode: str | None = None,
    off: bool = False,
) -> TaskConfig:
    """``assay eval -c NAME / -k N / --mode M / --no-rag`` applied to a task.

    ``--no-rag`` keeps the block with ``k: 0``: the template still renders (the variable is
    empty) and the run record says retrieval was off."""
    if off and collection is not None:
        raise UserError("--collection and --no-rag contradict each other; give one")
    if collection is None and k is None and mode is None and not off:
        return task
    current = task.retrieval
    if current is None:
        if collection is None:
            if off:
                return task
            raise UserError(
                f"task '{task.name}' has no retrieval block; -k and --mode need -c/--collection NAME"
            )
        current = RetrievalConfig(collection=collection)
    changes: dict[str, Any] = {}
    if collection is not None:
        changes["collection"] = collection
    if k is not None:
        changes["k"] = k
    if mode is not None:
        changes["mode"] = mode
    if off:
        changes["k"] = 0
    merged = RetrievalConfig.model_validate({**current.model_dump(), **changes})
    return task.model_copy(update={"retrieval": merged})


# -- scorers over retrieval (``module:function`` scorers; options: relevant, k) ----------------


def _relevant(sample: Mapping[str, Any], relevant: str) -> set[str]:
    value = sample.get(relevant)
    if value is None:
        return set()
    items = value if isinstance(value, (list, tuple, set)) else [value]
    return {str(v) for v in items}


def _ranked(sample: Mapping[str, Any], match: str) -> list[str]:
    if match not in ("chunk", "document"):
        raise ConfigError(f"retrieval scorer: match is 'chunk' or 'document', not {match!r}")
    record = sample.get(HIDDEN_KEY) or {}
    return [str(c) for c in record.get("chunk_ids" if match == "chunk" else "documents", [])]


def retrieval_hit(
    prediction: Any,
    reference: Any,
    sample: Mapping[str, Any],
    relevant: str = "chunk_id",
    match: str = "chunk",
) -> float:
    """1 if a chunk (``match: document``: a document) named in the row's ``relevant`` field was
    retrieved, else 0."""
    ranked = _ranked(sample, match)
    gold = _relevant(sample, relevant)
    return 1.0 if gold & set(ranked) else 0.0


def retrieval_rr(
    prediction: Any,
    reference: Any,
    sample: Mapping[str, Any],
    relevant: str = "chunk_id",
    match: str = "chunk",
) -> float:
    """Reciprocal rank of the first relevant chunk (or document) retrieved (0 if none)."""
    from assay.rag.metrics import reciprocal_rank

    return reciprocal_rank(_ranked(sample, match), _relevant(sample, relevant))


__all__ = [
    "HIDDEN_KEY",
    "RetrievalConfig",
    "RetrievalStep",
    "Retrieved",
    "Retriever",
    "example_row",
    "format_passages",
    "make_retriever",
    "retrieval_hit",
    "retrieval_rr",
    "with_cli_overrides",
]
