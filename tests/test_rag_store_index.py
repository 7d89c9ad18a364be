"""The search index files: appended after adds (equal to a full rebuild), rebuilt after removals,
and stale or damaged files detected and repaired. A hashing embedder keeps these tests fast."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.rag import Collection
from assay.rag import index as index_module
from assay.rag.index import MANIFEST, IndexFiles, SearchIndex, load_index, removal_epoch
from assay.rag.ingest import ingest
from assay.workspace import Workspace

DIM = 64


class HashingEmbedder:
    """Bag of hashed words, unit length: deterministic and instant."""

    name = "st:hashing-test"
    dim = DIM
    max_tokens = 254

    def encode(self, texts: object, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        rows = []
        for text in texts:  # type: ignore[attr-defined]
            v = np.zeros(DIM, dtype=np.float32)
            for w in re.findall(r"\w+", text.lower()):
                v[int(hashlib.md5(w.encode()).hexdigest(), 16) % DIM] += 1.0
            rows.append(v / max(float(np.linalg.norm(v)), 1e-9))
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), DIM)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def count_tokens(self, texts: object) -> list[int]:
        return [len(t.split()) for t in texts]  # type: ignore[attr-defined]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


TOPICS = {
    "glaciers.txt": "Glaciers retreat as ice sheets melt. Meltwater raises the sea level.",
    "deserts.txt": "Deserts have dunes of sand. Cacti store water in the desert heat.",
    "forests.txt": "Rain forests hold most species. Logging clears the forest canopy.",
    "oceans.txt": "Oceans absorb heat and carbon. Coral reefs bleach in warm water.",
    "cities.txt": "Cities grow upward. Traffic and heat islands shape urban life.",
}
QUERIES = ["ice melting sea level", "water in the desert", "heat", "coral reef species", "traffic"]


def make(tmp_path: Path, name: str = "notes") -> tuple[Collection, Path]:
    ws = Workspace.init(tmp_path / "ws")
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    return Collection(ws, name, embedder=HashingEmbedder()), folder


def add(col: Collection, folder: Path, name: str, text: str | None = None) -> None:
    path = folder / name
    path.write_text(text or TOPICS[name])
    report = col.add([path])
    assert report.count("added") + report.count("replaced") == 1, report.summary()


def fresh_index(col: Collection) -> SearchIndex:
    """What a full rebuild from the database gives."""
    info = col._require()
    files = IndexFiles(col.store, info)
    files.rebuild()
    return files._open(files.sync())


def assert_same(a: SearchIndex, b: SearchIndex) -> None:
    assert a.dense.ids.tolist() == b.dense.ids.tolist()
    assert a.dense.doc_ids.tolist() == b.dense.doc_ids.tolist()
    np.testing.assert_array_equal(np.asarray(a.dense.vectors), np.asarray(b.dense.vectors))
    for q in QUERIES:
        assert a.bm25.top(q, 10) == b.bm25.top(q, 10), q


def manifest(col: Collection) -> dict[str, Any]:
    info = col._require()
    return json.loads((col.workspace.root / "rag" / f"collection-{info.id}" / MANIFEST).read_text())


def test_adds_append_and_equal_a_full_rebuild(tmp_path: Path) -> None:
    col, folder = make(tmp_path)
    for name in TOPICS:
        add(col, folder, name)
    m = manifest(col)
    assert m["rows"] == len(TOPICS) and len(m["segments"]) == len(TOPICS)  # one segment per add
    build = m["build"]
    info = col._require()
    appended = load_index(col.store, info)
    assert manifest(col)["build"] == build  # appended in place, never rebuilt
    assert_same(appended, fresh_index(col))
    assert col.search("ice sheets melt", k=1, mode="bm25")[0].document == "glaciers.txt"
    assert col.search("dunes of sand", k=1, mode="hybrid")[0].document == "deserts.txt"


def test_segments_are_merged_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assay.rag.index.MAX_SEGMENTS", 2)
    col, folder = make(tmp_path)
    for name in TOPICS:
        add(col, folder, name)
    assert len(manifest(col)["segments"]) <= 2
    assert_same(load_index(col.store, col._require()), fresh_index(col))


def test_removal_and_replacement_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pruned: list[bool] = []
    original = IndexFiles._pruned

    def spy(self: IndexFiles, old: Any) -> Any:
        out = original(self, old)
        pruned.append(out is not None)
        return out

    monkeypatch.setattr(IndexFiles, "_pruned", spy)
    col, folder = make(tmp_path)
    for name in ("glaciers.txt", "deserts.txt", "forests.txt"):
        add(col, folder, name)
    gen = col._require().generation
    build = manifest(col)["build"]
    col.remove("forests.txt")  # the newest document: its chunk ids are reused by the next add
    assert removal_epoch(col._require().generation) == removal_epoch(gen) + 1
    add(col, folder, "forests.txt", "Forests of kelp grow in cold oceans.")
    assert manifest(col)["build"] != build
    assert not col.search("logging canopy", k=3, mode="bm25")
    assert col.search("kelp", k=1, mode="bm25")[0].document == "forests.txt"
    # a changed file replaced in place (same path): a removal too
    add(col, folder, "glaciers.txt", "Glaciers carve valleys; moraines mark their old edges.")
    assert not col.search("meltwater", k=3, mode="bm25")
    assert col.search("moraines", k=1, mode="hybrid")[0].document == "glaciers.txt"
    assert pruned == [True, True]  # the unchanged rows were kept, not re-read and re-tokenised
    assert_same(load_index(col.store, col._require()), fresh_index(col))


def test_stale_and_damaged_files_are_detected(tmp_path: Path) -> None:
    col, folder = make(tmp_path)
    add(col, folder, "glaciers.txt")
    add(col, folder, "deserts.txt")
    info = col._require()
    index_dir = col.workspace.root / "rag" / f"collection-{info.id}"
    good = manifest(col)

    # An add committed to the database, then the process died before the files were updated:
    # another process (here: a new handle) appends what is missing.
    path = folder / "oceans.txt"
    path.write_text(TOPICS["oceans.txt"])
    ingest(col.store, info, HashingEmbedder(), [path])
    assert manifest(col)["generation"] == good["generation"]  # files lag the database
    other = Collection(col.workspace, "notes", embedder=HashingEmbedder())
    assert other.search("coral reefs", k=1, mode="bm25")[0].document == "oceans.txt"
    assert manifest(col)["build"] == good["build"] and manifest(col)["rows"] == 3

    # An append interrupted after writing bytes but before the manifest: the bytes are cut off.
    m = manifest(col)
    with (index_dir / f"vectors-{m['build']}.f32").open("ab") as f:
        f.write(b"\x00" * 1000)
    with (index_dir / f"rows-{m['build']}.bin").open("ab") as f:
        f.write(b"\x01" * 77)
    debris = [index_dir / ".tmp-x1y2.npz", index_dir / "vectors-0123456789ab.f32"]
    for path in debris:  # a temporary file and an unfinished build's file
        path.write_bytes(b"partial")
    add(col, folder, "cities.txt")
    assert manifest(col)["build"] == m["build"] and manifest(col)["rows"] == 4
    assert not any(path.exists() for path in debris)
    assert_same(load_index(col.store, col._require()), fresh_index(col))

    # A manifest that claims more rows than the files hold, or files deleted: rebuilt.
    m = manifest(col)
    (index_dir / f"vectors-{m['build']}.f32").write_bytes(b"")
    fresh = Collection(col.workspace, "notes", embedder=HashingEmbedder())
    index_module.forget(col.store, info.id)
    assert fresh.search("traffic", k=1, mode="dense")[0].document == "cities.txt"
    assert manifest(col)["build"] != m["build"]

    # Garbage in the manifest: rebuilt.
    (index_dir / MANIFEST).write_text("{not json")
    index_module.forget(col.store, info.id)  # as a new process would
    fresh = Collection(col.workspace, "notes", embedder=HashingEmbedder())
    assert fresh.search("dunes", k=1, mode="hybrid")[0].document == "deserts.txt"
    assert manifest(col)["rows"] == 4


def test_files_of_a_dropped_collection_are_not_reused(tmp_path: Path) -> None:
    col, folder = make(tmp_path)
    add(col, folder, "glaciers.txt")
    col.drop()
    again = Collection(col.workspace, "notes", embedder=HashingEmbedder())
    add(again, folder, "deserts.txt")
    assert [h.document for h in again.search("glaciers dunes", k=5, mode="bm25")] == ["deserts.txt"]


def test_filters_apply_to_bm25_rows(tmp_path: Path) -> None:
    col, folder = make(tmp_path)
    for name in TOPICS:
        add(col, folder, name)
    only = col.resolve_filter(documents=["oceans.txt", "cities.txt"])
    for mode in ("bm25", "dense", "hybrid", "mmr"):
        hits = col.search("heat water", k=5, mode=mode, filters=only)
        assert hits and {h.document for h in hits} <= {"oceans.txt", "cities.txt"}, mode
    assert not col.search("heat", k=5, mode="bm25", filters=col.resolve_filter(pages=(1, 2)))
