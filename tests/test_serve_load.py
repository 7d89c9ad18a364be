"""``assay serve`` under load: requests that arrive together are decoded together and each answer
goes back to its own client; the limits answer 429 (with Retry-After), 413 and 400; SIGTERM lets
the requests in progress finish before the process exits. (Throughput against sequential
serving is measured by ``benchmarks/serve_load.py``, not asserted here.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from assay.models.fake import scripted
from assay.serve.app import create_app
from assay.serve.limits import ServeLimits

REPO = Path(__file__).resolve().parents[1]


def _chat(base_url: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": "fake:echo", "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{base_url}/chat/completions", json=body, timeout=30)


def test_concurrent_requests_share_batches_and_get_their_own_answers(
    serve_app: Callable[..., Any],
) -> None:
    model = scripted(delay_s=0.05)  # echoes each prompt: a mixed-up answer shows
    app = create_app(model, served_name="fake:echo", embedder=None)
    server = serve_app(app)
    questions = [f"question number {i}" for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda q: _chat(server.base_url, q, temperature=0), questions))
    for question, reply in zip(questions, replies, strict=True):
        assert reply.status_code == 200, reply.text
        assert f"User: {question}\n" in reply.json()["choices"][0]["message"]["content"]
    sizes = app.state.batcher.batch_sizes
    assert sum(sizes) == 12 and max(sizes) > 1, sizes
    # Different sampling settings are never decoded in one batch.
    with ThreadPoolExecutor(4) as pool:
        mixed = list(
            pool.map(
                lambda i: _chat(server.base_url, f"other {i}", temperature=0, max_tokens=5 + i % 2),
                range(4),
            )
        )
    assert all(r.status_code == 200 for r in mixed)
    assert all(r.json()["choices"][0]["message"]["content"] for r in mixed)


def test_limits_answer_429_413_and_400(serve_app: Callable[..., Any]) -> None:
    limits = ServeLimits(max_concurrent=2, max_tokens=64, max_request_bytes=2000, max_batch=1)
    app = create_app(scripted(delay_s=0.4), served_name="fake:echo", embedder=None, limits=limits)
    server = serve_app(app)
    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda i: _chat(server.base_url, f"q{i}"), range(5)))
    codes = sorted(r.status_code for r in replies)
    assert codes.count(200) >= 2 and set(codes) == {200, 429}, codes
    busy = next(r for r in replies if r.status_code == 429)
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["type"] == "rate_limit_error"

    too_many = _chat(server.base_url, "hi", max_tokens=65)
    assert too_many.status_code == 400
    assert (
        "max_tokens is 65, more than this server allows (64)" in too_many.json()["error"]["message"]
    )
    big = _chat(server.base_url, "x" * 3000)
    assert big.status_code == 413 and "more than this server accepts (2000)" in big.text
    assert httpx.get(f"{server.url}/health").status_code == 200  # never refused for load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_answers_requests_in_progress_then_exits(tmp_path: Path) -> None:
    script = tmp_path / "slow.yaml"
    script.write_text("replies: ['a slow answer']\ndelay_s: 1.0\n")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    args = ["serve", f"fake:{script}", "--name", "slow", "--embedder", "none", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay.cli.main", *args, "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        answer: list[httpx.Response] = []
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
        asking = threading.Thread(
            target=lambda: answer.append(
                httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30)
            )
        )
        asking.start()
        time.sleep(0.4)  # the request is being answered
        proc.send_signal(signal.SIGTERM)
        asking.join(30)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert answer and answer[0].status_code == 200, answer
    assert answer[0].json()["choices"][0]["message"]["content"] == "a slow answer"
    # uvicorn re-raises the signal once it has shut down, so the exit status says SIGTERM.
    assert proc.returncode in (0, -signal.SIGTERM) and "assay serve: stopped" in out, out
