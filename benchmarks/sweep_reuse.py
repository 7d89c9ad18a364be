"""A sweep against the same cells run one by one as separate ``assay eval`` commands.

The cells: one local model at two precisions (fp32, int8) × two prompts, on the same seeded
items of a small generated arithmetic task. The sweep loads each model once per precision and
the data once; separate commands start Python, load the model and read the data every time.
Each side runs in a fresh workspace with the response cache off, after a warm-up command there
(which converts a GGUF model once), so neither reuses the other's answers.

Target: the sweep's wall time is at most 0.8x the sum of the separate commands.

Usage::

    python benchmarks/sweep_reuse.py [--model default] [-n 40] [--max-tokens 16]

Prints a markdown summary and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import environment, save  # noqa: E402

PROMPTS = {
    "plain": "{{ question }}",
    "terse": "Answer with the number only. {{ question }}",
}
PRECISIONS = {"fp32": "float32", "int8": "int8"}


def assay(args: list[str], home: Path, extra_env: dict[str, str] | None = None) -> float:
    """Run ``assay ARGS`` in a subprocess; its wall time in seconds."""
    env = {**os.environ, "ASSAY_HOME": str(home), "ASSAY_CACHE": "0", **(extra_env or {})}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", *args], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0,):
        sys.exit(f"assay {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def write_inputs(folder: Path, n: int, max_tokens: int, model: str) -> None:
    rows = [
        {"id": f"q{i}", "question": f"What is {i} plus {i + 3}?", "answer": str(2 * i + 3)}
        for i in range(n)
    ]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, template in PROMPTS.items():
        (folder / f"task-{name}.yaml").write_text(
            f"name: sums\ndataset: {{source: {folder / 'data.jsonl'}, id_field: id}}\n"
            f"template: {json.dumps(template)}\ntarget: answer\n"
            f"extract: {{strategy: last_number}}\nscorers: [numeric_match]\n"
            f"generation: {{max_tokens: {max_tokens}}}\n"
        )
    prompts = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in PROMPTS.items())
    (folder / "sweep.yaml").write_text(
        f"task: {folder / 'task-plain.yaml'}\naxes:\n  model: [{json.dumps(model)}]\n"
        f"  precision: [{', '.join(PRECISIONS)}]\n  prompt:\n{prompts}\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("-n", type=int, default=40, help="items per cell")
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    write_inputs(tmp, args.n, args.max_tokens, args.model)
    homes = {side: tmp / f"home-{side}" for side in ("separate", "sweep")}
    for home in homes.values():  # conversions and first-load costs, paid before timing
        assay(["generate", "-m", args.model, "Hi", "--max-tokens", "1"], home)

    separate: dict[str, float] = {}
    for precision, dtype in PRECISIONS.items():
        for prompt in PROMPTS:
            task = str(tmp / f"task-{prompt}.yaml")
            separate[f"{precision} {prompt}"] = assay(
                ["eval", task, "-m", args.model], homes["separate"], {"ASSAY_DTYPE": dtype}
            )
    sweep_s = assay(["sweep", str(tmp / "sweep.yaml"), "--format", "json"], homes["sweep"])

    total = sum(separate.values())
    ratio = sweep_s / total
    print(f"## sweep vs separate commands ({len(separate)} cells, {args.n} items each)\n")
    print("| cells | separate commands (sum) | one sweep | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| {len(separate)} | {total:.1f} s | {sweep_s:.1f} s | {ratio:.2f} | <= 0.80 |")
    print()
    for cell, seconds in separate.items():
        print(f"- `assay eval` {cell}: {seconds:.1f} s")
    save(
        "sweep_reuse",
        {
            "model": args.model,
            "items": args.n,
            "max_tokens": args.max_tokens,
            "separate_s": separate,
            "separate_total_s": total,
            "sweep_s": sweep_s,
            "ratio": ratio,
            "environment": environment(),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
