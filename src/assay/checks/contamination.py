"""Was the evaluation data in the training data? N-gram overlap between a task's items and a
corpus, item by item, and what it does to a run's metric.

An item is *contaminated* when any of its n-grams (13 words by default, as in GPT-3's
decontamination and lm-evaluation-harness) occurs in the corpus. Inputs (the row fields the
prompt uses, and multiple-choice options) and references (the target) are counted separately:
a leaked question and a leaked answer are different problems. Per item: the share of its
n-grams found (overlap ratio), and the longest shared span (consecutive matching n-grams, in
words) with the file and line where it occurs.

Clean-subset analysis (GPT-3, appendix C): a run's metric on the clean items against all items,
with a bootstrap interval for the difference; if contamination inflated the result, the clean
subset scores lower.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay.checks.corpus_index import CorpusIndex, build_index, locate, text_of
from assay.checks.ngrams import WordHasher, text_ngrams, words
from assay.errors import UserError

DEFAULT_N = 13


@dataclass(frozen=True)
class ItemText:
    """What of an evaluation item is checked: its input texts and its reference texts."""

    id: str
    inputs: tuple[str, ...]
    references: tuple[str, ...]


@dataclass
class Overlap:
    ngrams: int = 0
    matched: int = 0

    @property
    def ratio(self) -> float:
        return self.matched / self.ngrams if self.ngrams else 0.0


@dataclass
class ItemContamination:
    id: str
    input: Overlap
    reference: Overlap
    longest_span_words: int = 0
    longest_span: str = ""
    span_part: str | None = None  # "input" or "reference"
    where: tuple[str, int] | None = None  # file, line

    @property
    def contaminated(self) -> bool:
        return bool(self.input.matched or self.reference.matched)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input"]["ratio"] = self.input.ratio
        out["reference"]["ratio"] = self.reference.ratio
        out["contaminated"] = self.contaminated
        return out


@dataclass
class ContaminationReport:
    task: str
    n: int
    corpus: list[str]
    corpus_bytes: int
    corpus_ngrams: int
    index_built: bool
    items: list[ItemContamination] = field(default_factory=list)

    @property
    def flagged(self) -> list[ItemContamination]:
        return [i for i in self.items if i.contaminated]

    @property
    def clean_ids(self) -> set[str]:
        return {i.id for i in self.items if not i.contaminated}

    def share(self) -> Any:
        from assay.stats import wilson_ci

        return wilson_ci(len(self.flagged), len(self.items))

    def summary(self) -> str:
        inputs = sum(1 for i in self.items if i.input.matched)
        refs = sum(1 for i in self.items if i.reference.matched)
        return (
            f"{len(self.flagged)}/{len(self.items)} items share a {self.n}-gram with the corpus "
            f"(inputs {inputs}, references {refs}); contaminated share {self.share()}"
        )

    def to_dict(self) -> dict[str, Any]:
        share = self.share()
        return {
            "task": self.task,
            "n": self.n,
            "corpus": self.corpus,
            "corpus_bytes": self.corpus_bytes,
            "corpus_ngrams": self.corpus_ngrams,
            "items": len(self.items),
            "contaminated": len(self.flagged),
            "share": share.to_dict(),
            "per_item": [i.to_dict() for i in self.items],
        }

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(i.id)}</td><td>{i.input.ratio:.2f}</td>"
            f"<td>{i.reference.ratio:.2f}</td><td>{i.longest_span_words}</td>"
            f"<td>{html.escape(i.longest_span[:120])}</td>"
            f"<td>{html.escape(f'{i.where[0]}:{i.where[1]}' if i.where else '')}</td></tr>"
            for i in sorted(self.flagged, key=lambda x: -x.longest_span_words)[:50]
        )
        return (
            f"<p>{html.escape(self.summary())}</p><table><tr><th>item</th><th>input overlap</th>"
            f"<th>reference overlap</th><th>longest span (words)</th><th>span</th>"
            f"<th>where</th></tr>{rows}</table>"
        )


# -- the items of a task ----------------------------------------------------------------------


def task_items(task: Any, limit: int | None = None) -> list[ItemText]:
    """The inputs and references of a task's items (the same seeded rows ``assay eval`` uses)."""
    from assay.evals.runner import _select
    from assay.evals.steps import load_dataset
    from assay.prompting.templates import PromptTemplate

    dataset = _select(load_dataset(task.dataset), task, limit)
    if task.template is not None:
        fields = set(PromptTemplate.from_string(task.template).variables)
    else:
        fields = {task.input}
    fields.discard(task.target)
    choices_field = task.choices if isinstance(task.choices, str) else None
    if task.kind == "multiple_choice" and choices_field:
        fields.add(choices_field)
    if not dataset.rows:
        raise UserError(f"task '{task.name}': the dataset is empty")
    if not any(f in dataset.rows[0] for f in fields) and task.target not in dataset.rows[0]:
        raise UserError(
            f"task '{task.name}': its rows have none of the fields {sorted(fields | {task.target})}"
        )
    items = []
    for row in dataset.rows:
        inputs = tuple(text_of(row.get(f)) for f in sorted(fields) if row.get(f) is not None)
        target = row.get(task.target)
        options = row.get(choices_field) if choices_field else None
        if isinstance(target, int) and isinstance(options, list) and 0 <= target < len(options):
            target = options[target]
        refs = (text_of(target),) if target not in (None, "") else ()
        items.append(ItemText(str(row["id"]), inputs, refs))
    return items


# -- the check ---------------------------------------------------------------------------------


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest run of True in ``mask``."""
    best = (0, 0)
    start = None
    for i, hit in enumerate([*mask.tolist(), False]):
        if hit and start is None:
            start = i
        elif not hit and start is not None:
            if i - start > best[1]:
                best = (start, i - start)
            start = None
    return best


def check_items(
    items: Sequence[ItemText], index: CorpusIndex, *, locate_spans: bool = True
) -> list[ItemContamination]:
    hasher = WordHasher()
    out = []
    for item in items:
        result = ItemContamination(item.id, Overlap(), Overlap())
        for part, texts in (("input", item.inputs), ("reference", item.references)):
            overlap = getattr(result, part)
            for text in texts:
                hashes = text_ngrams(text, index.n, hasher)
                where = index.lookup(hashes)
                hit = where >= 0
                overlap.ngrams += len(hashes)
                overlap.matched += int(hit.sum())
                start, length = _longest_run(hit)
                span_words = length + index.n - 1 if length else 0
                if span_words > result.longest_span_words:
                    ws = words(text)
                    result.longest_span_words = span_words
                    result.longest_span = " ".join(ws[start : start + span_words])
                    result.span_part = part
                    result.where = (
                        locate(index, int(where[start]), int(hashes[start]))
                        if locate_spans
                        else None
                    )
        out.append(result)
    return out


def check_contamination(
    task: Any,
    against: Iterable[str | Path],
    *,
    n: int = DEFAULT_N,
    limit: int | None = None,
    workspace: Any = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ContaminationReport:
    """Check ``task`` (a name, a YAML file or a loaded config) against corpus files/folders."""
    from assay.evals.task import load_task
    from assay.workspace import Workspace

    config = load_task(task) if isinstance(task, str) else task
    against = [str(a) for a in against]
    if not against:
        raise UserError("no corpus given", hint="pass --against FILE_OR_FOLDER (repeatable)")
    ws = workspace or Workspace.find()
    index, built = build_index(against, ws.dir("contamination"), n=n, on_progress=on_progress)
    items = task_items(config, limit)
    return ContaminationReport(
        task=config.name,
        n=n,
        corpus=[f["path"] for f in index.files],
        corpus_bytes=index.size_bytes,
        corpus_ngrams=index.ngrams,
        index_built=built,
        items=check_items(items, index),
    )


# -- clean subset --------------------------------------------------------------------------------


@dataclass
class CleanSubset:
    metric: str
    all: Any
    clean: Any
    difference: Any  # clean - all, with a bootstrap interval
    n_clean: int
    n_all: int

    def __str__(self) -> str:
        return (
            f"{self.metric}: all items {self.all}; clean items {self.clean}; "
            f"clean - all {self.difference}"
        )


def clean_subset(
    scores: Mapping[str, float], clean_ids: set[str], metric: str, *, seed: int = 0
) -> CleanSubset:
    """The metric on clean items against all items, with a bootstrap interval for the
    difference (items resampled jointly, so the two means stay on the same resample)."""
    from assay.stats import Estimate, mean_ci

    ids = list(scores)
    values = np.array([float(scores[i]) for i in ids])
    clean = np.array([i in clean_ids for i in ids])
    if not clean.any():
        raise UserError("no clean items: every item overlaps the corpus")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(2000, len(values)))
    resampled = values[draws]
    keep = clean[draws]
    counts = keep.sum(axis=1)
    ok = counts > 0
    diffs = (resampled * keep).sum(axis=1)[ok] / counts[ok] - resampled[ok].mean(axis=1)
    observed = float(values[clean].mean() - values.mean())
    low, high = np.percentile(diffs, [2.5, 97.5])
    difference = Estimate(
        observed, float(low), float(high), float(diffs.std()), len(values), "bootstrap-percentile"
    )
    return CleanSubset(
        metric=metric,
        all=mean_ci(values),
        clean=mean_ci(values[clean]),
        difference=difference,
        n_clean=int(clean.sum()),
        n_all=len(values),
    )


__all__ = [
    "CleanSubset",
    "ContaminationReport",
    "ItemContamination",
    "ItemText",
    "check_contamination",
    "check_items",
    "clean_subset",
    "task_items",
]
