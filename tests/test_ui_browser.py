"""`assay ui` driven in headless Chromium as a person would use it: open a run, filter to
failures, open a sample; compare two runs; review three items with the keyboard and watch the
agreement update; ask a collection a question and click a citation to see the page image; open
a training run's curve. Each test saves a screenshot (under pytest's temporary folder, or
``$ASSAY_UI_SCREENSHOTS``).

The browser is the system's Chromium (Debian's ``chromium`` package), driven by Playwright for
Python with ``executable_path``, since browsers cannot be downloaded here. Without any browser
the tests are skipped, saying so; in CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.review import ReviewStore
from ui_workspace import PAPER, QUESTION, UIWorkspace, build

TOKEN = "browser-test-token"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    given = os.environ.get("ASSAY_CHROMIUM")
    if given:
        return given
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = find_browser()
    if executable is None:
        _unavailable("no Chromium found (apt-get install chromium, or set ASSAY_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[tuple[str, UIWorkspace]]:
    """The app over a workspace with runs, a queue, a collection and training runs, served
    on a free port in a thread of this process."""
    import uvicorn

    from assay.ui.app import create_app

    built = build(tmp_path_factory.mktemp("ui-browser"), pdf=shared_data / "pdfs" / PAPER)
    store = ReviewStore(built.ws)
    queue = store.get(built.queue)
    for pos, value in enumerate(("right", "wrong", "right")):
        store.label(queue, pos, "bob", value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(built.ws, token=TOKEN), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", built
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(
    browser: Any,
    site: tuple[str, UIWorkspace],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    base, _ = site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    p.goto(f"{base}/runs?token={TOKEN}")  # the address `assay ui` prints; sets the cookie
    yield p
    folder = Path(
        os.environ.get("ASSAY_UI_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(folder / f"{request.node.name}.png"), full_page=True)
    context.close()


def test_open_a_run_filter_to_failures_open_a_sample(
    page: Any, site: tuple[str, UIWorkspace]
) -> None:
    _base, ws = site
    page.click(f"text={ws.run_a}")
    page.wait_for_selector("table.metrics")
    page.select_option("#status", "failed")
    page.click("#apply")
    page.wait_for_function(
        "document.getElementById('count').textContent.startsWith('8 samples match')"
    )
    statuses = page.locator("#samples tbody td:nth-child(2)").all_inner_texts()
    assert statuses and set(statuses) == {"failed"}
    page.locator("#samples tbody a").first.click()
    page.wait_for_selector("#prompt")
    assert "I am not sure." in page.inner_text("#output")
    assert page.inner_text("#sample-status") == "failed"


def test_compare_two_runs(page: Any, site: tuple[str, UIWorkspace]) -> None:
    base, ws = site
    page.goto(f"{base}/compare")
    page.select_option("select[name=task]", "sums")
    page.wait_for_selector("input[name=runs]")
    page.check(f"input[value='{ws.run_a}']")
    page.check(f"input[value='{ws.run_b}']")
    page.click("#compare")
    page.wait_for_selector("#paired")
    assert "mcnemar-exact" in page.inner_text("#paired")
    assert page.inner_text("#n-diffs").startswith("16 items scored differently")
    assert page.locator("#disagree tbody tr").count() == 16


def test_review_three_items_with_the_keyboard(page: Any, site: tuple[str, UIWorkspace]) -> None:
    base, ws = site
    page.goto(f"{base}/review/{ws.queue}")
    page.fill("#reviewer", "ada")
    page.click("#start")
    page.wait_for_selector("#item-no")
    assert "once two reviewers" in page.inner_text("#agreement")
    for item, key in ((1, "2"), (2, "1"), (3, "1")):
        assert page.inner_text("#item-no") == str(item)
        with page.expect_navigation():
            page.keyboard.press(key)
    page.wait_for_selector("#agreement-table")
    # ada and bob agree on items 1 and 2 and differ on item 3
    assert "ada, bob" in page.inner_text("#agreement-table")
    assert page.inner_text("#done") == "3"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.getElementById('item-no').textContent === '3'")
    assert "labelled wrong" in page.inner_text("#saved")
    summary = ReviewStore(ws.ws).progress(ws.queue)
    assert summary["ada"] == 3


def test_ask_a_collection_and_open_a_cited_page(page: Any, site: tuple[str, UIWorkspace]) -> None:
    base, _ws = site
    page.goto(f"{base}/collections")
    page.click("text=papers")
    assert PAPER in page.inner_text("#documents")
    page.fill("#question", QUESTION)
    page.check("#extractive")
    page.click("#send")
    page.wait_for_selector("#chat a.cite")
    assert "20,093" in page.inner_text("#chat .answer")
    page.locator("#chat a.cite").first.click()
    page.wait_for_function(
        "document.getElementById('page-image').complete && document.getElementById('page-image').naturalWidth > 500"
    )
    assert ", page " in (page.text_content("#viewer-title") or "")


def test_open_a_training_curve(page: Any, site: tuple[str, UIWorkspace]) -> None:
    base, ws = site
    page.goto(f"{base}/training")
    page.click(f"text={ws.training}")
    page.wait_for_selector("#curve polyline")
    names = page.locator("#curve polyline").evaluate_all("els => els.map(e => e.dataset.name)")
    assert names == ["train loss", "eval accuracy", "eval loss"]
    page.goto(f"{base}/training/sft-running-demo")
    assert "Refreshing" in page.inner_text("#live")
