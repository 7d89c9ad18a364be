"""Collections kept in a real ChromaDB server (``chroma run``): the same documents in the embedded
store and in Chroma give the same top-k in every search mode, ``assay ask --extractive`` and an
evaluation's retrieval step work unchanged, the server follows removals, and a dead store or a
lost server-side collection is one line."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.config import load_settings
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.task import load_task
from assay.models.facade import Model
from assay.models.fake import FakeBackend
from assay.rag import Collection
from assay.rag.chroma import StoreError
from assay.rag.search import SearchFilter
from assay.workspace import Workspace

CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
pytestmark = pytest.mark.skipif(
    CHROMA is None,
    reason="the ChromaDB server is not installed (pip install 'assay[chroma]' gives `chroma run`)",
)

VAULTS = {
    "amber": ("K7Q2", "granite cliffs above the northern harbour"),
    "birch": ("M4X9", "a birch forest with a frozen lake"),
    "cobalt": ("P1R8", "the old cobalt mine under the hills"),
    "delta": ("T6W3", "the river delta where herons nest"),
    "ember": ("Z5N0", "a volcanic field of warm black sand"),
    "fjord": ("H2J6", "a narrow fjord reached only by boat"),
}

TASK = """
name: vault-codes
dataset: {{source: {data}}}
input: question
target: answer
template: |
  Sources:
  {{{{ context }}}}

  Question: {{{{ question }}}}
generation: {{max_tokens: 8}}
scorers:
  - exact_match
  - {{name: "assay.evals.retrieval_step:retrieval_hit", options: {{relevant: doc, match: document}}}}
retrieval: {{collection: {collection}, k: 2, mode: dense}}
"""

QUERIES = [
    "Which vault lies under the hills in a mine?",
    "herons nesting by the river",
    "access code of vault fjord",
    "warm sand and volcanoes",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChromaServer:
    """``chroma run`` on a free port in a temp dir; started at once, waited for when first used."""

    def __init__(self, path: Path) -> None:
        assert CHROMA is not None
        self.port = _free_port()
        self.url = f"chroma://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [CHROMA, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def ready(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1)
                return self.url
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    pytest.fail(f"chroma run exited with {self.proc.returncode}")
                time.sleep(0.1)
        pytest.fail("chroma run did not answer within 30 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ChromaServer]]:
    """Two servers booting while the embedder loads: one to search, one to stop."""
    running = [ChromaServer(tmp_path_factory.mktemp("chroma-data")) for _ in range(2)]
    yield running
    for server in running:
        server.stop()


@pytest.fixture(scope="module")
def both(
    tmp_path_factory: pytest.TempPathFactory, servers: list[ChromaServer]
) -> tuple[Collection, Collection]:
    """The same notes in the embedded store and in Chroma (the second add reuses the vectors)."""
    root = tmp_path_factory.mktemp("chroma-ws")
    docs = root / "docs"
    docs.mkdir()
    for name, (code, place) in VAULTS.items():
        (docs / f"{name}.md").write_text(
            f"# Vault {name}\n\nThe access code of vault {name} is {code}.\n\n"
            f"## Site\n\nThe {name} vault is near {place}. It was inspected twice last spring "
            "and found in good order.\n"
        )
    ws = Workspace.init(root)
    local = Collection(ws, "local")
    assert local.add([docs]).count("added") == len(VAULTS)
    remote = Collection(ws, "remote", store=servers[0].ready())
    report = remote.add([docs])
    assert report.count("added") == len(VAULTS) and report.embedded == 0
    rows = [
        {
            "id": n,
            "question": f"What is the access code of vault {n}?",
            "answer": c,
            "doc": f"{n}.md",
        }
        for n, (c, _) in VAULTS.items()
    ]
    (root / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("local", "remote"):
        (root / f"{name}.yaml").write_text(TASK.format(data=root / "qa.jsonl", collection=name))
    return local, remote


def _keys(col: Collection, query: str, mode: str, **kw: object) -> list[tuple[str, int]]:
    return [(h.document, h.seq) for h in col.search(query, k=4, mode=mode, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid", "mmr"])
def test_same_top_k_as_the_embedded_store(both: tuple[Collection, Collection], mode: str) -> None:
    local, remote = both
    for query in QUERIES:
        assert _keys(remote, query, mode) == _keys(local, query, mode), query
    dense_l = local.search(QUERIES[0], k=4, mode="dense")
    dense_r = remote.search(QUERIES[0], k=4, mode="dense")
    assert [h.score for h in dense_r] == pytest.approx([h.score for h in dense_l], abs=1e-4)


def test_filters_run_in_the_server(both: tuple[Collection, Collection]) -> None:
    local, remote = both
    for col_filter in ({"documents": ["cobalt.md", "delta.md"]}, {"section": "site"}):
        filt_l = local.resolve_filter(**col_filter)  # type: ignore[arg-type]
        filt_r = remote.resolve_filter(**col_filter)  # type: ignore[arg-type]
        got = _keys(remote, QUERIES[0], "dense", filters=filt_r)
        assert got == _keys(local, QUERIES[0], "dense", filters=filt_l)
        assert got
    only = _keys(remote, QUERIES[0], "dense", filters=remote.resolve_filter(["delta.md"]))
    assert {d for d, _ in only} == {"delta.md"}
    assert not remote.search("herons", k=3, mode="dense", filters=SearchFilter(pages=(1, 2)))


def test_ask_and_eval_retrieval_unchanged(
    both: tuple[Collection, Collection], monkeypatch: pytest.MonkeyPatch
) -> None:
    local, remote = both
    ws = remote.workspace
    monkeypatch.setenv("ASSAY_HOME", str(ws.root))
    runner = CliRunner()
    answers = {}
    for col in (local, remote):
        out = runner.invoke(
            cli, ["ask", "Which vault is near the old cobalt mine?", "-c", col.name, "--extractive"]
        )
        assert out.exit_code == 0, out.output
        answers[col.name] = out.output
    assert answers["remote"] == answers["local"] and "cobalt.md" in answers["remote"]

    def read(prompt: str) -> str:
        vault = re.findall(r"code of vault (\w+)\?", prompt)[-1]
        found = re.search(rf"vault {vault} is (\w+)\.", prompt)
        return found.group(1) if found else "unknown"

    runs = {}
    for name in ("local", "remote"):
        model = Model(
            FakeBackend(replies=[read], name="reader"),
            address="fake:reader",
            settings=load_settings(ws.config_path),
            workspace=ws,
        )
        task = load_task(str(ws.root.parent / f"{name}.yaml"))
        runs[name] = evaluate(task, model, EvalOptions(progress=False, rerun=True), lambda _: None)
    assert runs["remote"].metrics == runs["local"].metrics
    assert runs["remote"].metrics is not None
    assert runs["remote"].metrics["metrics"]["exact_match"]["value"] == 1.0
    store = RunStore(ws)
    shown = {n: [s["retrieval"]["documents"] for s in store.samples(r.id)] for n, r in runs.items()}
    assert shown["remote"] == shown["local"]


def test_server_follows_removal_and_sync(
    both: tuple[Collection, Collection], tmp_path: Path
) -> None:
    _, remote = both
    chroma = remote.remote()
    assert chroma is not None
    info = remote.info
    assert info is not None and chroma.count() == info.n_chunks
    removed = remote.remove("ember.md")
    assert chroma.count() == info.n_chunks - removed.n_chunks
    assert all(h.document != "ember.md" for h in remote.search("volcanic sand", k=8, mode="dense"))
    # the server loses the collection: one line naming it and the fix; `docs sync` restores it
    chroma.drop()
    with pytest.raises(StoreError, match=r"has no collection .*assay docs sync -c remote"):
        remote.search("herons", k=2, mode="dense")
    env = {"ASSAY_HOME": str(remote.workspace.root)}
    out = CliRunner().invoke(cli, ["docs", "sync", "-c", "remote"], env=env)
    assert out.exit_code == 0 and re.search(r"\d+ chunks copied", out.output), out.output
    assert chroma.count() == info.n_chunks - removed.n_chunks
    assert remote.search("herons", k=1, mode="dense")[0].document == "delta.md"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The command as a user runs it (error rendering included): exit code and stderr."""
    from assay.cli.main import main

    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_dead_store_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    monkeypatch.setenv("ASSAY_HOME", str(ws.root))
    (tmp_path / "a.md").write_text("# A\n\nSome text to index.\n")
    dead = f"chroma://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    code, err = run(capsys, "docs", "add", str(tmp_path / "a.md"), "-c", "x", "--store", dead)
    assert time.monotonic() - started < 5
    assert code != 0 and "Traceback" not in err
    assert err.startswith(f"error: store {dead} does not answer"), err
    assert Collection(ws, "x").info is None
    code, err = run(capsys, "docs", "add", "a.md", "--store", "http://x:1")
    assert code != 0 and "is not a store address" in err.splitlines()[0]


def test_store_that_went_away(
    both: tuple[Collection, Collection],
    servers: list[ChromaServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    ws = both[0].workspace
    url = servers[1].ready()
    (tmp_path / "a.md").write_text("# A\n\nThe heron nests in the delta.\n")
    Collection(ws, "gone", store=url).add([tmp_path / "a.md"])
    servers[1].stop()
    monkeypatch.setenv("ASSAY_HOME", str(ws.root))
    started = time.monotonic()
    code, err = run(capsys, "docs", "search", "heron", "-c", "gone", "--mode", "dense")
    assert time.monotonic() - started < 8
    assert code != 0 and "Traceback" not in err
    assert err.startswith(f"error: store {url} does not answer"), err
    code, err = run(capsys, "docs", "list", "-c", "gone")  # the workspace's record still reads
    assert code == 0
