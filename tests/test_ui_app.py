"""The web app's pages over HTTP (no browser): runs, samples, compare, review, models and cost,
training; the token, the host check, files by id only; unknown ids, bad labels and a damaged
or locked workspace as clear pages; `assay ui` refusing a damaged database in one line."""

from __future__ import annotations

import html
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assay.ui.app import create_app
from assay.workspace import Workspace
from cli_util import run_assay
from ui_workspace import UIWorkspace, build

TOKEN = "test-token"


@pytest.fixture(scope="module")
def uiws(tmp_path_factory: pytest.TempPathFactory) -> UIWorkspace:
    return build(tmp_path_factory.mktemp("ui-app"), n=40)


@pytest.fixture
def client(uiws: UIWorkspace) -> TestClient:
    c = TestClient(create_app(uiws.ws, token=TOKEN))
    assert c.get("/runs", params={"token": TOKEN}).status_code == 200  # sets the cookie
    return c


def test_every_request_needs_the_token(uiws: UIWorkspace) -> None:
    c = TestClient(create_app(uiws.ws, token=TOKEN))
    assert c.get("/runs").status_code == 403
    assert c.get("/runs", params={"token": "wrong"}).status_code == 403
    assert c.get("/runs", headers={"X-Assay-Token": TOKEN}).status_code == 200
    # the cookie set by the first good visit lets links work without the token
    assert c.get("/runs", params={"token": TOKEN}).status_code == 200
    assert c.get(f"/runs/{uiws.run_a}").status_code == 200
    # a change needs the header (or form field), not only the cookie
    body = {"item": 1, "reviewer": "ada", "value": "right"}
    assert c.post(f"/review/{uiws.queue}/label", json=body).status_code == 403
    # a page reached under another host name (DNS rebinding) is refused
    assert c.get("/runs", headers={"host": "evil.example:8765"}).status_code == 403


def test_runs_list_filters(client: TestClient, uiws: UIWorkspace) -> None:
    page = client.get("/runs", params={"task": "sums", "model": "fake"}).text
    assert uiws.run_a in page and uiws.run_b in page
    assert uiws.run_a not in client.get("/runs", params={"status": "failed"}).text
    assert uiws.run_a not in client.get("/runs", params={"since": "2999-01-01"}).text


def test_run_page_samples_and_a_sample(client: TestClient, uiws: UIWorkspace) -> None:
    page = client.get(f"/runs/{uiws.run_a}").text
    assert "numeric_match" in page and "95% CI" in page
    # failures first: the first row is a sample whose answer could not be read
    first = client.get(f"/runs/{uiws.run_a}/samples.json").json()
    assert first["total"] == 40 and first["rows"][0]["status"] == "failed"
    failed = client.get(f"/runs/{uiws.run_a}/samples.json", params={"status": "failed"}).json()
    assert failed["total"] == 8 and {r["status"] for r in failed["rows"]} == {"failed"}
    found = client.get(f"/runs/{uiws.run_a}/samples.json", params={"q": "What is 7 plus"}).json()
    assert [r["id"] for r in found["rows"]] == ["q7"]
    paged = client.get(f"/runs/{uiws.run_a}/samples.json", params={"size": 15, "page": 3}).json()
    assert len(paged["rows"]) == 10
    scored = client.get(f"/runs/{uiws.run_a}/samples.json", params={"min_score": 1}).json()
    assert scored["total"] == 32
    sample = client.get(f"/runs/{uiws.run_a}/samples/q5").text
    assert "What is 5 plus 5?" in sample and "I am not sure." in sample and "no number" in sample
    assert "prompt tokens" in sample and "latency" in sample
    assert (
        "<figure>" in client.get(f"/runs/{uiws.run_a}/figures").text
        or "No figures" in client.get(f"/runs/{uiws.run_a}/figures").text
    )


def test_compare_shows_the_paired_table_and_disagreements(
    client: TestClient, uiws: UIWorkspace
) -> None:
    page = client.get("/compare", params={"runs": [uiws.run_a, uiws.run_b]}).text
    assert "mcnemar-exact" in page and "p (Holm)" in page
    # the runs differ where exactly one of "n % 5 == 0" and "n % 3 == 0" holds: 16 of 40
    assert "16 items scored differently" in page
    assert "choose a task" in client.get("/compare").text


def test_unknown_ids_are_404_pages(client: TestClient, uiws: UIWorkspace) -> None:
    for url in (
        "/runs/nope",
        f"/runs/{uiws.run_a}/samples/nope",
        "/collections/nope",
        "/review/nope",
        "/training/nope",
        "/chunks/999999/page/1.png",
        "/no/such/page",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "Traceback" not in r.text and 'id="error"' in r.text, url
    assert "no run 'nope'" in html.unescape(client.get("/runs/nope").text)


def test_review_in_the_app(client: TestClient, uiws: UIWorkspace) -> None:
    # the first visit asks for a name; with it, the app goes to the first unlabelled item
    assert "your name" in client.get(f"/review/{uiws.queue}").text
    r = client.get(f"/review/{uiws.queue}", params={"reviewer": "eve"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("item=1")
    headers = {"X-Assay-Token": TOKEN}
    bad = client.post(
        f"/review/{uiws.queue}/label",
        json={"item": 1, "reviewer": "eve", "value": "maybe"},
        headers=headers,
    )
    assert bad.status_code == 400 and "not a label of rubric 'correct'" in bad.json()["error"]
    for reviewer in ("eve", "finn"):
        for item in (1, 2, 3):
            ok = client.post(
                f"/review/{uiws.queue}/label",
                json={
                    "item": item,
                    "reviewer": reviewer,
                    "value": "right" if item != 2 or reviewer == "eve" else "wrong",
                },
                headers=headers,
            )
            assert ok.status_code == 200, ok.text
    summary = ok.json()["summary"]
    assert summary["progress"]["finn"] == 3 and summary["agreement"]["percent"][
        "value"
    ] == pytest.approx(2 / 3)
    r = client.get(f"/review/{uiws.queue}", params={"reviewer": "eve"}, follow_redirects=False)
    assert r.headers["location"].endswith("item=4")  # resumes where eve stopped
    page = client.get(f"/review/{uiws.queue}", params={"reviewer": "eve", "item": 2}).text
    assert "What is" in page and "labelled right" in page


def test_models_cost_and_training(client: TestClient, uiws: UIWorkspace) -> None:
    page = client.get("/models").text
    assert "fake:" in page and 'id="by-day"' in page
    assert "default" in page and 'id="known"' in page
    card = client.get("/models/card", params={"address": "default"})
    assert card.status_code == 200 and "memory" in card.text and 'id="verdicts"' in card.text
    missing = client.get("/models/card", params={"address": "hf:/no/such/model"})
    assert missing.status_code == 404
    listing = client.get("/training").text
    assert uiws.training in listing and "sft-running-demo" in listing
    run = client.get(f"/training/{uiws.training}").text
    assert 'class="series"' in run and "train loss" in run and "eval accuracy" in run
    live = client.get("/training/sft-running-demo").text
    assert "Refreshing every 3 s" in live and "train loss" in live
    assert len(client.get("/training/sft-running-demo/curves.json").json()["train"]) == 5


def test_a_damaged_workspace_is_a_clear_page_and_a_one_line_cli_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "broken"
    home.mkdir()
    (home / "assay.db").write_bytes(b"this is not a database" * 100)
    ws = Workspace(home)
    c = TestClient(create_app(ws, token=TOKEN), raise_server_exceptions=False)
    r = c.get("/runs", params={"token": TOKEN})
    assert r.status_code == 503 and "is damaged" in r.text and "Traceback" not in r.text
    monkeypatch.setenv("ASSAY_HOME", str(home))
    code, _, err = run_assay(["ui", "--port", "0"])
    assert code != 0 and err.startswith("error: the workspace database") and "damaged" in err
    assert len(err.strip().splitlines()) == 2  # error and hint


def test_a_locked_workspace_is_a_clear_page(
    uiws: UIWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.evals.runs import RunStore

    def locked(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(RunStore, "list", locked)
    c = TestClient(create_app(uiws.ws, token=TOKEN), raise_server_exceptions=False)
    r = c.get("/runs", params={"token": TOKEN})
    assert (
        r.status_code == 503
        and "is locked by another process" in r.text
        and "Traceback" not in r.text
    )


def test_ui_refuses_another_host_without_a_token(
    uiws: UIWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(uiws.ws.root))
    monkeypatch.delenv("ASSAY_UI_TOKEN", raising=False)
    code, _, err = run_assay(["ui", "--host", "0.0.0.0"])
    assert code != 0 and "give the token too" in err


def test_quickstart_ends_with_the_ui_command() -> None:
    from types import SimpleNamespace

    from assay.cli.quickstart import ui_hint

    results = {
        "prompting_runs": {
            "zero-shot": SimpleNamespace(id="bbc-1"),
            "few-shot": SimpleNamespace(id="bbc-2"),
        },
        "collection": "quickstart-papers",
    }
    lines = ui_hint(results)
    assert lines[0] == 'See them in the web app: assay ui --open "/compare?runs=bbc-1&runs=bbc-2"'
    assert "/collections/quickstart-papers" in lines[1] and "/runs" in lines[1]
    assert ui_hint({})[0].endswith('--open "/runs"')


def test_a_run_being_written_is_read_afresh(uiws: UIWorkspace, client: TestClient) -> None:
    """Another process adds samples to a running run: the app's next page shows them."""
    from assay.evals.runs import RunStore

    writer = RunStore(Workspace(uiws.ws.root))  # its own connection, as another process has
    run = writer.create(
        key="k", task="sums", model="fake:", fingerprint="f", config={}, provenance={}, n_total=10
    )

    def add(ids: range) -> None:
        writer.add_samples(run.id, [(i, f"s{i}", {"output": str(i), "scores": {}}) for i in ids])

    add(range(4))
    assert client.get(f"/runs/{run.id}/samples.json").json()["total"] == 4
    add(range(4, 10))
    assert client.get(f"/runs/{run.id}/samples.json").json()["total"] == 10
    assert "running" in client.get("/runs", params={"status": "running"}).text
