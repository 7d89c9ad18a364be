"""`assay ui` under load: a run page with 10,000 samples, its sample table filtered and paged, and
the comparison of two such runs, each asked by 20 clients at once.

The workspace is made through the real code: two scripted (``fake:``) evaluation runs of one
10,000-item task. The app runs as ``assay ui`` in its own process; the clients are threads of
this one, each asking the three pages in turn after one warm-up round (the first visit of a run
parses its samples and the first comparison computes the paired statistics; later visits reuse
them until the run changes). Target (issue text): p95 under 300 ms with 20 concurrent clients.

    python benchmarks/ui_pages.py                              # 10,000 samples, 20 clients
    python benchmarks/ui_pages.py --samples 500 --clients 4 --rounds 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import machine

TOKEN = "benchmark-token"


def make_workspace(folder: Path, n: int) -> tuple[str, str]:
    os.environ["ASSAY_HOME"] = str(folder / "home")
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.task import TaskConfig
    from assay.models.fake import scripted

    data = folder / "items.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)})
            + "\n"
            for i in range(n)
        )
    )
    task = TaskConfig.model_validate(
        {
            "name": "sums",
            "dataset": {"source": str(data), "id_field": "id"},
            "template": "{{ question }}",
            "target": "answer",
            "extract": {"strategy": "last_number"},
            "scorers": ["numeric_match"],
        }
    )

    def reply(every: int):  # type: ignore[no-untyped-def]
        def answer(prompt: str) -> str:
            k = int(prompt.split("What is ")[1].split(" ")[0])
            return "not sure" if k % every == 0 else f"The answer is {2 * k}."

        answer.__name__ = f"fails_every_{every}"  # the fake model's fingerprint: two runs, not one
        return answer

    quiet = EvalOptions(progress=False)
    a = evaluate(task, scripted([reply(5)]), quiet, on_status=lambda _: None)
    b = evaluate(task, scripted([reply(3)]), quiet, on_status=lambda _: None)
    return a.id, b.id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10, help="Rounds of the three pages per client.")
    args = ap.parse_args()
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        run_a, run_b = make_workspace(folder, args.samples)
        print(
            f"two runs of {args.samples} samples made in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        port = free_port()
        env = {**os.environ, "ASSAY_HOME": str(folder / "home"), "ASSAY_UI_TOKEN": TOKEN}
        server = subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", "ui", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        pages = {
            "run page": f"/runs/{run_a}",
            "samples: failures, page 3": f"/runs/{run_a}/samples.json?status=failed&page=3",
            "compare page": f"/compare?runs={run_a}&runs={run_b}",
        }
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if (
                        httpx.get(f"{base}/runs", headers={"X-Assay-Token": TOKEN}).status_code
                        == 200
                    ):
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, (
                    "assay ui did not start"
                )
                time.sleep(0.2)
            with httpx.Client(base_url=base, headers={"X-Assay-Token": TOKEN}, timeout=120) as warm:
                for url in pages.values():
                    assert warm.get(url).status_code == 200, url
            times: dict[str, list[float]] = {name: [] for name in pages}
            lock = threading.Lock()

            def client() -> None:
                with httpx.Client(
                    base_url=base, headers={"X-Assay-Token": TOKEN}, timeout=120
                ) as c:
                    for _ in range(args.rounds):
                        for name, url in pages.items():
                            t0 = time.perf_counter()
                            r = c.get(url)
                            took = time.perf_counter() - t0
                            assert r.status_code == 200, (url, r.status_code)
                            with lock:
                                times[name].append(took)

            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            wall = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - wall
        finally:
            server.terminate()
            server.wait(timeout=30)

    rows = {
        name: {
            "n": len(xs),
            "p50_ms": 1000 * percentile(xs, 0.5),
            "p95_ms": 1000 * percentile(xs, 0.95),
            "max_ms": 1000 * max(xs),
        }
        for name, xs in times.items()
    }
    print(
        f"\n{args.clients} clients x {args.rounds} rounds, {args.samples} samples per run, {wall:.1f} s\n"
    )
    print("| page | requests | p50 (ms) | p95 (ms) | max (ms) | target p95 |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['n']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['max_ms']:.0f} | < 300 |"
        )
    machine.save(
        "ui_pages",
        {
            "args": vars(args),
            "pages": pages,
            "results": rows,
            "wall_s": wall,
            "environment": machine.environment(("assay", "fastapi", "uvicorn")),
        },
    )


if __name__ == "__main__":
    main()
