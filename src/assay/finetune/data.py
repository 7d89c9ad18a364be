"""Training data: reading with line numbers, validation, cleaning, splitting, statistics, leakage.

Every example keeps where it came from (``train.jsonl:12``, ``train.csv:7``), so each complaint
names the file and line to fix:

- an empty file, a line that is not a JSON object, a column that no row has (with the columns
  there are and the nearest name), rows missing a value, a text field that is not a string,
  labels of mixed types (strings on some lines, numbers on others);
- :func:`dedup` removes exact duplicates (before the train/validation split, so no example sits
  on both sides) and :func:`split` holds out a seeded, optionally stratified, validation set;
- :func:`length_stats` gives the token-length histogram and how many examples the maximum length
  truncates; :func:`check_leakage` finds evaluation items that share an n-gram (13 words by
  default) with the training data, so the overlap is known before training starts.

Sources: ``.jsonl``/``.ndjson``, ``.json`` (a list of objects), ``.csv``, ``.tsv``, ``.txt`` (one
example holding the whole file as ``text``), a folder of ``.txt`` files (one example each), and
``builtin:<name>/<split>`` for assay's built-in datasets (``builtin:bbc-news/train``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import UserError
from assay.tables import describe, file_bytes, file_text, read_table

TABLE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")

_MAX_LISTED = 5


@dataclass(frozen=True)
class Example:
    data: dict[str, Any]
    where: str
    """``file:line`` (or ``builtin:name/split id X``) for error messages."""

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


@dataclass
class Examples:
    """Examples from one source, with what identifies the source."""

    items: list[Example]
    source: str
    path: str
    sha256: str
    """sha256 of the source bytes (several files: of their sorted ``sha256  name`` listing)."""
    format: str
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def rows_sha256(self) -> str:
        h = hashlib.sha256()
        for ex in self.items:
            h.update(json.dumps(ex.data, sort_keys=True, ensure_ascii=False).encode())
            h.update(b"\n")
        return h.hexdigest()

    def record(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": self.path,
            "format": self.format,
            "sha256": self.sha256,
            "rows": len(self.items),
            "rows_sha256": self.rows_sha256(),
            "notes": list(self.notes),
        }

    def replace(self, items: list[Example], note: str | None = None) -> Examples:
        notes = [*self.notes, note] if note else list(self.notes)
        return Examples(items, self.source, self.path, self.sha256, self.format, notes)


# --------------------------------------------------------------------------------------------
# Reading


def read_examples(source: str, *, what: str = "training data") -> Examples:
    """Read every example of a source, each with its location. Empty sources are refused."""
    if source.startswith("builtin:"):
        return _read_builtin(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"{what}: no such file or folder: {source}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise UserError(f"{what}: the folder {path} holds no .txt files")
        items = [Example({"text": file_text(f)}, str(f)) for f in files]
        listing = "".join(f"{_sha(f.read_bytes())}  {f.relative_to(path)}\n" for f in files)
        out = Examples(items, source, str(path), _sha(listing.encode()), "folder:txt")
    else:
        raw = file_bytes(path)
        suffix = path.suffix.lower()
        if suffix in TABLE_SUFFIXES:
            items = _read_table(path)
        elif suffix in (".txt", ".md", ".text"):
            text = file_text(path)
            items = [Example({"text": text}, str(path))] if text.strip() else []
        else:
            raise UserError(
                f"{what}: cannot tell the format of {path}",
                hint="use .jsonl, .json, .csv, .tsv or .txt (raw text)",
            )
        out = Examples(items, source, str(path.resolve()), _sha(raw), suffix.lstrip("."))
    if not out.items:
        raise UserError(f"{what}: {out.path} is empty (no examples)")
    return out


def _read_builtin(source: str) -> Examples:
    from assay.evals.builtin_data import load_builtin

    name, _, split = source.removeprefix("builtin:").partition("/")
    ds = load_builtin(name, **({"split": split} if split else {}))
    items = [Example(dict(r), f"{source} id {r['id']}") for r in ds]
    return Examples(items, source, ds.provenance.path, ds.provenance.sha256, "builtin")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_table(path: Path) -> list[Example]:
    out = []
    for row in read_table(path):
        if row.error is None:
            out.append(Example(row.values, row.where))
        elif path.suffix.lower() in (".csv", ".tsv"):
            raise UserError(row.problem(path), hint="quote values that contain the delimiter")
        else:
            raise UserError(
                row.problem(path), hint="each line of a .jsonl file must be one JSON object"
            )
    return out


# --------------------------------------------------------------------------------------------
# Validation


def require_columns(
    examples: Examples, columns: Sequence[str], *, text: Sequence[str] = (), config_key: str = ""
) -> None:
    """Every example has a non-empty value for each column; ``text`` columns hold strings.

    A column no example has is a wrong name: the error lists the columns there are and the
    nearest one. Rows missing a value are listed by location.
    """
    first = examples.items[0]
    seen: dict[str, None] = {}
    for ex in examples.items[:200]:
        seen.update(dict.fromkeys(ex.data))
    for col in columns:
        if not any(col in ex.data for ex in examples.items):
            near = difflib.get_close_matches(col, list(seen), n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            if config_key:
                hint += f"set {config_key} to the column that holds it"
            raise UserError(
                f"{first.where}: no column '{col}'; the columns are: {', '.join(seen)}",
                hint=hint or None,
            )
        missing = [ex.where for ex in examples.items if _empty(ex.data.get(col))]
        if missing:
            raise UserError(
                f"{missing[0]}: no value for '{col}'"
                + (
                    f" (and {len(missing) - 1} more rows: {_listed(missing[1:])})"
                    if len(missing) > 1
                    else ""
                ),
                hint="fill in or remove those rows",
            )
    for col in text:
        bad = [ex for ex in examples.items if not isinstance(ex.data.get(col), str)]
        if bad:
            raise UserError(
                f"{bad[0].where}: '{col}' must be text, got {describe(bad[0].data.get(col))}"
                + (f" (and {len(bad) - 1} more rows)" if len(bad) > 1 else "")
            )


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _listed(wheres: Sequence[str]) -> str:
    shown = ", ".join(wheres[:_MAX_LISTED])
    return shown + (f", ... {len(wheres) - _MAX_LISTED} more" if len(wheres) > _MAX_LISTED else "")


def label_kind(examples: Examples, column: str) -> str:
    """``"string"`` or ``"number"``: the type all labels share. Mixed types are refused.

    The error names the first line whose label differs from the first label's type.
    """
    kinds: dict[str, Example] = {}
    for ex in examples.items:
        value = ex.data.get(column)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise UserError(
                f"{ex.where}: the label '{column}' must be a string or a number, got {describe(value)}"
            )
        kind = "string" if isinstance(value, str) else "number"
        kinds.setdefault(kind, ex)
        if len(kinds) > 1:
            other = next(k for k in kinds if k != kind)
            first = kinds[other]
            raise UserError(
                f"{ex.where}: the label is {describe(value)} ({value!r}) but at {first.where} it is "
                f"{describe(first.data[column])} ({first.data[column]!r}): labels of mixed types",
                hint="write every label the same way: all as strings, or all as numbers",
            )
    return next(iter(kinds))


def as_float(ex: Example, column: str) -> float:
    value = ex.data.get(column)
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(
            f"{ex.where}: '{column}' must be a number for regression, got {value!r}"
        ) from None


# --------------------------------------------------------------------------------------------
# Cleaning and splitting


def dedup(examples: Examples, key: Callable[[Example], Any]) -> tuple[Examples, list[str]]:
    """Drop exact duplicates (equal ``key``), keeping the first. Returns the locations dropped."""
    seen: set[str] = set()
    kept, dropped = [], []
    for ex in examples.items:
        k = json.dumps(key(ex), sort_keys=True, ensure_ascii=False, default=str)
        if k in seen:
            dropped.append(ex.where)
            continue
        seen.add(k)
        kept.append(ex)
    note = f"removed {len(dropped)} exact duplicates, {len(kept)} left" if dropped else None
    return examples.replace(kept, note), dropped


def sample(examples: Examples, limit: int | None, seed: int) -> Examples:
    """At most ``limit`` examples, a seeded sample kept in file order."""
    if limit is None or limit >= len(examples):
        return examples
    chosen = sorted(random.Random(seed).sample(range(len(examples)), limit))
    items = [examples.items[i] for i in chosen]
    return examples.replace(items, f"sampled {limit} of {len(examples)} (seed {seed})")


def split(
    examples: Examples,
    fraction: float,
    seed: int,
    stratify: Callable[[Example], Any] | None = None,
) -> tuple[Examples, Examples | None]:
    """Seeded train/validation split; stratified by ``stratify(example)`` when given.

    Each stratum gives ``round(fraction * size)`` examples to validation (at least one when the
    fraction is positive and the stratum has two or more). Both parts keep file order.
    """
    if fraction <= 0:
        return examples, None
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples.items):
        groups.setdefault(json.dumps(stratify(ex), default=str) if stratify else "", []).append(i)
    rng = random.Random(seed)
    held: set[int] = set()
    for key in sorted(groups):
        idx = list(groups[key])
        rng.shuffle(idx)
        n = round(fraction * len(idx))
        if n == 0 and len(idx) >= 2:
            n = 1
        held.update(idx[: min(n, len(idx) - 1)] if len(groups) == 1 else idx[:n])
    if not held:
        return examples, None
    if len(held) == len(examples):
        raise UserError(
            f"{examples.path}: {len(examples)} examples are too few to hold out a validation set",
            hint="add examples, lower data.validation_fraction, or give data.validation",
        )
    train = [ex for i, ex in enumerate(examples.items) if i not in held]
    val = [ex for i, ex in enumerate(examples.items) if i in held]
    note = (
        f"held out {len(val)} for validation (fraction {fraction}, seed {seed}), "
        f"{len(train)} left for training"
    )
    held_out = Examples(
        val,
        examples.source,
        examples.path,
        examples.sha256,
        examples.format,
        [f"held out from the training data (fraction {fraction}, seed {seed})"],
    )
    return examples.replace(train, note), held_out


# --------------------------------------------------------------------------------------------
# Statistics


def length_stats(lengths: Sequence[int], max_length: int | None, bins: int = 10) -> dict[str, Any]:
    """Token-length summary, a histogram, and what the maximum length cuts off."""
    if not lengths:
        return {"n": 0}
    top = max(max(lengths), max_length or 0)
    width = max(1, -(-top // bins))
    counts = [0] * bins
    for n in lengths:
        counts[min(n // width, bins - 1)] += 1
    over = [n - max_length for n in lengths if max_length is not None and n > max_length]
    ordered = sorted(lengths)
    return {
        "n": len(lengths),
        "min": ordered[0],
        "mean": round(statistics.fmean(lengths), 1),
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
        "total_tokens": int(sum(lengths)),
        "max_length": max_length,
        "truncated": len(over),
        "truncated_fraction": round(len(over) / len(lengths), 4),
        "tokens_cut": int(sum(over)),
        "histogram": {"edges": [i * width for i in range(bins + 1)], "counts": counts},
    }


def format_length_stats(name: str, stats: Mapping[str, Any]) -> str:
    if not stats.get("n"):
        return f"{name}: no examples"
    lines = [
        f"{name}: {stats['n']} examples, tokens min {stats['min']} / median {stats['median']} / "
        f"p95 {stats['p95']} / max {stats['max']}"
    ]
    if stats.get("max_length") is not None:
        lines.append(
            f"  truncated at {stats['max_length']} tokens: {stats['truncated']} examples "
            f"({100 * stats['truncated_fraction']:.1f}%), {stats['tokens_cut']} tokens cut"
        )
    hist = stats["histogram"]
    counts = hist["counts"]
    peak = max(counts) or 1
    last = max(i for i, c in enumerate(counts) if c)
    for lo, hi, count in list(zip(hist["edges"], hist["edges"][1:], counts, strict=False))[
        : last + 1
    ]:
        bar = "#" * round(30 * count / peak)
        lines.append(f"  {lo:>6}-{hi - 1:<6} {count:>6} {bar}")
    if last < len(counts) - 1:
        lines.append(f"  (no example is {hist['edges'][last + 1]} tokens or longer)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Leakage


_WORD = re.compile(r"\w+")
_MIN_SHORT = 8
"""Evaluation texts shorter than n words are checked whole when they have at least this many."""


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class LeakageHit:
    eval_source: str
    eval_id: str
    train_where: str
    ngram: str


@dataclass
class LeakageReport:
    n: int
    sources: list[str]
    eval_items: int
    hits: list[LeakageHit]

    @property
    def leaked(self) -> bool:
        return bool(self.hits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ngram": self.n,
            "sources": self.sources,
            "eval_items_checked": self.eval_items,
            "overlapping_items": len(self.hits),
            "hits": [h.__dict__ for h in self.hits],
        }

    def message(self, limit: int = 20) -> str:
        head = (
            f"{len(self.hits)} of {self.eval_items} evaluation items share a {self.n}-gram with "
            f"the training data ({', '.join(self.sources)}):"
        )
        lines = [head]
        for h in self.hits[:limit]:
            lines.append(f'  {h.eval_source} id {h.eval_id} <- {h.train_where}: "{h.ngram}"')
        if len(self.hits) > limit:
            lines.append(f"  ... and {len(self.hits) - limit} more (all listed in the run record)")
        return "\n".join(lines)


def _eval_texts(source: str) -> list[tuple[str, list[str]]]:
    """(id, texts) of each item of an evaluation dataset."""
    if source.startswith("builtin:"):
        from assay.evals.builtin_data import load_builtin

        name, _, split_name = source.removeprefix("builtin:").partition("/")
        rows: Iterable[Mapping[str, Any]] = load_builtin(
            name, **({"split": split_name} if split_name else {})
        )
    else:
        from assay.evals.datasets import load_rows

        rows = load_rows(source)
    out = []
    for row in rows:
        texts: list[str] = []
        for key, value in row.items():
            if key in ("id", "source_id"):
                continue
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, list):
                texts.extend(v for v in value if isinstance(v, str))
        out.append((str(row["id"]), texts))
    return out


def check_leakage(
    train_texts: Iterable[tuple[str, str]], sources: Sequence[str], n: int = 13
) -> LeakageReport:
    """Evaluation items that share a word ``n``-gram with any training text.

    Text is lower-cased and split into words (``\\w+``). Evaluation texts shorter than ``n``
    words are matched whole when they have at least 8 words (shorter ones, like class labels,
    are not checked). One hit is reported per evaluation item, with the first training example
    that contains it.
    """
    index: dict[tuple[str, ...], tuple[str, str]] = {}
    short_lengths: set[int] = set()
    n_items = 0
    for source in sources:
        for item_id, texts in _eval_texts(source):
            n_items += 1
            for text in texts:
                w = words(text)
                if len(w) >= n:
                    for i in range(len(w) - n + 1):
                        index.setdefault(tuple(w[i : i + n]), (source, item_id))
                elif len(w) >= _MIN_SHORT:
                    index.setdefault(tuple(w), (source, item_id))
                    short_lengths.add(len(w))
    found: dict[tuple[str, str], LeakageHit] = {}
    lengths = sorted({n, *short_lengths})
    for where, text in train_texts:
        w = words(text)
        for size in lengths:
            for i in range(len(w) - size + 1):
                gram = tuple(w[i : i + size])
                owner = index.get(gram)
                if owner is not None and owner not in found:
                    found[owner] = LeakageHit(owner[0], owner[1], where, " ".join(gram))
    return LeakageReport(n, list(sources), n_items, list(found.values()))


__all__ = [
    "Example",
    "Examples",
    "LeakageHit",
    "LeakageReport",
    "as_float",
    "check_leakage",
    "dedup",
    "format_length_stats",
    "label_kind",
    "length_stats",
    "read_examples",
    "require_columns",
    "sample",
    "split",
    "words",
]
