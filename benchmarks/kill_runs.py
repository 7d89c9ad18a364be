"""Fifty SIGKILLs (by default) across ``assay eval``, ``assay generate --input/--output``,
``assay docs add``, ``assay train`` and ``assay sweep``, each rerun until it finishes; prints
the counts.

The harness is ``tests/kill_harness.py`` (the CI test ``tests/test_kills.py`` runs it with a
handful of kills). Rounds of every command, each with ``--per-round`` kills at seeded random
moments, run until ``--kills`` kills have landed. For every command the table gives the kills,
the attempts, and the units (items, rows, documents, steps, a sweep cell's items) lost, duplicated, computed again
although committed before a kill (all three must be 0), computed again after being in flight
at a kill (allowed), and whether every round's results equal an uninterrupted run's.

Usage::

    python benchmarks/kill_runs.py [--kills 50] [--per-round 3] [--seed 0] [--only eval,sweep]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from machine import environment, save  # noqa: E402

from faulty_api import FaultyAPI  # noqa: E402
from kill_harness import SCENARIOS, Outcome, run_with_kills  # noqa: E402

SIZES = {"eval": 40, "generate": 40, "docs": 30, "train": 12, "sweep": 20}
"""Units per run (a sweep's per cell: two cells)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--per-round", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"commands, of {','.join(SCENARIOS)}"
    )
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"--only: unknown command {', '.join(unknown)}; of {', '.join(SCENARIOS)}")
    rng = random.Random(args.seed)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    api = FaultyAPI(fault_rate=0.0, delay_s=0.02)
    try:
        with tempfile.TemporaryDirectory(prefix="assay-kills-") as tmp:
            round_ = 0
            while sum(o.kills for o in outcomes) < args.kills:
                round_ += 1
                for name in names:
                    left = args.kills - sum(o.kills for o in outcomes)
                    if left <= 0:
                        break
                    work = Path(tmp) / f"{name}-{round_}"
                    scenario = SCENARIOS[name](name, work, api, SIZES[name])
                    outcome = run_with_kills(scenario, min(args.per_round, left), rng)
                    print(f"round {round_}: {outcome.line()}", file=sys.stderr, flush=True)
                    outcomes.append(outcome)
    finally:
        api.close()

    print(
        "| command | rounds | kills | attempts | lost | duplicated | recomputed after commit "
        "| redone in flight | equal to uninterrupted |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    table = []
    for name in names:
        mine = [o for o in outcomes if o.scenario == name]
        row = {
            "command": name,
            "rounds": len(mine),
            "kills": sum(o.kills for o in mine),
            "attempts": sum(o.attempts for o in mine),
            "lost": sum(len(o.lost) for o in mine),
            "duplicated": sum(len(o.duplicated) for o in mine),
            "recomputed": sum(len(o.recomputed) for o in mine),
            "redone": sum(o.redone for o in mine),
            "equal": f"{sum(o.equal for o in mine)}/{len(mine)}",
        }
        table.append(row)
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    problems = [p for o in outcomes for p in o.problems]
    total = sum(o.kills for o in outcomes)
    print(
        f"\n{total} kills in {time.monotonic() - started:.0f} s; "
        f"{'all results equal, nothing lost, duplicated or recomputed' if all(o.ok for o in outcomes) else 'FAILURES'}"
    )
    for p in problems:
        print(f"problem: {p}")
    save(
        "kill_runs",
        {
            "args": vars(args),
            "table": table,
            "outcomes": [asdict(o) for o in outcomes],
            "environment": environment(),
        },
    )
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
