"""edit_similarity: 1 - Levenshtein distance / the longer length (1.0 for equal strings).

A scorer entry point names a factory: its keyword arguments are the options a task may set
(``scorers: [{name: edit_similarity, options: {ignore_case: true}}]``), and it returns an
``assay`` Scorer.
"""

from __future__ import annotations

from typing import Any

from assay.evals.scorers import Scorer


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(*, ignore_case: bool = False) -> Scorer:
    """Character edit similarity: 1 - Levenshtein distance / the longer string's length."""

    def score(prediction: Any, reference: Any, sample: Any) -> float:
        p, r = str(prediction or ""), str(reference or "")
        if ignore_case:
            p, r = p.lower(), r.lower()
        longest = max(len(p), len(r))
        return 1.0 if longest == 0 else 1.0 - levenshtein(p, r) / longest

    return Scorer(
        "edit_similarity",
        score,
        options={"ignore_case": ignore_case},
        description=edit_similarity.__doc__ or "",
    )
