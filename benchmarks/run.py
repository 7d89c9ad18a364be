"""Overhead of assay against the libraries it wraps, measured side by side in one run.

For each backend the same inputs go once through assay and once through the bare library call,
alternating, after a warm-up of each; the table reports both rates and their ratio (how much
longer assay takes; 1.00 is no overhead):

* ``hf``      decode tokens/s: ``assay.load("default").generate`` vs ``model.generate`` on the
              same transformers model object; log-likelihood requests/s: ``Model.loglikelihood``
              vs a plain batched forward pass + ``log_softmax``.
* ``gguf``    decode tokens/s: ``assay.load("smollm2-gguf").generate`` vs
              ``llama_cpp.Llama.create_completion``; log-likelihood requests/s vs
              ``Llama.eval`` + ``Llama.scores`` per request.
* ``openai``  decode tokens/s through ``openai:`` against an ``assay serve`` on 127.0.0.1 vs the
              raw ``openai`` client sending the same completions to the same server.
* ``startup`` ``assay --help`` wall time (median of several runs) vs ``python -c pass``.

Targets: ratio <= 1.10 for throughput, ``assay --help`` <= 0.5 s. The response cache is off
(``Settings(cache=False)``), so every call does the model work.

Usage::

    python benchmarks/run.py [--only hf,gguf,openai,startup] [--quick] [--name NAME]

The workspace (call log, the one-time GGUF -> safetensors conversion of the default model) is
``benchmarks/.cache`` unless ``--home`` says otherwise. Results go to
``benchmarks/results/<name>-<timestamp>.json``; the markdown table is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import machine

HERE = Path(__file__).resolve().parent
DEFAULT_HOME = HERE / ".cache"
OVERHEAD_TARGET = 1.10
STARTUP_TARGET_S = 0.5

PROMPTS = [
    "The capital of France is",
    "Write one sentence about the ocean:",
    "List three primary colours:",
    "Photosynthesis is the process by which",
    "A good research question is",
    "The main idea of the theory of evolution is",
    "Here is a short poem about autumn:\n",
    "To make a cup of tea, first",
]

# Multiple-choice style scoring: one context, several continuations (as evaluation tasks send).
QUESTIONS: list[tuple[str, list[str]]] = [
    (
        "Question: What is the capital of France?\nAnswer:",
        [" Paris", " Berlin", " Rome", " Madrid"],
    ),
    ("Question: How many legs does a spider have?\nAnswer:", [" six", " eight", " ten", " four"]),
    (
        "Question: Which gas do plants absorb from the air?\nAnswer:",
        [" oxygen", " carbon dioxide", " nitrogen", " helium"],
    ),
    (
        "Question: What is the boiling point of water at sea level?\nAnswer:",
        [
            " 100 degrees Celsius",
            " 50 degrees Celsius",
            " 0 degrees Celsius",
            " 200 degrees Celsius",
        ],
    ),
    (
        "Question: Who wrote Romeo and Juliet?\nAnswer:",
        [" William Shakespeare", " Charles Dickens", " Jane Austen", " Mark Twain"],
    ),
    (
        "Question: What is the largest planet in the solar system?\nAnswer:",
        [" Jupiter", " Mars", " Venus", " Mercury"],
    ),
    (
        "Question: Which organ pumps blood through the body?\nAnswer:",
        [" the heart", " the liver", " the lungs", " the kidneys"],
    ),
    ("Question: What is two plus three?\nAnswer:", [" five", " four", " six", " seven"]),
]


@dataclass(frozen=True)
class Plan:
    prompts: int
    max_tokens: int
    rounds: int
    questions: int
    startup_runs: int


DEFAULT_PLAN = Plan(prompts=8, max_tokens=48, rounds=3, questions=8, startup_runs=7)
QUICK_PLAN = Plan(prompts=4, max_tokens=16, rounds=2, questions=4, startup_runs=5)


@dataclass
class Row:
    metric: str
    unit: str
    assay: float
    baseline: float
    ratio: float
    """How much longer assay takes than the baseline for the same work (1.0 = no overhead)."""
    target: str
    passed: bool
    notes: str = ""


# -- timing ------------------------------------------------------------------------------------
def side_by_side(
    assay_fn: Callable[[], Any], raw_fn: Callable[[], Any], rounds: int
) -> tuple[float, float, Any, Any]:
    """Warm up both, then time them alternately (the order flips every round so slow drift on a
    shared machine hits both). Returns the fastest round of each (other processes only ever add
    time) and their last outputs."""
    out_a, out_b = assay_fn(), raw_fn()
    times_a: list[float] = []
    times_b: list[float] = []
    for r in range(rounds):
        order = [(assay_fn, times_a), (raw_fn, times_b)]
        for fn, times in order if r % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
            if fn is assay_fn:
                out_a = result
            else:
                out_b = result
    return min(times_a), min(times_b), out_a, out_b


def throughput_row(
    metric: str, unit: str, work: float, t_assay: float, t_raw: float, notes: str
) -> Row:
    ratio = t_assay / t_raw
    return Row(
        metric=metric,
        unit=unit,
        assay=work / t_assay,
        baseline=work / t_raw,
        ratio=ratio,
        target=f"<= {OVERHEAD_TARGET:.2f}x",
        passed=ratio <= OVERHEAD_TARGET,
        notes=notes,
    )


def lm_eval_pairs(
    encode: Callable[[str], list[int]], prefix_token: int, context: str, continuation: str
) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's context/continuation split, written out for the baselines."""
    if context == "":
        return [prefix_token], encode(continuation)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = encode(context + continuation)
    context_enc = encode(context)
    return context_enc, whole[len(context_enc) :]


def pairs_for(plan: Plan) -> list[tuple[str, str]]:
    return [(c, o) for c, options in QUESTIONS[: plan.questions] for o in options]


def max_abs_diff(a: list[float], b: list[float]) -> float:
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


def close(model: Any) -> None:
    """Free a backend's native resources now rather than at interpreter exit."""
    closer = getattr(model.backend, "close", None)
    if closer is not None:
        closer()


def settings() -> Any:
    from assay.config import Settings

    return Settings(cache=False)


# -- hf ----------------------------------------------------------------------------------------
def bench_hf_decode(plan: Plan) -> Row:
    import torch

    import assay

    model = assay.load("default", settings=settings())
    backend: Any = model.backend
    tok, hf = backend.tokenizer, backend.model
    prompts = PROMPTS[: plan.prompts]

    def via_assay() -> tuple[int, list[str]]:
        gens = model.generate(prompts, max_tokens=plan.max_tokens)
        return sum(g.completion_tokens for g in gens), [g.text for g in gens]

    def raw() -> tuple[int, list[str]]:
        # One left-padded batch, as transformers users write it.
        ids = [tok(p)["input_ids"] for p in prompts]
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), backend.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for k, x in enumerate(ids):
            input_ids[k, width - len(x) :] = torch.tensor(x)
            mask[k, width - len(x) :] = 1
        with torch.inference_mode():
            out = hf.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=plan.max_tokens,
                do_sample=False,
                pad_token_id=backend.pad_id,
                eos_token_id=sorted(backend.eos_ids),
            )
        total, texts = 0, []
        for row in out[:, width:].tolist():
            ends = [i for i, t in enumerate(row) if t in backend.eos_ids]
            n = ends[0] + 1 if ends else len(row)
            total += n
            texts.append(tok.decode(row[: ends[0] if ends else n], skip_special_tokens=True))
        return total, texts

    t_a, t_b, (n_a, texts_a), (n_b, texts_b) = side_by_side(via_assay, raw, plan.rounds)
    notes = f"{len(prompts)} prompts x {plan.max_tokens} tokens, batch {len(prompts)}"
    if (n_a, texts_a) != (n_b, texts_b):
        notes += "; OUTPUTS DIFFER"
    return throughput_row("hf decode", "tokens/s", n_a, t_a, t_b, notes)


def bench_hf_loglikelihood(plan: Plan) -> Row:
    import torch

    import assay

    model = assay.load("default", settings=settings())
    backend: Any = model.backend
    tok, hf = backend.tokenizer, backend.model
    pairs = pairs_for(plan)
    batch = model.settings.batch_size

    def encode(text: str) -> list[int]:
        ids: list[int] = tok(text, add_special_tokens=False)["input_ids"]
        return ids

    def via_assay() -> list[float]:
        return [r.logprob for r in model.loglikelihood(pairs)]

    def raw() -> list[float]:
        out: list[float] = []
        encoded = [lm_eval_pairs(encode, backend.prefix_token, c, o) for c, o in pairs]
        for start in range(0, len(encoded), batch):
            chunk = encoded[start : start + batch]
            inputs = [(c + o)[:-1] for c, o in chunk]
            width = max(len(x) for x in inputs)
            ids = torch.full((len(inputs), width), backend.pad_id, dtype=torch.long)
            mask = torch.zeros((len(inputs), width), dtype=torch.long)
            for k, x in enumerate(inputs):
                ids[k, : len(x)] = torch.tensor(x)
                mask[k, : len(x)] = 1
            with torch.inference_mode():
                logprobs = torch.log_softmax(
                    hf(input_ids=ids, attention_mask=mask).logits.float(), dim=-1
                )
            for k, (x, (_, cont)) in enumerate(zip(inputs, chunk, strict=True)):
                rows = logprobs[k, len(x) - len(cont) : len(x)]
                out.append(float(rows.gather(1, torch.tensor(cont)[:, None]).sum()))
        return out

    t_a, t_b, lp_a, lp_b = side_by_side(via_assay, raw, plan.rounds)
    notes = f"{len(pairs)} pairs, batch {batch}, max |diff| {max_abs_diff(lp_a, lp_b):.1e}"
    return throughput_row("hf loglikelihood", "requests/s", len(pairs), t_a, t_b, notes)


# -- gguf --------------------------------------------------------------------------------------
@contextlib.contextmanager
def raw_llama(model: Any, logits_all: bool) -> Iterator[Any]:
    """A bare ``llama_cpp.Llama`` on the same file with the backend's context settings."""
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(model.backend.path),
        n_ctx=model.context_length,
        n_threads=os.cpu_count(),
        logits_all=logits_all,
        seed=0,
        verbose=False,
    )
    try:
        yield llm
    finally:
        llm.close()


def bench_gguf_decode(plan: Plan) -> Row:
    import assay

    model = assay.load("smollm2-gguf", settings=settings())
    prompts = PROMPTS[: plan.prompts]
    with raw_llama(model, logits_all=False) as llm:

        def via_assay() -> tuple[int, list[str]]:
            gens = model.generate(prompts, max_tokens=plan.max_tokens)
            return sum(g.completion_tokens for g in gens), [g.text for g in gens]

        def raw() -> tuple[int, list[str]]:
            outs = [
                llm.create_completion(p, max_tokens=plan.max_tokens, temperature=0) for p in prompts
            ]
            return (
                sum(o["usage"]["completion_tokens"] for o in outs),
                [o["choices"][0]["text"] for o in outs],
            )

        t_a, t_b, (n_a, texts_a), (n_b, texts_b) = side_by_side(via_assay, raw, plan.rounds)
    close(model)
    notes = f"{len(prompts)} prompts x {plan.max_tokens} tokens"
    if (n_a, texts_a) != (n_b, texts_b):
        notes += "; OUTPUTS DIFFER"
    return throughput_row("gguf decode", "tokens/s", n_a, t_a, t_b, notes)


def bench_gguf_loglikelihood(plan: Plan) -> Row:
    import numpy as np

    import assay

    model = assay.load("smollm2-gguf", settings=settings())
    pairs = pairs_for(plan)
    with raw_llama(model, logits_all=True) as llm:
        prefix = llm.token_bos() if llm.token_bos() != -1 else llm.token_eos()

        def encode(text: str) -> list[int]:
            ids: list[int] = llm.tokenize(text.encode(), add_bos=True, special=True)
            return ids

        def via_assay() -> list[float]:
            return [r.logprob for r in model.loglikelihood(pairs)]

        def raw() -> list[float]:
            out = []
            for c, o in pairs:
                context, cont = lm_eval_pairs(encode, prefix, c, o)
                inputs = (context + cont)[:-1]
                llm.reset()
                llm.eval(inputs)
                rows = llm.scores[len(inputs) - len(cont) : len(inputs)].astype(np.float64)
                top = rows.max(axis=1, keepdims=True)
                logprobs = rows - top - np.log(np.exp(rows - top).sum(axis=1, keepdims=True))
                out.append(float(logprobs[np.arange(len(cont)), cont].sum()))
            return out

        t_a, t_b, lp_a, lp_b = side_by_side(via_assay, raw, plan.rounds)
    close(model)
    notes = (
        f"{len(pairs)} pairs ({len(pairs) // plan.questions} options per context), "
        f"max |diff| {max_abs_diff(lp_a, lp_b):.1e}"
    )
    return throughput_row("gguf loglikelihood", "requests/s", len(pairs), t_a, t_b, notes)


# -- openai ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def assay_command() -> list[str]:
    script = Path(sys.executable).with_name("assay")
    return (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from assay.cli.main import main; main()"]
    )


@contextlib.contextmanager
def assay_server(address: str, name: str) -> Iterator[str]:
    """``assay serve`` in a subprocess, response cache off; yields its base URL."""
    port = free_port()
    env = {**os.environ, "ASSAY_CACHE": "false"}
    cmd = [
        *assay_command(),
        "serve",
        address,
        "--port",
        str(port),
        "--name",
        name,
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"assay serve exited with code {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("assay serve did not come up in 300 s") from None
                time.sleep(0.5)
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_openai_decode(plan: Plan) -> Row:
    import importlib.util

    import openai

    import assay

    served = "smollm2-gguf" if importlib.util.find_spec("llama_cpp") else "default"
    prompts = PROMPTS[: plan.prompts]
    with assay_server(served, "bench") as base_url:
        model = assay.load(f"openai:bench@{base_url}", settings=settings())
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)

        def via_assay() -> tuple[int, list[str]]:
            gens = model.generate(prompts, max_tokens=plan.max_tokens)
            return sum(g.completion_tokens for g in gens), [g.text for g in gens]

        def raw() -> tuple[int, list[str]]:
            outs = [
                client.completions.create(
                    model="bench", prompt=p, max_tokens=plan.max_tokens, temperature=0
                )
                for p in prompts
            ]
            return (
                sum(o.usage.completion_tokens for o in outs if o.usage),
                [o.choices[0].text for o in outs],
            )

        t_a, t_b, (n_a, texts_a), (n_b, texts_b) = side_by_side(via_assay, raw, plan.rounds)
    notes = f"assay serve {served}, {len(prompts)} prompts x {plan.max_tokens} tokens"
    if (n_a, texts_a) != (n_b, texts_b):
        notes += "; OUTPUTS DIFFER"
    return throughput_row("openai decode", "tokens/s", n_a, t_a, t_b, notes)


# -- startup -----------------------------------------------------------------------------------
def median_wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_startup(plan: Plan) -> Row:
    median_wall([*assay_command(), "--help"], 1)  # warm the file cache
    t_assay = median_wall([*assay_command(), "--help"], plan.startup_runs)
    t_python = median_wall([sys.executable, "-c", "pass"], plan.startup_runs)
    return Row(
        metric="assay --help start-up",
        unit="s",
        assay=t_assay,
        baseline=t_python,
        ratio=t_assay / t_python,
        target=f"<= {STARTUP_TARGET_S} s",
        passed=t_assay <= STARTUP_TARGET_S,
        notes=f"median of {plan.startup_runs}; baseline is python -c pass",
    )


BENCHMARKS: dict[str, list[Callable[[Plan], Row]]] = {
    "hf": [bench_hf_decode, bench_hf_loglikelihood],
    "gguf": [bench_gguf_decode, bench_gguf_loglikelihood],
    "openai": [bench_openai_decode],
    "startup": [bench_startup],
}
NEEDS = {"gguf": "llama_cpp", "openai": "fastapi"}


# -- report ------------------------------------------------------------------------------------
def markdown(rows: list[Row]) -> str:
    lines = [
        "| metric | assay | baseline | ratio | target | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        fmt = ".3f" if r.unit == "s" else ".1f"
        lines.append(
            f"| {r.metric} ({r.unit}) | {r.assay:{fmt}} | {r.baseline:{fmt}} | {r.ratio:.2f}x "
            f"| {r.target} | {'pass' if r.passed else 'FAIL'} |"
        )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    return machine.environment(("assay", "torch", "transformers", "llama-cpp-python", "openai"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated groups")
    parser.add_argument("--quick", action="store_true", help="few prompts, fewer rounds")
    parser.add_argument("--name", default="overhead", help="result file name prefix")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="assay workspace")
    args = parser.parse_args(argv)

    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in groups if g not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    os.environ["ASSAY_HOME"] = str(args.home.resolve())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    plan = QUICK_PLAN if args.quick else DEFAULT_PLAN

    import importlib.util

    rows: list[Row] = []
    skipped: dict[str, str] = {}
    started = time.perf_counter()
    for group in groups:
        need = NEEDS.get(group)
        if need and importlib.util.find_spec(need) is None:
            skipped[group] = f"{need} is not installed"
            print(f"skipping {group}: {skipped[group]}", file=sys.stderr)
            continue
        for bench in BENCHMARKS[group]:
            print(f"running {bench.__name__} ...", file=sys.stderr, flush=True)
            rows.append(bench(plan))

    table = markdown(rows)
    print(table)
    machine.save(
        args.name,
        {
            "plan": asdict(plan),
            "groups": groups,
            "skipped": skipped,
            "elapsed_s": round(time.perf_counter() - started, 1),
            "environment": environment(),
            "results": [asdict(r) for r in rows],
            "table": table,
        },
    )
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
