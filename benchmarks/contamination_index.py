"""Contamination index: throughput and peak memory against a plain Python set of n-grams.

The corpus is real text made large: the sentences of the shared press transcripts and GSM8K
train set, shuffled anew for every block, so its 13-grams are mostly distinct (a repeated text
would flatter a set). Each side runs in its own process (peak resident memory is per process):

- **assay**: ``assay.checks.corpus_index.build_index`` (streamed, hashed 13-grams in sorted
  ``uint64`` parts on disk);
- **baseline**: read the same files, normalise the same way (``ngrams.words``), and add every
  13-gram (joined words) to one Python ``set``.

Both then look up the same 200 probe items, and must agree on which n-grams are found.
Targets (issue text): faster than the baseline, and at most a quarter of its memory.

    python benchmarks/contamination_index.py            # 200 MB corpus; minutes, GBs for the set
    python benchmarks/contamination_index.py --mb 20    # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
N = 13


def make_corpus(folder: Path, megabytes: float, seed: int = 0) -> list[Path]:
    text = (SHARED / "clinton_press_transcripts" / "cleaned_test_text_1.txt").read_text()
    rows = (SHARED / "gsm8k" / "train.jsonl").read_text().splitlines()
    sentences = re.split(r"(?<=[.?!])\s+", text)
    sentences += [json.loads(r)["question"] for r in rows]
    rng = random.Random(seed)
    files, size, target = [], 0, int(megabytes * 1e6)
    while size < target:
        rng.shuffle(sentences)
        path = folder / f"part-{len(files):04d}.txt"
        block = "\n".join(" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5))
        path.write_text(block)
        files.append(path)
        size += path.stat().st_size
    return files


def probes(files: list[Path], count: int = 200, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    lines = files[0].read_text().splitlines()
    half = [rng.choice(lines) for _ in range(count // 2)]  # occur in the corpus
    other = [" ".join(rng.sample(line.split(), len(line.split()))) for line in half]  # shuffled
    return half + other


ASSAY_SIDE = """
import json, sys, time, resource
from pathlib import Path
from assay.checks.corpus_index import build_index
from assay.checks.ngrams import text_ngrams
files, root, probes = json.loads(open(sys.argv[1]).read())
t = time.perf_counter()
index, _ = build_index(files, Path(root), n=13)
built = time.perf_counter() - t
found = [int((index.lookup(text_ngrams(p, 13)) >= 0).sum()) for p in probes]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": built, "peak_bytes": peak, "found": found, "ngrams": index.ngrams}))
"""

BASELINE_SIDE = """
import json, sys, time, resource
from assay.checks.ngrams import words
files, root, probes = json.loads(open(sys.argv[1]).read())
t = time.perf_counter()
seen = set()
for f in files:
    ws = words(open(f, encoding="utf-8").read())
    seen.update(" ".join(ws[i : i + 13]) for i in range(len(ws) - 12))
built = time.perf_counter() - t
def count(p):
    ws = words(p)
    return sum(" ".join(ws[i : i + 13]) in seen for i in range(len(ws) - 12))
found = [count(p) for p in probes]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": built, "peak_bytes": peak, "found": found, "ngrams": len(seen)}))
"""


def side(code: str, files: list[Path], root: Path, items: list[str]) -> dict:
    args = root.parent / "side-args.json"
    args.write_text(json.dumps([[str(f) for f in files], str(root), items]))
    done = subprocess.run(
        [sys.executable, "-c", code, str(args)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200.0, help="corpus size in MB")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        files = make_corpus(folder, args.mb)
        size = sum(f.stat().st_size for f in files)
        print(f"corpus: {len(files)} files, {size / 1e6:.0f} MB ({time.perf_counter() - t:.0f} s)")
        items = probes(files)
        ours = side(ASSAY_SIDE, files, folder / "index", items)
        base = side(BASELINE_SIDE, files, folder / "index", items)
    assert ours["found"] == base["found"], "the index and the set disagree on the probes"
    mbps = {k: size / 1e6 / v["seconds"] for k, v in (("assay", ours), ("baseline", base))}
    record = {
        "environment": machine.environment(("assay", "numpy")),
        "corpus_bytes": size,
        "ngrams": {"assay": ours["ngrams"], "baseline_distinct": base["ngrams"]},
        "assay": {
            "seconds": ours["seconds"],
            "mb_per_s": mbps["assay"],
            "peak_bytes": ours["peak_bytes"],
        },
        "baseline": {
            "seconds": base["seconds"],
            "mb_per_s": mbps["baseline"],
            "peak_bytes": base["peak_bytes"],
        },
        "speedup": base["seconds"] / ours["seconds"],
        "memory_ratio": ours["peak_bytes"] / base["peak_bytes"],
        "probes_agree": True,
    }
    print("| side | MB/s | peak memory |\n|---|---|---|")
    for name, r in (("assay index", ours), ("python set", base)):
        print(f"| {name} | {size / 1e6 / r['seconds']:.1f} | {r['peak_bytes'] / 2**20:,.0f} MiB |")
    print(
        f"\nspeed-up {record['speedup']:.2f}x (target > 1), memory {record['memory_ratio']:.2f} "
        "of the baseline's (target <= 0.25); probes agree"
    )
    machine.save("contamination-index", record)


if __name__ == "__main__":
    main()
