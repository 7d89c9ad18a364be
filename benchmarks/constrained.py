"""Cost of JSON-Schema-constrained decoding against unconstrained decoding, side by side.

The same chat prompts go through the same model (the bundled SmolLM2 via ``hf``, greedy, response
cache off), once with ``Sampling.json_schema`` (llguidance masks every step) and once without,
alternating (the order flips every round) after a warm-up of each. The measure is wall time per
generated token, so answers of different lengths compare; the fastest round of each side is
reported (other processes on a shared machine only ever add time). **ratio** is constrained over
unconstrained time per token (target <= 1.3). Two shapes: one prompt at a time (``batch 1``) and
all prompts in one batch. The mask column is the time spent in the logits processor per
constrained row and token (consume the last token, compute the mask, apply it).

    python benchmarks/constrained.py                  # ~5 minutes on 2 busy CPU cores
    python benchmarks/constrained.py --rounds 1 --prompts 4

Results go to ``benchmarks/results/constrained-<timestamp>.json``; the markdown table is printed.
Run with ``OMP_NUM_THREADS=1`` (or ``OMP_WAIT_POLICY=PASSIVE``) on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import machine

HERE = Path(__file__).resolve().parent
DEFAULT_HOME = HERE / ".cache"
TARGET = 1.3

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "topic": {"type": "string", "maxLength": 40},
        "category": {"enum": ["science", "sports", "politics", "business", "health", "arts"]},
        "sentiment": {"enum": ["positive", "neutral", "negative"]},
        "year": {"type": "integer", "minimum": 1800, "maximum": 2100},
        "people": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 30},
                    "role": {"enum": ["scientist", "athlete", "leader", "artist", "other"]},
                },
                "required": ["name", "role"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["topic", "category", "sentiment", "people"],
    "additionalProperties": False,
}

TEXTS = [
    "Marie Curie won the Nobel Prize in Chemistry in 1911 for discovering radium.",
    "The home team lost 3-0 last night; coach Diego Silva called it a disaster.",
    "Parliament passed the climate bill in 2021 after a debate led by Anna Berg.",
    "Shares of Acme Corp rose 12% after record profits were announced on Monday.",
    "A new vaccine cut infections by 90% in a trial of 30,000 adults in Brazil.",
    "Picasso painted Guernica in 1937 in response to the bombing of a Basque town.",
    "Usain Bolt set the 100 m world record of 9.58 seconds in Berlin in 2009.",
    "Researchers in Tokyo built a battery that charges in five minutes.",
]


def prompts(n: int) -> list[Any]:
    from assay.models.types import Message

    system = Message(role="system", content="Reply with one JSON value, and nothing else.")
    return [
        [system, Message(role="user", content=f"Describe this news item as JSON.\n\n{t}")]
        for t in TEXTS[:n]
    ]


class MaskTimer:
    """Time spent in the constraint processor, and rows x steps it masked."""

    def __init__(self) -> None:
        from assay.models import constrain

        self.seconds = 0.0
        self.row_steps = 0
        original = constrain.JsonSchemaProcessor.__call__
        timer = self

        def timed(proc: Any, input_ids: Any, scores: Any) -> Any:
            start = time.perf_counter()
            out = original(proc, input_ids, scores)
            timer.seconds += time.perf_counter() - start
            timer.row_steps += sum(1 for m in proc.matchers if m is not None)
            return out

        setattr(constrain.JsonSchemaProcessor, "__call__", timed)  # noqa: B010


def run_side(
    model: Any, chats: list[Any], batch: int, schema: dict[str, Any] | None
) -> dict[str, Any]:
    from assay.models.types import Sampling

    sampling = Sampling(max_tokens=96, json_schema=None if schema is None else json.dumps(schema))
    start = time.perf_counter()
    gens = []
    for i in range(0, len(chats), batch):
        gens += model.generate(chats[i : i + batch], sampling)
    seconds = time.perf_counter() - start
    tokens = sum(g.completion_tokens for g in gens)
    valid = 0
    for g in gens:
        try:
            json.loads(g.text)
            valid += 1
        except ValueError:
            pass
    return {
        "seconds": seconds,
        "tokens": tokens,
        "s_per_token": seconds / max(tokens, 1),
        "json": valid,
    }


def measure(
    model: Any, chats: list[Any], batch: int, rounds: int, timer: MaskTimer
) -> dict[str, Any]:
    sides: dict[str, list[dict[str, Any]]] = {"plain": [], "constrained": []}
    schemas = {"plain": None, "constrained": SCHEMA}
    for name in ("plain", "constrained"):  # warm-up, not counted
        run_side(model, chats[:1], 1, schemas[name])
    mask_s = mask_steps = 0.0
    for r in range(rounds):
        order = ["plain", "constrained"] if r % 2 == 0 else ["constrained", "plain"]
        for name in order:
            before = (timer.seconds, timer.row_steps)
            sides[name].append(run_side(model, chats, batch, schemas[name]))
            if name == "constrained":
                mask_s += timer.seconds - before[0]
                mask_steps += timer.row_steps - before[1]
    best = {name: min(runs, key=lambda x: x["s_per_token"]) for name, runs in sides.items()}
    return {
        "batch": batch,
        "rounds": sides,
        "best": best,
        "ratio": best["constrained"]["s_per_token"] / best["plain"]["s_per_token"],
        "mask_us_per_row_token": 1e6 * mask_s / max(mask_steps, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    args = parser.parse_args()

    import assay
    from assay.config import Settings
    from assay.workspace import Workspace

    model = assay.load(
        "default", workspace=Workspace(args.home), settings=Settings(cache=False, batch_size=64)
    )
    timer = MaskTimer()
    chats = prompts(args.prompts)
    rows = [measure(model, chats, b, args.rounds, timer) for b in (1, len(chats))]

    lines = [
        "| shape | plain s/token | constrained s/token | ratio | mask µs/row-token | JSON parsed (plain / constrained) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        plain, cons = row["best"]["plain"], row["best"]["constrained"]
        n = len(chats)
        lines.append(
            f"| batch {row['batch']} | {plain['s_per_token']:.4f} | {cons['s_per_token']:.4f} | "
            f"{row['ratio']:.2f} | {row['mask_us_per_row_token']:.0f} | "
            f"{plain['json']}/{n} / {cons['json']}/{n} |"
        )
    table = "\n".join(lines)
    print(table)
    print(f"\ntarget: ratio <= {TARGET}; load average {os.getloadavg()[0]:.1f}")
    machine.save(
        "constrained",
        {
            "rows": rows,
            "schema": SCHEMA,
            "prompts": args.prompts,
            "rounds": args.rounds,
            "max_tokens": 96,
            "model": model.address,
            "fingerprint": model.fingerprint,
            "environment": machine.environment(),
            "table": table,
        },
    )


if __name__ == "__main__":
    main()
