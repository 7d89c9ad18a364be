"""``assay serve`` under load: 1, 8 and 32 concurrent clients (the ``openai`` SDK) against the
default model, batched serving side by side with sequential serving (one request at a time,
``max_batch`` 1) in the same run, over the same loaded model.

For each number of clients the same prompts (greedy, ``--max-tokens`` new tokens, the response
cache off so every request is decoded) go through a pool of that many clients. Reported per
mode: requests/s, generated tokens/s, p50 and p99 latency, errors, and answers that differ from
the same prompt served alone (sequential, one client: the reference). The ratio column is batched
throughput over sequential throughput (target at 8 clients: >= 3x, with 0 errors and no answer
mixed up between clients).

Batched greedy decoding pads prompts to a common length; in float32 that may change a late token
of a long answer now and then, so an answer that differs from the reference is shown with its
first differing character, and counted as *mixed up* only when it is the reference answer of
another prompt.

Usage::

    python benchmarks/serve_load.py [--prompts 32] [--max-tokens 32] [--clients 1,8,32]

The workspace is ``benchmarks/.cache`` (the default model's one-time conversion) unless
``--home`` says otherwise; the result goes to ``benchmarks/results/serve_load-*.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import environment, save  # noqa: E402

SUBJECTS = [
    "the sea", "a library", "winter", "bread", "a bicycle", "the moon", "a garden", "rain",
    "a violin", "mountains", "coffee", "a train", "the desert", "a candle", "snow", "a river",
]  # fmt: skip


def prompts(n: int) -> list[str]:
    styles = ["Write one sentence about {}.", "Name three words that describe {}."]
    return [styles[i % 2].format(SUBJECTS[i % len(SUBJECTS)]) + f" ({i})" for i in range(n)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_clients(base_url: str, texts: list[str], clients: int, max_tokens: int) -> dict[str, Any]:
    import openai

    pool_clients = [
        openai.OpenAI(base_url=base_url, api_key="bench", max_retries=5, timeout=600)
        for _ in range(clients)
    ]

    def one(i: int) -> tuple[float, str | None, int, str | None]:
        client = pool_clients[i % clients]
        start = time.perf_counter()
        try:
            reply = client.chat.completions.create(
                model="default",
                messages=[{"role": "user", "content": texts[i]}],
                max_tokens=max_tokens,
                temperature=0,
            )
        except Exception as exc:  # counted, not raised: the table reports errors
            return time.perf_counter() - start, None, 0, f"{type(exc).__name__}: {exc}"
        tokens = reply.usage.completion_tokens if reply.usage else 0
        return time.perf_counter() - start, reply.choices[0].message.content, tokens, None

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(len(texts))))
    wall = time.perf_counter() - started
    latencies = [r[0] for r in results]
    return {
        "wall_s": wall,
        "answers": [r[1] for r in results],
        "tokens": sum(r[2] for r in results),
        "errors": [r[3] for r in results if r[3]],
        "p50_s": statistics.median(latencies),
        "p99_s": percentile(latencies, 0.99),
    }


def compare(answers: list[str | None], reference: list[str | None]) -> dict[str, Any]:
    differ, mixed, notes = 0, 0, []
    others = {a: i for i, a in enumerate(reference)}
    for i, (got, want) in enumerate(zip(answers, reference, strict=True)):
        if got == want or got is None:
            continue
        differ += 1
        if got in others and others[got] != i:
            mixed += 1
        at = next(
            (k for k, (a, b) in enumerate(zip(got, want or "", strict=False)) if a != b),
            min(len(got), len(want or "")),
        )
        notes.append(f"prompt {i}: differs from character {at}")
    return {"differ": differ, "mixed_up": mixed, "notes": notes[:5]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--home", type=Path, default=HERE / ".cache")
    args = parser.parse_args(argv)
    os.environ["ASSAY_HOME"] = str(args.home.resolve())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import assay
    from assay.config import Settings
    from assay.serve.app import create_app
    from assay.serve.background import BackgroundServer
    from assay.serve.limits import ServeLimits

    model = assay.load(args.model, settings=Settings(cache=False))
    texts = prompts(args.prompts)
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    modes = {
        "sequential": ServeLimits(max_batch=1, max_concurrent=1024),
        "batched": ServeLimits(max_batch=max(counts), max_concurrent=1024),
    }
    results: dict[str, dict[int, dict[str, Any]]] = {}
    reference: list[str | None] = []
    for mode, limits in modes.items():
        app = create_app(model, served_name="default", embedder=None, limits=limits)
        with BackgroundServer(app) as server:
            run_clients(server.base_url, texts[:2], 1, args.max_tokens)  # warm-up
            results[mode] = {}
            for clients in counts:
                print(f"{mode}, {clients} clients ...", file=sys.stderr, flush=True)
                res = run_clients(server.base_url, texts, clients, args.max_tokens)
                if mode == "sequential" and clients == 1:
                    reference = res["answers"]
                res["batch_sizes"] = list(app.state.batcher.batch_sizes)
                app.state.batcher.batch_sizes.clear()
                results[mode][clients] = res

    print(
        f"\n{args.prompts} prompts, {args.max_tokens} new tokens each, greedy, model "
        f"{model.address}\n"
    )
    print(
        "| clients | mode | requests/s | tokens/s | p50 s | p99 s | errors | differ from alone "
        "| mixed up | mean batch | throughput vs sequential |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    table = []
    for clients in counts:
        base = results["sequential"][clients]
        for mode in modes:
            res = results[mode][clients]
            check = compare(res["answers"], reference)
            sizes = res["batch_sizes"] or [1]
            row = {
                "clients": clients,
                "mode": mode,
                "requests_per_s": len(texts) / res["wall_s"],
                "tokens_per_s": res["tokens"] / res["wall_s"],
                "p50_s": res["p50_s"],
                "p99_s": res["p99_s"],
                "errors": len(res["errors"]),
                "differ": check["differ"],
                "mixed_up": check["mixed_up"],
                "mean_batch": sum(sizes) / len(sizes),
                "ratio": base["wall_s"] / res["wall_s"],
                "notes": check["notes"] + res["errors"][:3],
            }
            table.append(row)
            print(
                f"| {clients} | {mode} | {row['requests_per_s']:.2f} | {row['tokens_per_s']:.1f} "
                f"| {row['p50_s']:.2f} | {row['p99_s']:.2f} | {row['errors']} | {row['differ']} "
                f"| {row['mixed_up']} | {row['mean_batch']:.1f} | {row['ratio']:.2f}x |"
            )
    for row in table:
        for note in row["notes"]:
            print(f"{row['mode']}, {row['clients']} clients: {note}")
    save("serve_load", {"args": vars(args), "table": table, "environment": environment()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
