"""Adding files to a collection: expand paths, skip what is unchanged, parse, chunk, embed what the
cache lacks, and write each document in its own transaction. A file that fails is reported in one
line and the rest of the batch goes on; nothing of a failed file is written.

Documents are embedded in small groups (one encode slice, or what a few seconds of parsing
produced) and each is committed as soon as its group is embedded, so an interrupted run keeps
what it finished: run again, those documents are ``unchanged`` and only the rest is done."""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assay.rag.chunking import ChunkingConfig, chunk_document
from assay.rag.document import ParsedDocument
from assay.rag.embed import Embedder
from assay.rag.errors import DocumentError
from assay.rag.figures import Figure, add_figure_chunks, describe_figures, extract_figures
from assay.rag.quality import QualityReport, assess
from assay.rag.readers import (
    DEFAULT_MAX_MB,
    check_size,
    check_supported,
    kind_of,
    read_document,
)
from assay.rag.store import CollectionInfo, PreparedDocument, RagStore

if TYPE_CHECKING:
    from assay.models.facade import Model

EMBED_SLICE = 256  # texts per encode call (the progress bar's step)
GROUP_CHUNKS = EMBED_SLICE  # chunks embedded together before their documents are written
GROUP_SECONDS = 10.0  # ...or sooner, once the group's files took this long to read and parse


@dataclass
class FigureOptions:
    """What to do with the figures of PDFs: keep them (``extract``), and have ``describe`` (a
    model that accepts images) write a description of each, indexed as a chunk."""

    extract: bool = True
    describe: Model | None = None


@dataclass
class FileResult:
    path: str
    status: str  # added | replaced | unchanged | duplicate | skipped | failed
    message: str = ""
    document_id: int | None = None
    n_chunks: int = 0
    quality: QualityReport | None = None
    title: str | None = None
    n_figures: int = 0
    n_described: int = 0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def line(self) -> str:
        name = Path(self.path).name
        if self.status in ("failed", "skipped"):
            return f"{self.status:<10} {self.message}"
        if self.status in ("unchanged", "duplicate"):
            return f"{self.status:<10} {name}" + (f" ({self.message})" if self.message else "")
        q = self.quality
        summary = f"{q.summary()}, {self.n_chunks} chunks" if q else f"{self.n_chunks} chunks"
        if self.n_figures:
            summary += f", {self.n_figures} figures" + (
                f" ({self.n_described} described)" if self.n_described else ""
            )
        warn = "" if q is None or q.ok else "  WARNING: " + "; ".join(q.warnings)
        notes = f"  [{'; '.join(q.notes)}]" if q and q.notes else ""
        return f"{self.status:<10} {name}: {summary}{notes}{warn}"


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    embedded: int = 0
    cached: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def summary(self) -> str:
        parts = [
            f"{self.count(s)} {s}"
            for s in ("added", "replaced", "unchanged", "duplicate", "skipped", "failed")
            if self.count(s)
        ]
        return (
            f"{', '.join(parts) or 'nothing to do'}; {self.embedded} chunks embedded, "
            f"{self.cached} from cache, {self.seconds:.1f}s"
        )


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[FileResult]]:
    """Files named, found in folders (recursively, supported types only) or matched by globs."""
    files: list[Path] = []
    problems: list[FileResult] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found, skipped = _walk(p)
            files.extend(found)
            problems.extend(skipped)
        elif p.is_file():
            files.append(p)
        elif any(ch in str(raw) for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(p), recursive=True))
            matched = [m for m in matches if m.is_file()]
            if not matched:
                problems.append(FileResult(str(raw), "failed", f"{raw}: no file matches"))
            files.extend(matched)
        else:
            problems.append(FileResult(str(raw), "failed", f"{raw}: no such file or folder"))
    unique = list(dict.fromkeys(f.resolve() for f in files))
    return unique, problems


def _walk(folder: Path) -> tuple[list[Path], list[FileResult]]:
    """Supported files under ``folder`` (hidden ones left out), and a ``skipped`` result for
    each sub-folder that cannot be read and each link to nothing, so none vanishes unsaid."""
    found: list[Path] = []
    skipped: list[FileResult] = []

    def unreadable(exc: OSError) -> None:
        where = exc.filename or folder
        skipped.append(
            FileResult(str(where), "skipped", f"{where}: cannot read the folder ({exc.strerror})")
        )

    for root, dirs, names in os.walk(folder, onerror=unreadable, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            f = Path(root) / name
            if name.startswith(".") or kind_of(f) is None:
                continue
            if f.is_file():
                found.append(f)
            elif f.is_symlink():
                skipped.append(FileResult(str(f), "skipped", f"{f}: a link to a missing file"))
    return found, skipped


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def prepare(
    path: Path,
    data: bytes,
    sha: str,
    embedder: Embedder,
    chunking: ChunkingConfig,
    vocabulary: frozenset[str] | None,
    parsed: ParsedDocument | None = None,
    figures: FigureOptions | None = None,
) -> tuple[PreparedDocument, QualityReport]:
    doc = parsed if parsed is not None else read_document(path, data, vocabulary=vocabulary)
    quality = assess(doc)
    if not doc.text.strip():
        if doc.kind == "pdf" and doc.n_pages:
            raise DocumentError(
                f"{path.name}: no extractable text in any of its {doc.n_pages} pages "
                "(probably scanned images)",
                hint="run OCR first, for example: ocrmypdf in.pdf out.pdf",
            )
        raise DocumentError(f"{path.name}: no text to index")
    chunks = chunk_document(doc, chunking, embedder.count_tokens, embedder.token_spans)
    if not chunks:
        raise DocumentError(f"{path.name}: no text to index")
    found: list[Figure] = []
    if figures is not None and figures.extract and doc.kind == "pdf":
        found = extract_figures(data)
        if figures.describe is not None:
            describe_figures(found, figures.describe, doc.title)
            add_figure_chunks(doc, chunks, found, embedder.count_tokens)
    return (
        PreparedDocument(
            path=str(path),
            name=path.name,
            sha256=sha,
            size=len(data),
            doc=doc,
            chunks=chunks,
            hashes=[text_hash(c.text) for c in chunks],
            quality=quality.to_dict(),
            figures=found,
        ),
        quality,
    )


class _Bars:
    """Progress of files read and chunks embedded (see :func:`assay.progress.progress_bar`)."""

    def __init__(self, enabled: bool, n_files: int) -> None:
        from assay.progress import progress_bar

        self.files = progress_bar(
            n_files, "files", "file", enabled=enabled, position=0, leave=False
        )
        self.chunks = progress_bar(
            0, "embedding", "chunk", enabled=enabled, position=1, leave=False
        )

    def file_done(self) -> None:
        self.files.update(1)

    def more_chunks(self, n: int) -> None:
        self.chunks.total += n
        self.chunks.refresh()

    def embedded(self, n: int) -> None:
        self.chunks.update(n)

    def close(self) -> None:
        self.chunks.close()
        self.files.close()


def embed_texts(
    embedder: Embedder, texts: Sequence[str], batch_size: int, bars: _Bars | None = None
) -> np.ndarray:
    """Encode longest first in slices (little padding, a moving progress bar); rows in input order."""
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    for i in range(0, len(order), EMBED_SLICE):
        idx = order[i : i + EMBED_SLICE]
        out[idx] = embedder.encode([texts[j] for j in idx], batch_size=batch_size)
        if bars is not None:
            bars.embedded(len(idx))
    return out


def ingest(
    store: RagStore,
    collection: CollectionInfo,
    embedder: Embedder,
    paths: Iterable[str | Path],
    *,
    max_size_mb: float = DEFAULT_MAX_MB,
    progress: bool = False,
    batch_size: int = 32,
    vocabulary: frozenset[str] | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    figures: FigureOptions | None = None,
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport()
    files, problems = expand_paths(paths)

    def emit(result: FileResult) -> None:
        report.results.append(result)
        if on_result is not None:
            on_result(result)

    for problem in problems:
        emit(problem)
    bars = _Bars(progress, len(files))
    pending: list[tuple[PreparedDocument, FileResult]] = []
    seen_hashes: dict[str, str] = {}

    def flush() -> None:
        if not pending:
            return
        hashes = [h for prepared, _ in pending for h in prepared.hashes]
        known = store.cached_hashes(embedder.name, hashes)
        todo: dict[str, str] = {}
        for prepared, _ in pending:
            for h, c in zip(prepared.hashes, prepared.chunks, strict=True):
                if h not in known and h not in todo:
                    todo[h] = c.text
        report.cached += len(hashes) - len(todo)
        embedded = embed_texts(embedder, list(todo.values()), batch_size, bars)
        vectors = dict(zip(todo, embedded, strict=True))
        report.embedded += len(todo)
        while pending:
            # One transaction per document: a kill keeps every document written before it.
            prepared, result = pending[0]
            own = {h: vectors[h] for h in prepared.hashes if h in vectors}
            [result.document_id] = store.write_documents(
                collection.id, [prepared], embedder.name, own
            )
            pending.pop(0)
            emit(result)

    try:
        n_pending_chunks = 0
        group_start = 0.0
        for path in files:
            if not pending:
                group_start = time.perf_counter()
            try:
                result = _prepare_one(
                    store, collection, embedder, path, max_size_mb, vocabulary, seen_hashes, figures
                )
            except DocumentError as exc:
                emit(
                    FileResult(
                        str(path), "failed", exc.message + (f" ({exc.hint})" if exc.hint else "")
                    )
                )
                bars.file_done()
                continue
            bars.file_done()
            if isinstance(result, FileResult):
                emit(result)
                continue
            prepared, file_result = result
            pending.append((prepared, file_result))
            n_pending_chunks += len(prepared.chunks)
            bars.more_chunks(len(prepared.chunks))
            if (
                n_pending_chunks >= GROUP_CHUNKS
                or time.perf_counter() - group_start >= GROUP_SECONDS
            ):
                flush()
                n_pending_chunks = 0
        flush()
    finally:
        bars.close()
    report.seconds = time.perf_counter() - started
    return report


def _prepare_one(
    store: RagStore,
    collection: CollectionInfo,
    embedder: Embedder,
    path: Path,
    max_size_mb: float,
    vocabulary: frozenset[str] | None,
    seen_hashes: dict[str, str],
    figures: FigureOptions | None = None,
) -> FileResult | tuple[PreparedDocument, FileResult]:
    check_supported(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(f"{path.name}: cannot read the file ({exc.strerror})") from None
    check_size(path, size, max_size_mb)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path.name}: cannot read the file ({exc.strerror})") from None
    check_size(path, len(data), max_size_mb)
    sha = hashlib.sha256(data).hexdigest()
    existing = store.document_by(collection.id, "path", str(path))
    if existing and existing[0].sha256 == sha:
        return FileResult(str(path), "unchanged", "", existing[0].id, existing[0].n_chunks)
    same = [d for d in store.document_by(collection.id, "sha256", sha) if d.path != str(path)]
    if same:
        return FileResult(str(path), "duplicate", f"same content as {same[0].name}", same[0].id)
    if sha in seen_hashes:
        return FileResult(str(path), "duplicate", f"same content as {Path(seen_hashes[sha]).name}")
    seen_hashes[sha] = str(path)
    prepared, quality = prepare(
        path, data, sha, embedder, collection.chunking, vocabulary, figures=figures
    )
    prepared.replaces = existing[0].id if existing else None
    status = "replaced" if existing else "added"
    result = FileResult(
        str(path),
        status,
        "",
        None,
        len(prepared.chunks),
        quality,
        prepared.doc.title,
        n_figures=len(prepared.figures),
        n_described=sum(1 for f in prepared.figures if f.description),
    )
    return prepared, result


__all__ = [
    "FigureOptions",
    "FileResult",
    "IngestReport",
    "embed_texts",
    "expand_paths",
    "ingest",
    "text_hash",
]
