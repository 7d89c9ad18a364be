"""Secrets stay out of everything assay writes: after calls through an API model with a key set,
neither the workspace (database, WAL, caches) nor logs, exports or reports hold the key, and an
error about a refused key does not repeat it. Servers listen on loopback unless told otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.models.fake import scripted
from assay.serve.app import create_app
from assay.serve.background import BackgroundServer
from assay.workspace import Workspace
from cli_util import run_assay

SECRET = "sk-test-DO-NOT-STORE-7f3a9c1e"
WRONG = "sk-wrong-NEVER-PRINT-44b2"


def files_holding(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def server() -> object:
    running = BackgroundServer(
        create_app(scripted(["The answer is 4."]), api_key=SECRET, served_name="tiny")
    ).start()
    yield running
    running.stop()


def test_no_secret_is_written_anywhere(
    server: BackgroundServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    model = f"openai:tiny@{server.base_url}"
    out = tmp_path / "out"
    out.mkdir()
    data = tmp_path / "items.jsonl"
    data.write_text(
        '{"id": "a", "q": "2+2?", "answer": "4"}\n{"id": "b", "q": "1+3?", "answer": "4"}\n'
    )
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: sums\ndataset: {{source: {data}, id_field: id}}\ntemplate: '{{{{ q }}}}'\n"
        "target: answer\nscorers: [exact_match]\n"
    )
    code, text, err = run_assay(["generate", model, "What is 2+2?", "--json"])
    assert code == 0, err
    code, text, err = run_assay(["eval", str(task), "-m", model, "--json"])
    assert code == 0, err
    [run] = json.loads(text)
    run_id = run["id"] if "id" in run else run["run_id"]
    printed = [text, err]
    for args in (
        ["log", "--json"],
        ["log"],
        ["runs", "list", "--json"],
        ["runs", "show", run_id],
        ["runs", "export", run_id, "-o", str(out / "samples.csv")],
        ["runs", "export", run_id, "-o", str(out / "samples.jsonl")],
        ["report", run_id, "-o", str(out / "report.html")],
        ["models", "info", model, "--json"],
    ):
        code, stdout, stderr = run_assay(args)
        assert code == 0, (args, stderr)
        printed += [stdout, stderr]
    assert not any(SECRET in p for p in printed)
    home = Workspace.find().root
    assert files_holding(home, SECRET) == []
    assert files_holding(out, SECRET) == []
    assert (out / "report.html").stat().st_size > 0 and any(home.rglob("*.db"))


def test_a_refused_key_is_not_repeated(
    server: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", WRONG)
    code, out, err = run_assay(["generate", f"openai:tiny@{server.base_url}", "hi"])
    assert code != 0 and "OPENAI_API_KEY" in err
    assert WRONG not in out + err
    assert files_holding(Workspace.find().root, WRONG) == []


def test_servers_listen_on_loopback_by_default() -> None:
    from assay.cli.serve import serve

    [host] = [p for p in serve.params if p.name == "host"]
    assert host.default == "127.0.0.1"
