"""The leaderboard's answer in plain words: which cell to choose, and how sure that choice is.

The best cell is only "the best" when the paired test tells it from the others at this number
of items. Cells it cannot be told from are near-equals; among them the text points at what does
differ (cost, latency, memory), so the choice between them rests on something measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.sweeps.leaderboard import Entry, Leaderboard


def _ratio(x: float | None, base: float | None) -> float | None:
    if x is None or base is None or base <= 0:
        return None
    return x / base


def _times(r: float) -> str:
    words = {0.5: "half", 0.25: "a quarter", 0.2: "a fifth", 0.1: "a tenth"}
    for value, word in words.items():
        if abs(r - value) < 0.02:
            return word
    return f"{r:.2g}x"


def _savings(e: Entry, best: Entry) -> list[str]:
    """What ``e`` needs less of than ``best`` (at least a fifth less), in words."""
    out = []
    cost = _ratio(e.cost, best.cost)
    if cost is not None and cost < 0.8:
        out.append(f"costs {_times(cost)} as much")
    latency = _ratio(e.latency_p50, best.latency_p50)
    if latency is not None and latency < 0.8:
        out.append(f"answers {1 / latency:.2g}x faster (p50 latency)" if latency > 0 else "")
    memory = _ratio(e.memory_bytes, best.memory_bytes)
    if memory is not None and memory < 0.8:
        out.append(f"needs {memory:.0%} of the memory")
    return [s for s in out if s]


def recommend(board: Leaderboard) -> str:
    done = board.done
    failed = [e for e in board.entries if e.status == "failed"]
    tail = f" {len(failed)} cell(s) failed (see their errors)." if failed else ""
    if not done:
        return "No cell finished, so there is nothing to choose from." + tail
    best = done[0]
    assert best.metric is not None
    value = best.metric.format().rsplit(" (n=", 1)[0]
    head = f"{best.label} has the best {board.metric}: {value} (n={best.n})."
    if len(done) == 1:
        return head + " It is the only cell that finished." + tail
    if all(e.distinguishable is None for e in done[1:]):
        return head + " The cells could not be paired, so no difference is established." + tail
    ties = [e for e in done[1:] if e.distinguishable is False]
    if not ties:
        return (
            head + f" It is distinguishable from every other cell at n={best.n} "
            "(paired tests, Holm-corrected)." + tail
        )
    parts = [head]
    for e in ties[:4]:
        assert e.difference is not None
        parts.append(
            f"{e.label} is not distinguishable from it at n={e.n} "
            f"(difference {e.difference.format(signed=True).rsplit(' (n=', 1)[0]}, "
            f"Holm p={e.p_holm:.2g})"
            + (f"; {', '.join(_savings(e, best))}" if _savings(e, best) else "")
            + "."
        )
    if len(ties) > 4:
        parts.append(f"{len(ties) - 4} more cells are not distinguishable from it either.")
    cheaper = [e for e in ties if _savings(e, best)]
    if cheaper:
        parts.append(
            f"Unless the last bit of {board.metric} matters more than cost, {cheaper[0].label} "
            "is a defensible choice: its quality is indistinguishable from the best here."
        )
    else:
        parts.append(
            "None of them is cheaper, faster or smaller by a fifth or more, so the best cell is "
            "the natural choice, though not a proven winner."
        )
    if any("too few" in w for w in board.warnings):
        parts.append("More items are needed to tell these cells apart (see the warning).")
    return " ".join(parts) + tail


__all__ = ["recommend"]
