"""Several processes on one workspace at once: two evaluations, a ``docs add`` and the web app
reading, all started together on a workspace that does not exist yet (so they also race to
create and migrate the database). None may fail with "database is locked", no row may be lost,
and every page the web app serves meanwhile is a good one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from assay.evals.runs import RunStore
from assay.ui import create_app
from assay.workspace import Workspace
from faulty_api import FaultyAPI

REPO = Path(__file__).resolve().parents[1]
N = 80
TOKEN = "t" * 32


def _task(folder: Path, name: str) -> Path:
    data = folder / f"{name}.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"{name}{i}", "q": f"say {i}", "a": str(i)}) + "\n" for i in range(N)
        )
    )
    task = folder / f"{name}.yaml"
    task.write_text(
        f"name: {name}\ndataset: {{source: {data}, id_field: id}}\ntemplate: '{{{{ q }}}}'\n"
        "target: a\nextract: {strategy: last_number}\nscorers: [numeric_match]\n"
    )
    return task


def test_two_evals_a_docs_add_and_the_web_app_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "ASSAY_HOME": str(home),
        "ASSAY_BATCH_SIZE": "1",  # a commit per sample: as many writes as there can be
        "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(20):
        (notes / f"{i:02d}.md").write_text(f"# Note {i}\n\n" + f"Site {i} was visited again. " * 30)
    api = FaultyAPI(fault_rate=0.0, delay_s=0.01)
    commands = [
        ["eval", str(_task(tmp_path, "alpha")), "-m", "fake:"],
        ["eval", str(_task(tmp_path, "beta")), "-m", "fake:"],
        [
            "docs", "add", str(notes), "-c", "notes", "--no-progress",
            "--embedder", f"openai:emb@{api.base_url}", "--chunk-tokens", "16",
            "--overlap-tokens", "0",
        ],
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]

    # The web app reads the whole time the others write.
    pages: list[tuple[str, int]] = []
    stop = threading.Event()

    def read() -> None:
        client = TestClient(create_app(Workspace(home), token=TOKEN))
        while not stop.is_set():
            if not (home / "assay.db").exists():
                continue
            for path in ("/runs", "/collections"):
                pages.append((path, client.get(path, headers={"X-Assay-Token": TOKEN}).status_code))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        errors = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        stop.set()
        reader.join()
        api.close()
    for proc, err in zip(procs, errors, strict=True):
        assert proc.returncode == 0 and "locked" not in err, err
    assert pages and all(code == 200 for _, code in pages), [p for p in pages if p[1] != 200][:3]

    ws = Workspace(home)
    store = RunStore(ws)
    runs = store.list()
    assert sorted(r.task for r in runs) == ["alpha", "beta"]
    for run in runs:
        assert run.status == "done" and run.n_done == N
        assert len(store.samples(run.id)) == N
    assert ws.db.execute("SELECT COUNT(*) FROM rag_documents").fetchone()[0] == 20
    per_doc = ws.db.execute(
        "SELECT COUNT(*), COUNT(e.text_hash) FROM rag_chunks c "
        "LEFT JOIN rag_embeddings e ON e.text_hash = c.text_hash GROUP BY c.document_id"
    ).fetchall()
    # every document has all its chunks (the same text cut the same way), each with its vector
    assert len(per_doc) == 20 and len({n for n, _ in per_doc}) == 1
    assert all(n == vectors > 1 for n, vectors in per_doc)
    # every model call was logged by both evaluations
    logged = ws.db.execute("SELECT SUM(n_requests) FROM calls WHERE op = 'generate'").fetchone()
    assert logged[0] == 2 * N
