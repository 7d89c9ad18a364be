"""A hashed n-gram index over a text corpus, built once and cached by the corpus's content.

The corpus is streamed in chunks of about ``CHUNK_BYTES`` of whole lines; each chunk's n-grams
(words carried over from the previous chunk of the same file, so no n-gram is lost at a seam)
are hashed and, every ``PART_NGRAMS`` n-grams, sorted and written to disk as one *part*: a
``uint64`` array of hashes and a parallel ``uint32`` array of the chunk each came from. Memory
stays bounded by one part (~12 bytes an n-gram) whatever the corpus size. A lookup memory-maps
each part and binary-searches it.

The cache key is the normalisation, n, and the sha256 of every file's bytes: the same corpus is
indexed once, an edited file makes a new index. Folders are read recursively (text, Markdown,
JSONL, JSON, CSV and TSV files; JSON values' strings are the text). An index is written to a
temporary folder and renamed when complete, so a killed build leaves nothing half-made.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.checks.ngrams import NORMALISATION, WordHasher, ngram_hashes, words
from assay.errors import UserError

CHUNK_BYTES = 1 << 20
PART_NGRAMS = 8_000_000
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".tex", ".jsonl", ".json", ".csv", ".tsv", ".text"}


@dataclass(frozen=True)
class Chunk:
    """Where a chunk's text is: a file, its byte range, and the line it starts on (1-based)."""

    file: str
    start: int
    end: int
    line: int


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files of ``paths`` (folders recursively), checked: one line for a bad path."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise UserError(f"corpus path does not exist: {path}")
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
            )
            if not found:
                suffixes = ", ".join(sorted(TEXT_SUFFIXES))
                raise UserError(f"no text files in corpus folder {path} (read: {suffixes})")
            out.extend(found)
        else:
            out.append(path)
    for path in out:
        if path.stat().st_size == 0:
            raise UserError(f"corpus file is empty: {path}")
        with path.open("rb") as f:
            head = f.read(8192)
        if b"\x00" in head:
            raise UserError(f"corpus file is binary, not text: {path}", hint="give text files")
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def text_of(value: Any) -> str:
    """The text in a value read from JSON: strings as they are, containers' values joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(text_of(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return " \n ".join(text_of(v) for v in value)
    return "" if value is None else str(value)


def _line_text(line: str, json_rows: bool) -> str:
    if not json_rows:
        return line
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return line
    return text_of(value) + "\n"  # rows stay apart: no word glued across two rows


def read_chunks(path: Path) -> Iterator[tuple[Chunk, list[str]]]:
    """The file's chunks with the text lines of each (JSON lines reduced to their strings)."""
    json_rows = path.suffix.lower() in (".jsonl", ".json")
    start = offset = 0
    line_no = first_line = 1
    lines: list[str] = []
    size = 0
    with path.open("rb") as f:
        for raw in f:
            lines.append(_line_text(raw.decode("utf-8", errors="replace"), json_rows))
            size += len(raw)
            offset += len(raw)
            line_no += 1
            if size >= CHUNK_BYTES:
                yield Chunk(str(path), start, offset, first_line), lines
                start, first_line, lines, size = offset, line_no, [], 0
    if lines:
        yield Chunk(str(path), start, offset, first_line), lines


class CorpusIndex:
    """A built index: ``contains`` answers which n-gram hashes occur in the corpus, and where."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        manifest = json.loads((folder / "manifest.json").read_text())
        self.n: int = manifest["n"]
        self.files: list[dict[str, Any]] = manifest["files"]
        self.chunks = [Chunk(**c) for c in manifest["chunks"]]
        self.ngrams: int = manifest["ngrams"]
        self.parts: list[str] = manifest["parts"]
        # Memory-mapped once: a check looks up every item's n-grams against every part.
        self._arrays = [
            (
                np.load(folder / f"{part}.hash.npy", mmap_mode="r"),
                np.load(folder / f"{part}.chunk.npy", mmap_mode="r"),
            )
            for part in self.parts
        ]

    @property
    def size_bytes(self) -> int:
        return sum(int(f["size"]) for f in self.files)

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, the chunk it occurs in (the first part's), or -1 when it does not."""
        where = np.full(len(hashes), -1, dtype=np.int64)
        if not len(hashes):
            return where
        for keys, chunk in self._arrays:
            pos = np.searchsorted(keys, hashes)
            pos_ok = np.minimum(pos, len(keys) - 1)
            hit = (pos < len(keys)) & (keys[pos_ok] == hashes) & (where < 0)
            where[hit] = chunk[pos_ok[hit]]
        return where


def index_key(files: Sequence[Path], n: int) -> tuple[str, list[dict[str, Any]]]:
    entries = [{"path": str(p), "size": p.stat().st_size, "sha256": _sha256(p)} for p in files]
    content = sorted(str(e["sha256"]) for e in entries)
    key = hashlib.sha256(json.dumps([NORMALISATION, n, content]).encode()).hexdigest()[:24]
    return key, entries


def _write_part(folder: Path, number: int, hashes: list[np.ndarray], chunks: list[np.ndarray]):
    keys = np.concatenate(hashes)
    where = np.concatenate(chunks)
    order = np.argsort(keys, kind="stable")
    name = f"part-{number:05d}"
    np.save(folder / f"{name}.hash.npy", keys[order])
    np.save(folder / f"{name}.chunk.npy", where[order])
    return name


def build_index(
    paths: Iterable[str | Path],
    root: Path,
    *,
    n: int = 13,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[CorpusIndex, bool]:
    """The index of ``paths`` under ``root`` (built unless cached); returns it and whether it
    was built now. ``on_progress(bytes_done, bytes_total)`` is called as the corpus is read."""
    if n < 1:
        raise UserError(f"n-gram length must be at least 1, got {n}")
    files = corpus_files(paths)
    key, entries = index_key(files, n)
    folder = root / key
    if (folder / "manifest.json").is_file():
        return CorpusIndex(folder), False
    tmp = root / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    total = sum(e["size"] for e in entries)
    done = 0
    hasher = WordHasher()
    chunks: list[Chunk] = []
    pending_h: list[np.ndarray] = []
    pending_c: list[np.ndarray] = []
    pending = 0
    parts: list[str] = []
    ngrams = 0
    try:
        for path in files:
            carry: list[str] = []
            for chunk, lines in read_chunks(path):
                tokens = carry + words("".join(lines))
                hashes = ngram_hashes(hasher(tokens), n)
                carry = tokens[-(n - 1) :] if n > 1 else []
                chunk_id = len(chunks)
                chunks.append(chunk)
                if len(hashes):
                    pending_h.append(hashes)
                    pending_c.append(np.full(len(hashes), chunk_id, dtype=np.uint32))
                    pending += len(hashes)
                    ngrams += len(hashes)
                if pending >= PART_NGRAMS:
                    parts.append(_write_part(tmp, len(parts), pending_h, pending_c))
                    pending_h, pending_c, pending = [], [], 0
                done += chunk.end - chunk.start
                if on_progress:
                    on_progress(done, total)
        if pending or not parts:
            empty = [np.empty(0, dtype=np.uint64)]
            parts.append(
                _write_part(
                    tmp,
                    len(parts),
                    pending_h or empty,
                    pending_c or [np.empty(0, dtype=np.uint32)],
                )
            )
        manifest = {
            "n": n,
            "normalisation": NORMALISATION,
            "files": entries,
            "chunks": [c.__dict__ for c in chunks],
            "ngrams": ngrams,
            "parts": parts,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        try:
            tmp.rename(folder)
        except OSError:  # built meanwhile by another process: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CorpusIndex(folder), True


def locate(index: CorpusIndex, chunk_id: int, hash_value: int) -> tuple[str, int]:
    """The file and 1-based line where the n-gram with ``hash_value`` starts in a chunk."""
    chunk = index.chunks[chunk_id]
    path = Path(chunk.file)
    with path.open("rb") as f:
        f.seek(chunk.start)
        data = f.read(chunk.end - chunk.start).decode("utf-8", errors="replace")
    json_rows = path.suffix.lower() in (".jsonl", ".json")
    hasher = WordHasher()
    line_words = [words(_line_text(line, json_rows)) for line in data.splitlines(keepends=True)]
    flat = [w for ws in line_words for w in ws]
    found = np.flatnonzero(ngram_hashes(hasher(flat), index.n) == np.uint64(hash_value))
    if not len(found):  # the n-gram straddles the previous chunk's end
        return chunk.file, chunk.line
    first = int(found[0])
    seen = 0
    for offset, ws in enumerate(line_words):
        seen += len(ws)
        if seen > first:
            return chunk.file, chunk.line + offset
    return chunk.file, chunk.line


__all__ = [
    "Chunk",
    "CorpusIndex",
    "build_index",
    "corpus_files",
    "locate",
    "read_chunks",
    "text_of",
]
