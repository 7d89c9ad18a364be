"""Calibrating ``assay ask``'s abstention on generated questions, on real papers.

The six PDFs in ``shared/data/pdfs`` are split into a collection (the BBQ paper, two INLG
papers and the JOSE paper) and *other documents on the topic* (the two remaining INLG papers).
The model writes ``n`` questions from each side (``assay docs synth``); questions from the other
papers are on-topic but their answers are not in the collection (one whose reference answer is
found in a retrieved passage is dropped). ``calibrate_abstention`` chooses ``min_support`` on
half of the questions and reports abstention precision, recall and false abstentions on the
held-out half, with Wilson intervals, beside the built-in default. Quality figures only: the
time printed depends on the machine's load.

Usage::

    python benchmarks/abstention_calibration.py [--model default] [-n 30]

Prints a markdown summary and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import environment, save  # noqa: E402

DEFAULT_PDFS = HERE.parents[1] / "shared" / "data" / "pdfs"
OUTSIDE = ("05_", "06_")
"""File name prefixes of the papers left out of the collection."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    ap.add_argument("--model", default="default")
    ap.add_argument("-n", type=int, default=30, help="questions of each kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workspace", type=Path, default=None, help="reuse this workspace")
    args = ap.parse_args(argv)

    from assay.rag import Collection
    from assay.rag.calibrate import calibrate_abstention
    from assay.workspace import Workspace

    tmp = tempfile.TemporaryDirectory()
    ws = Workspace.init(args.workspace or Path(tmp.name))
    pdfs = sorted(args.pdfs.glob("*.pdf"))
    started = time.perf_counter()
    for name, paths in (
        ("papers", [p for p in pdfs if not p.name.startswith(OUTSIDE)]),
        ("other-papers", [p for p in pdfs if p.name.startswith(OUTSIDE)]),
    ):
        col = Collection(ws, name)
        if not col.exists or not col.documents():
            col.add(paths)
    result = calibrate_abstention(
        "papers", "other-papers", args.model, n=args.n, seed=args.seed, progress=True, workspace=ws
    )
    wall = time.perf_counter() - started
    print(f"\n## Abstention calibrated on generated questions ({args.model}, n={args.n} each)\n")
    for line in result.summary():
        print(f"- {line}")
    print(f"\n{wall:.0f} s (indexing, question writing and scoring)")
    save(
        "abstention_calibration",
        {
            "environment": environment(),
            "settings": {"model": args.model, "n": args.n, "seed": args.seed},
            "result": result.to_dict(),
            "seconds": wall,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
