"""An interrupted ``docs add`` keeps every document it finished: run again, those are skipped
(counted as unchanged) and the collection ends equal to one built without interruption."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.rag import Collection
from assay.rag import ingest as ingest_module
from assay.rag.store import RagStore
from assay.workspace import Workspace

TOPICS = ["glaciers", "deserts", "volcanoes", "coral reefs", "tundra", "rainforests"]


def corpus(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for i, topic in enumerate(TOPICS):
        text = "\n\n".join(
            f"Paragraph {k} of note {i}: {topic} change slowly, and field studies of {topic} "
            f"measure them season after season (item {k})."
            for k in range(12)
        )
        paths.append(folder / f"{i:02d}-{topic.replace(' ', '-')}.md")
        paths[-1].write_text(f"# {topic.title()}\n\n{text}\n")
    return paths


def contents(ws: Workspace, name: str) -> dict[str, Any]:
    """Documents, their chunks and their chunks' vectors, by file name (ids aside)."""
    db = ws.db
    (col_id,) = db.execute("SELECT id FROM rag_collections WHERE name = ?", (name,)).fetchone()
    out: dict[str, Any] = {}
    for doc_id, doc_name, sha in db.execute(
        "SELECT id, name, sha256 FROM rag_documents WHERE collection_id = ?", (col_id,)
    ):
        chunks = db.execute(
            "SELECT c.seq, c.text, c.text_hash, e.vector FROM rag_chunks c JOIN rag_embeddings e "
            "ON e.text_hash = c.text_hash WHERE c.document_id = ? ORDER BY c.seq",
            (doc_id,),
        ).fetchall()
        vectors = np.stack([np.frombuffer(c[3], dtype=np.float32) for c in chunks])
        out[doc_name] = (sha, [tuple(c[:3]) for c in chunks], vectors)
    return out


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Equal documents and chunks; vectors equal up to float rounding (batches differ)."""
    assert sorted(got) == sorted(want)
    for name, (sha, chunks, vectors) in got.items():
        assert (sha, chunks) == want[name][:2], name
        np.testing.assert_allclose(vectors, want[name][2], atol=1e-5)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("whole")
    ws = Workspace.init(root / "ws")
    report = Collection(ws, "notes").add(corpus(root / "notes"))
    assert report.count("added") == len(TOPICS)
    return contents(ws, "notes")


class Interrupted(BaseException):
    """Stands for a kill: not an Exception, so nothing on the way catches it."""


def dies_after(n: int, fn: Callable[..., Any], calls: list[tuple[Any, ...]]) -> Callable[..., Any]:
    """``fn``, recording each call's arguments in ``calls``, killed at call ``n + 1``."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if len(calls) == n:
            raise Interrupted
        calls.append(args)
        return fn(*args, **kwargs)

    return wrapped


def test_interrupted_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uninterrupted: dict[str, Any]
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    paths = corpus(tmp_path / "notes")
    writes: list[tuple[Any, ...]] = []
    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        patch.setattr(RagStore, "write_documents", dies_after(2, RagStore.write_documents, writes))
        Collection(ws, "notes").add(paths)
    assert [len(args[2]) for args in writes] == [1, 1], "one document per transaction"

    again = Collection(ws, "notes").add(paths)
    assert again.count("unchanged") == 2 and again.count("added") == len(TOPICS) - 2
    assert_same(contents(ws, "notes"), uninterrupted)


def test_interrupted_while_embedding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uninterrupted: dict[str, Any]
) -> None:
    """Slow parsing: documents are embedded and committed every few seconds, not at the end."""
    ws = Workspace.init(tmp_path / "ws")
    paths = corpus(tmp_path / "notes")
    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        patch.setattr(ingest_module, "GROUP_SECONDS", 0.0)  # as if each file took long
        patch.setattr(ingest_module, "embed_texts", dies_after(3, ingest_module.embed_texts, []))
        Collection(ws, "notes").add(paths)

    again = Collection(ws, "notes").add(paths)
    assert again.count("unchanged") == 3 and again.count("added") == len(TOPICS) - 3
    assert_same(contents(ws, "notes"), uninterrupted)
    assert Collection(ws, "notes").search("volcanoes field studies", k=1, mode="bm25")


@pytest.mark.slow
def test_killed_process_keeps_its_finished_documents(
    tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    """A real SIGKILL of ``assay docs add`` once some documents are in the database."""
    ws = Workspace.init(tmp_path / "ws")
    paths = corpus(tmp_path / "notes")
    src = Path(__file__).resolve().parents[1] / "src"
    env = {
        **os.environ,
        "ASSAY_HOME": str(ws.root),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    # Each file its own group (as when files are slow to parse), so documents are committed
    # one by one; the test kills the CLI after the first.
    # Embedding is slowed so the kill always lands before the last document.
    script = (
        "import sys, time; import assay.rag.ingest as m; m.GROUP_SECONDS = 0.0; "
        "embed = m.embed_texts; "
        "m.embed_texts = lambda *a, **k: (time.sleep(0.5), embed(*a, **k))[1]; "
        "from assay.cli.main import main; main(sys.argv[1:])"
    )
    args = [sys.executable, "-c", script, "docs", "add", *map(str, paths), "-c", "notes"]
    proc = subprocess.Popen([*args, "--no-progress"], env=env, stdout=subprocess.DEVNULL)
    db_path = ws.db_path
    deadline = time.monotonic() + 120
    committed = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect(db_path) as db:
                    committed = db.execute("SELECT count(*) FROM rag_documents").fetchone()[0]
            except sqlite3.OperationalError:
                committed = 0  # the tables are not made yet
            if committed >= 1:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert committed >= 1 and proc.returncode == -signal.SIGKILL, "killed after a document"
    again = Collection(ws, "notes").add(paths)
    assert again.count("unchanged") >= 1
    assert again.count("unchanged") + again.count("added") == len(TOPICS)
    assert_same(contents(ws, "notes"), uninterrupted)
