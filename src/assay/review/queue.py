"""Making a review queue: a seeded (optionally stratified) sample of a run's items.

    >>> from assay.review import create_queue
    >>> q = create_queue("sums-2024...", n=50, rubric="rubric.yaml", stratify="target", seed=0)

With a second run the queue holds pairs (the same item answered by both runs) and asks which
output is better; ``blind`` hides the run names and shows the two outputs in an order drawn per
item, so position and expectation cannot sway the reviewer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import UserError
from assay.evals.runs import RunStore
from assay.review.rubric import Rubric, load_rubric, preference_rubric
from assay.review.store import Queue, ReviewStore
from assay.workspace import Workspace


def field_value(sample: Mapping[str, Any], name: str) -> Any:
    """A sample's field by dotted path (``target``, ``scores.exact_match``), or None."""
    value: Any = sample
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def allocate(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """``n`` split over strata in proportion to their sizes (largest remainders), each at most
    its size."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    exact = {k: n * v / total for k, v in sizes.items()}
    share = {k: min(sizes[k], int(x)) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - int(exact[k]), reverse=True):
        if sum(share.values()) >= n:
            break
        if share[k] < sizes[k]:
            share[k] += 1
    return share


def sample_items(
    sample_ids: list[str],
    strata: Mapping[str, str | None],
    n: int,
    seed: int,
    pairwise: bool,
) -> list[tuple[str, str | None, bool]]:
    """``n`` items drawn without replacement (per stratum when ``strata`` has values), shuffled,
    each with whether run B is shown first (drawn per item for pairs)."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = defaultdict(list)
    for sid in sample_ids:
        groups[str(strata.get(sid))].append(sid)
    share = allocate({k: len(v) for k, v in groups.items()}, n)
    chosen: list[str] = []
    for key in sorted(groups):
        members = groups[key]
        picks = rng.choice(len(members), size=share[key], replace=False)
        chosen.extend(members[i] for i in sorted(picks))
    order = rng.permutation(len(chosen))
    flips = rng.random(len(chosen)) < 0.5
    return [
        (chosen[i], strata.get(chosen[i]), bool(pairwise and flips[j])) for j, i in enumerate(order)
    ]


def create_queue(
    run_a: str,
    run_b: str | None = None,
    *,
    n: int = 50,
    rubric: str | Path | Rubric,
    stratify: str | None = None,
    blind: bool = False,
    seed: int = 0,
    workspace: Workspace | None = None,
) -> Queue:
    """A review queue over ``n`` items of ``run_a`` (pairs with ``run_b``); see the module doc."""
    ws = workspace or Workspace.find()
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    if blind and run_b is None:
        raise UserError(
            "--blind needs two runs to compare", hint="assay review create RUN_A RUN_B --blind"
        )
    runs = RunStore(ws)
    a = runs.get(run_a)
    a.require_finished("a review")
    samples = {s["id"]: s for s in runs.samples(a.id)}
    b_id = None
    if run_b is not None:
        from assay.evals.compare import _check_same_items

        b = runs.get(run_b)
        b.require_finished("a review")
        _check_same_items(a, b)
        b_id = b.id
        shared = {s["id"] for s in runs.samples(b.id)}
        samples = {k: v for k, v in samples.items() if k in shared}
        if not samples:
            raise UserError(f"runs {a.id} and {b.id} share no item to review side by side")
    loaded = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
    if run_b is not None:
        loaded = preference_rubric(loaded)
    strata: dict[str, str | None] = {}
    if stratify:
        values = {sid: field_value(s, stratify) for sid, s in samples.items()}
        if all(v is None for v in values.values()):
            fields = sorted(k for k in next(iter(samples.values())) if k != "idx")
            raise UserError(
                f"no sample of run {a.id} has a field '{stratify}' to stratify by",
                hint=f"fields: {', '.join(fields)} (or scores.METRIC)",
            )
        strata = {sid: None if v is None else str(v) for sid, v in values.items()}
    items = sample_items(list(samples), strata, n, seed, run_b is not None)
    settings = {"n": n, "seed": seed, "stratify": stratify, "asked": n, "drawn": len(items)}
    return ReviewStore(ws).create(
        run_a=a.id, run_b=b_id, blind=blind, rubric=loaded, settings=settings, items=items
    )


__all__ = ["allocate", "create_queue", "field_value", "sample_items"]
