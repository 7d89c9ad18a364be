"""Fabricated references: every reference a model wrote, matched against known works.

Per reference one verdict:

- **found**: a known work with this title (fuzzy: case, accents, punctuation and small typos do
  not matter; a dropped subtitle neither) or this DOI, and nothing else contradicts it;
- **partial**: a known work, but a field is wrong (real title, wrong year; a DOI that belongs to
  another title; a first author who is not among its authors);
- **not found**: no known work matches: fabricated, or missing from the bibliography.

The fabricated-reference rate is the share not found, with an interval: a cluster bootstrap
over outputs (references from one answer are not independent), or Wilson's interval when all
references come from one output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assay.checks.bibliography import BibEntry, load_bibliography
from assay.checks.record import CheckResult, status_from
from assay.checks.references import Reference, extract_references, fold
from assay.errors import UserError

Verdict = Literal["found", "partial", "not_found"]
TITLE_SAME = 0.9  # title similarity at which two titles name the same work
TITLE_CLOSE = 0.75  # close enough to be the same work if another field agrees
OUTPUT_FIELDS = ("output", "text", "answer", "response", "completion")
SCORED_KINDS = ("multiple_choice", "perplexity")


def title_similarity(a: str, b: str) -> float:
    """0..1: how alike two titles are after folding; 0.95 when one is the other minus a
    subtitle or a trailing part of at least four words."""
    fa, fb = fold(a), fold(b)
    if not fa or not fb:
        return 0.0
    if fa == fb:
        return 1.0
    short, long_ = sorted((fa, fb), key=len)
    if len(short.split()) >= 4 and long_.startswith(short):
        return 0.95
    return SequenceMatcher(None, fa, fb, autojunk=False).ratio()


def _same_name(a: str, b: str) -> bool:
    fa, fb = fold(a), fold(b)
    return fa == fb or (
        min(len(fa), len(fb)) >= 4 and SequenceMatcher(None, fa, fb).ratio() >= 0.85
    )


@dataclass
class Match:
    reference: Reference
    verdict: Verdict
    entry: BibEntry | None = None
    title_similarity: float = 0.0
    wrong: list[str] = field(default_factory=list)  # "year 2019 (known: 2020)", ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": f"{self.reference.output_id}#{self.reference.line}",
            "output_id": self.reference.output_id,
            "verdict": self.verdict,
            "reference": self.reference.to_dict(),
            "matched": self.entry.to_dict() if self.entry else None,
            "title_similarity": round(self.title_similarity, 3),
            "wrong": self.wrong,
        }


def _disagreements(ref: Reference, entry: BibEntry) -> list[str]:
    wrong = []
    if ref.year is not None and entry.year is not None and ref.year != entry.year:
        wrong.append(f"year {ref.year} (known: {entry.year})")
    if ref.doi and entry.doi and ref.doi != entry.doi:
        wrong.append(f"DOI {ref.doi} (known: {entry.doi})")
    if (
        ref.authors
        and entry.authors
        and not any(_same_name(ref.authors[0], a) for a in entry.authors)
    ):
        wrong.append(f"author {ref.authors[0]} (known: {', '.join(entry.authors[:3])})")
    return wrong


def match_reference(ref: Reference, entries: Sequence[BibEntry]) -> Match:
    """The verdict on one reference against the known works."""
    by_doi = next((e for e in entries if ref.doi and e.doi == ref.doi), None)
    best, best_sim = None, 0.0
    if ref.title:
        for e in entries:
            if e.title:
                sim = title_similarity(ref.title, e.title)
                if sim > best_sim:
                    best, best_sim = e, sim
    if by_doi is not None:
        sim = title_similarity(ref.title, by_doi.title) if ref.title and by_doi.title else 1.0
        wrong = _disagreements(ref, by_doi)
        if sim < TITLE_CLOSE:
            wrong.insert(0, f"title (the DOI is that of '{by_doi.title}')")
        return Match(ref, "partial" if wrong else "found", by_doi, sim, wrong)
    if best is not None and best_sim >= TITLE_CLOSE:
        wrong = _disagreements(ref, best)
        if best_sim >= TITLE_SAME:
            return Match(ref, "partial" if wrong else "found", best, best_sim, wrong)
        agrees = (ref.year is not None and ref.year == best.year) or (
            bool(ref.authors) and any(_same_name(ref.authors[0], a) for a in best.authors)
        )
        if agrees:
            return Match(ref, "partial", best, best_sim, [f"title '{ref.title}'", *wrong])
    return Match(ref, "not_found", None, best_sim)


# -- the check ----------------------------------------------------------------------------------


@dataclass
class CitationReport:
    """Every reference, its verdict, and the rates over them (see the module docstring)."""

    subject: str
    bibliography: str
    n_known: int
    n_outputs: int
    matches: list[Match]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for m in self.matches if m.verdict == verdict)

    def rate(self, verdict: Verdict, seed: int = 0) -> Any:
        """The share of references with ``verdict``, with a 95% interval (see the module)."""
        from assay.stats import bootstrap_ci, wilson_ci

        n = len(self.matches)
        k = self.count(verdict)
        by_output: dict[str, list[int]] = {}
        for m in self.matches:
            by_output.setdefault(m.reference.output_id, []).append(int(m.verdict == verdict))
        if len(by_output) < 5 or k in (0, n):
            return wilson_ci(k, n)
        hits = np.array([sum(v) for v in by_output.values()], dtype=float)
        totals = np.array([len(v) for v in by_output.values()], dtype=float)
        return bootstrap_ci(
            lambda h, t: float(h.sum() / t.sum()), hits, totals, method="percentile", seed=seed
        )

    def figures(self) -> dict[str, Any]:
        if not self.matches:
            return {}
        return {
            "fabricated_rate": self.rate("not_found"),
            "partly_matching_rate": self.rate("partial"),
        }

    def headline(self) -> str:
        n = len(self.matches)
        if not n:
            return f"no references found in {self.n_outputs} output(s): nothing to check"
        return (
            f"{self.count('not_found')} of {n} references not found in {self.bibliography} "
            f"(fabricated or unknown), {self.count('partial')} partly matching, "
            f"{self.count('found')} found; from {self.n_outputs} output(s)"
        )

    def to_check(
        self,
        *,
        run_id: str | None = None,
        model: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        return CheckResult(
            kind="citations",
            status=status_from(
                self.count("not_found") + self.count("partial") > 0, n=len(self.matches)
            ),
            headline=self.headline(),
            subject=self.subject,
            figures=self.figures(),
            items=[m.to_dict() for m in self.matches],
            config={
                "bibliography": self.bibliography,
                "known_works": self.n_known,
                "outputs": self.n_outputs,
                **(config or {}),
            },
            run_id=run_id,
            model=model,
        )


def check_references(
    outputs: Iterable[tuple[str, str]],
    entries: Sequence[BibEntry],
    *,
    subject: str,
    bibliography: str,
) -> CitationReport:
    """Match the references in ``outputs`` (``(id, text)`` pairs) against ``entries``."""
    matches: list[Match] = []
    n = 0
    for output_id, text in outputs:
        n += 1
        matches += [match_reference(r, entries) for r in extract_references(text, output_id)]
    return CitationReport(subject, bibliography, len(entries), n, matches)


# -- what is checked ----------------------------------------------------------------------------


def _output_of(row: Mapping[str, Any], where: str, field_name: str | None) -> str:
    names = (field_name,) if field_name else OUTPUT_FIELDS
    for name in names:
        if name in row and row[name] is not None:
            return str(row[name])
    raise UserError(
        f"{where}: no field {' or '.join(repr(n) for n in names)} with the model's output",
        hint="name the field with --field",
    )


def read_outputs(path: Path, field_name: str | None = None) -> list[tuple[str, str]]:
    """Model outputs from a text file (one output), JSONL or a JSON list (one per row)."""
    if not path.is_file():
        raise UserError(
            f"{path}: no such file", hint="give model outputs (.txt, .jsonl, .json) or a run id"
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".jsonl":
        out = []
        for no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{no}: not valid JSON ({exc.msg})") from None
            if isinstance(row, str):
                out.append((str(no), row))
            elif isinstance(row, dict):
                out.append((str(row.get("id", no)), _output_of(row, f"{path}:{no}", field_name)))
            else:
                raise UserError(f"{path}:{no}: a row is an object or a string")
        return out
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        rows = data if isinstance(data, list) else [data]
        return [
            (str(r.get("id", i)), _output_of(r, f"{path} item {i}", field_name))
            if isinstance(r, dict)
            else (str(i), str(r))
            for i, r in enumerate(rows, start=1)
        ]
    return [(path.name, text)]


def run_outputs(run: Any, samples: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The generated outputs of a finished run; refused for runs that generate nothing."""
    # multiple-choice and perplexity runs score given texts: the model wrote none of them
    kind = (run.config or {}).get("kind", "generate")
    writes = kind not in SCORED_KINDS
    outputs = [(str(s["id"]), str(s["output"])) for s in samples if writes and s.get("output")]
    if not outputs:
        raise UserError(
            f"run {run.id} ({run.task}) has no generated outputs to read references from",
            hint="check a generate run, e.g. `assay eval reference-recall`",
        )
    return outputs


def check_citations(
    outputs: str | Path | Sequence[str] | Sequence[tuple[str, str]],
    *,
    bib: str | Path | None = None,
    collection: str | None = None,
    output_field: str | None = None,
    workspace: Any = None,
    record: bool = True,
) -> CheckResult:
    """Check the references in model outputs against a bibliography or a collection.

    ``outputs`` is a run id, a file (.txt, .jsonl, .json), or a list of texts (or
    ``(id, text)`` pairs). The result is recorded in the workspace (``record=False`` not to) and
    shows as a table in Jupyter.

        >>> assay.check_citations("answers.jsonl", bib="refs.bib")      # doctest: +SKIP
    """
    from assay.checks.record import CheckStore
    from assay.workspace import Workspace

    ws = workspace or Workspace.find()
    entries = load_bibliography(bib, collection=collection, workspace=ws)
    source = f"collection {collection}" if collection else Path(str(bib)).name
    run = None
    if isinstance(outputs, (str, Path)) and not Path(str(outputs)).exists():
        from assay.evals.runs import RunStore

        store = RunStore(ws)
        run = store.get(str(outputs))
        run.require_finished("a citation check")
        pairs = run_outputs(run, store.samples(run.id))
        subject = run.id
    elif isinstance(outputs, (str, Path)):
        pairs = read_outputs(Path(outputs), output_field)
        subject = str(outputs)
    else:
        pairs = [
            (str(i), o) if isinstance(o, str) else (str(o[0]), str(o[1]))
            for i, o in enumerate(outputs, start=1)
        ]
        subject = f"{len(pairs)} outputs"
    report = check_references(pairs, entries, subject=subject, bibliography=source)
    result = report.to_check(
        run_id=run.id if run else None,
        model=run.model if run else None,
        config={"source": str(bib) if bib else None, "collection": collection},
    )
    return CheckStore(ws).add(result) if record else result


__all__ = [
    "CitationReport",
    "Match",
    "check_citations",
    "check_references",
    "match_reference",
    "read_outputs",
    "title_similarity",
]
