"""Evaluation datasets: one loader for every kind of source, rows with stable ids, and provenance.

    >>> ds = load_rows("data/questions.jsonl", fields={"question": "prompt", "target": "gold"})
    >>> ds[0]["id"], ds[0]["question"], ds.sha256, ds.provenance.to_dict()

Sources
    - a file: ``.jsonl``/``.ndjson`` (one JSON object a line), ``.json`` (a list of objects, an
      object holding one such list, or an object of objects keyed by id), ``.csv``/``.tsv``
      (header row; values are strings), ``.parquet`` (needs ``pyarrow``); any of them ``.gz``;
    - a folder saved by Hugging Face ``datasets`` (``save_to_disk``; needs ``datasets``);
    - a folder of data files, as ``datasets.load_dataset("json"/"csv"/"parquet", data_files=...)``
      would read it. The split of a file comes from the first word of its name or from a folder
      name (``train``/``training``; ``validation``/``valid``/``val``/``dev``; ``test``/``testing``/
      ``eval``/``evaluation``); when no file names a split, the whole folder is one split; when
      some do, files that name none are ignored (both as ``datasets`` does). Several files of one
      split are read in path order. They are read directly, so ``datasets`` is not needed;
    - ``package:<module>/<path>``: a file or folder inside an installed package, found without
      importing it.

Rows
    Each row is a plain dict with an ``id`` (a string). The id comes from ``id_field`` when given;
    otherwise from a field named ``id`` when every row has one and no two are equal; otherwise it
    is the row's position in the source (0-based, counted before any row is skipped, so ids do not
    move when rows are skipped, shuffled or limited). A source ``id`` that could not serve is kept
    as ``source_id``.

    ``fields`` maps task field names to source field names (``{"question": "prompt"}`` renames the
    source's ``prompt`` to ``question``; a dotted name such as ``"summary.outcome"`` reaches into
    nested objects). Fields that no mapping names are kept as they are.

    A field is missing when it is absent, ``None``, or a blank string. ``required`` fields that are
    missing make the load fail with the file and the row numbers (``on_missing="error"``, the
    default) or drop those rows (``on_missing="skip"``); how many were dropped, and which, is in the
    provenance and logged.

Selection
    ``limit`` keeps the first N rows. ``shuffle=True`` orders rows by ``sha256(f"{seed}:{id}")``
    first, so ``shuffle`` + ``limit`` is a seeded sample that is the same on every machine and
    Python version, and a smaller sample is always contained in a larger one with the same seed.

Hashes
    ``sha256`` is the hash of the source bytes (of the one file; for several files, of the text
    ``"<sha256>  <relative path>\\n"`` for each file in path order, as ``sha256sum`` prints it).
    ``rows_sha256`` is the hash of the rows as loaded (after mapping, skipping and selection),
    one canonical JSON object a line: it names exactly what a model was evaluated on, and it is
    equal for two files that differ only in JSON formatting.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.errors import ConfigError, MissingExtraError, UserError
from assay.tables import FILE_FORMATS, package_path, read_table, table_format

log = logging.getLogger(__name__)

Row = dict[str, Any]
OnMissing = Literal["error", "skip"]

SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval", "evaluation"),
}
_MAX_LISTED = 20


# --------------------------------------------------------------------------------------------
# Data types


@dataclass(frozen=True)
class Provenance:
    """Where a dataset came from and what exactly was taken from it; stored with every run."""

    source: str
    """The source as the user gave it (path, ``package:...``, or a built-in name)."""
    path: str
    """The resolved file or folder."""
    format: str
    sha256: str
    """Hash of the source bytes (see the module docstring for several files)."""
    rows_sha256: str
    """Hash of the rows as loaded, one canonical JSON object a line."""
    n_rows: int
    n_source_rows: int
    """Rows read from the source (of the chosen split), before skipping and selection."""
    split: str | None = None
    files: tuple[str, ...] = ()
    id_field: str | None = None
    """The field the ids came from; ``None`` when ids are row positions."""
    fields: Mapping[str, str] = field(default_factory=dict)
    n_skipped: int = 0
    skipped: tuple[str, ...] = ()
    """Locations (``file:line``) of the first skipped rows."""
    dropped: tuple[str, ...] = ()
    """Human-readable notes on rows a loader removed on purpose, with the reason."""
    limit: int | None = None
    shuffle: bool = False
    seed: int = 0
    licence: str | None = None
    citation: str | None = None
    url: str | None = None
    note: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Loader options that shaped the rows (built-in loaders record theirs here)."""

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["files"] = list(self.files)
        out["skipped"] = list(self.skipped)
        out["dropped"] = list(self.dropped)
        out["fields"] = dict(self.fields)
        out["options"] = dict(self.options)
        return out


@dataclass(frozen=True)
class Dataset:
    """Rows (dicts with an ``id``) plus their provenance. Indexable and iterable like a list."""

    rows: tuple[Row, ...]
    provenance: Provenance
    locations: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Where each row (by id) came from, ``file:line``, for messages about a row."""

    def where(self, row_id: str) -> str:
        """``file:line`` of a row when known, else its id."""
        return self.locations.get(row_id) or f"id {row_id}"

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> Row:
        return self.rows[index]

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.rows]

    @property
    def sha256(self) -> str:
        return self.provenance.sha256

    @property
    def rows_sha256(self) -> str:
        return self.provenance.rows_sha256

    def by_id(self) -> dict[str, Row]:
        return {r["id"]: r for r in self.rows}

    def select(self, *, limit: int | None = None, shuffle: bool = False, seed: int = 0) -> Dataset:
        """A seeded shuffle and/or the first ``limit`` rows, recorded in the provenance."""
        return select(self, limit=limit, shuffle=shuffle, seed=seed)


@dataclass(frozen=True)
class DataSpec:
    """Everything ``load_rows`` needs, as one value a task config can hold."""

    source: str
    fields: Mapping[str, str] = field(default_factory=dict)
    id_field: str | None = None
    split: str | None = None
    required: tuple[str, ...] = ()
    on_missing: OnMissing = "error"
    limit: int | None = None
    shuffle: bool = False
    seed: int = 0
    licence: str | None = None
    citation: str | None = None
    note: str | None = None


# --------------------------------------------------------------------------------------------
# Public functions


def load_rows(
    source: str | os.PathLike[str] | DataSpec,
    *,
    fields: Mapping[str, str] | None = None,
    id_field: str | None = None,
    split: str | None = None,
    required: Sequence[str] = (),
    on_missing: OnMissing = "error",
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    licence: str | None = None,
    citation: str | None = None,
    note: str | None = None,
) -> Dataset:
    """Load rows from a file, a folder or ``package:<module>/<path>``; see the module docstring."""
    if isinstance(source, DataSpec):
        spec = source
    else:
        spec = DataSpec(
            source=os.fspath(source),
            fields=dict(fields or {}),
            id_field=id_field,
            split=split,
            required=tuple(required),
            on_missing=on_missing,
            limit=limit,
            shuffle=shuffle,
            seed=seed,
            licence=licence,
            citation=citation,
            note=note,
        )
    return _load(spec)


def from_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    source: str,
    path: str | os.PathLike[str] = "",
    sha256: str | None = None,
    format: str = "rows",
    split: str | None = None,
    files: Sequence[str] = (),
    id_field: str | None = "id",
    n_source_rows: int | None = None,
    dropped: Sequence[str] = (),
    licence: str | None = None,
    citation: str | None = None,
    url: str | None = None,
    note: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Dataset:
    """A Dataset from rows already in memory (each must have a unique ``id``).

    Without ``sha256`` (no source file), the source hash is the hash of the rows.
    """
    out = [dict(r) for r in rows]
    if not out:
        raise UserError(f"the dataset '{source}' has no rows")
    for i, r in enumerate(out):
        if "id" not in r:
            raise UserError(f"the dataset '{source}': row {i + 1} has no id")
        r["id"] = str(r["id"])
    _check_unique([r["id"] for r in out], [f"row {i + 1}" for i in range(len(out))], source)
    rows_hash = rows_sha256(out)
    prov = Provenance(
        source=source,
        path=os.fspath(path),
        format=format,
        sha256=sha256 or rows_hash,
        rows_sha256=rows_hash,
        n_rows=len(out),
        n_source_rows=len(out) if n_source_rows is None else n_source_rows,
        split=split,
        files=tuple(files),
        id_field=id_field,
        dropped=tuple(dropped),
        licence=licence,
        citation=citation,
        url=url,
        note=note,
        options=dict(options or {}),
    )
    return Dataset(tuple(out), prov)


def select(
    dataset: Dataset, *, limit: int | None = None, shuffle: bool = False, seed: int = 0
) -> Dataset:
    """Seeded shuffle (by ``sha256(f"{seed}:{id}")``) then the first ``limit`` rows."""
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    rows = list(dataset.rows)
    if shuffle:
        rows.sort(key=lambda r: _order_key(seed, r["id"]))
    if limit is not None:
        rows = rows[:limit]
    if not shuffle and limit is None:
        return dataset
    prov = dataclasses.replace(
        dataset.provenance,
        rows_sha256=rows_sha256(rows),
        n_rows=len(rows),
        limit=limit,
        shuffle=shuffle,
        seed=seed,
    )
    return Dataset(tuple(rows), prov, dataset.locations)


def rows_sha256(rows: Iterable[Mapping[str, Any]]) -> str:
    """sha256 of rows written as canonical JSON (sorted keys, no spaces, UTF-8), one a line."""
    h = hashlib.sha256()
    for r in rows:
        h.update(_canonical(r).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_sha256(root: Path, files: Sequence[Path]) -> str:
    """One file: its sha256. Several: sha256 of their ``sha256sum`` listing, in path order."""
    if len(files) == 1:
        return file_sha256(files[0])
    listing = "".join(
        f"{file_sha256(f)}  {f.relative_to(root).as_posix()}\n" for f in sorted(files)
    )
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def canonical_split(name: str) -> str:
    """``val``/``dev`` → ``validation`` and so on; other names are returned lower-cased."""
    low = name.lower()
    for canon, aliases in SPLIT_ALIASES.items():
        if low in aliases:
            return canon
    return low


def missing_fields(row: Mapping[str, Any], required: Iterable[str]) -> list[str]:
    return [f for f in required if _is_missing(row.get(f))]


# --------------------------------------------------------------------------------------------
# Reading sources


@dataclass
class _Raw:
    rows: list[tuple[str, Any]]
    """(location, row) pairs; location is ``file:line`` or ``file row N``."""
    path: Path
    format: str
    files: list[Path]
    sha256: str
    split: str | None


def _resolve(source: str) -> Path:
    if source.startswith("package:"):
        return package_path(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"no such file or folder: {source}")
    return path


def _read_source(source: str, split: str | None) -> _Raw:
    path = _resolve(source)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return _read_hf_disk(path, split)
        return _read_folder(path, split)
    fmt = _file_format(path)
    if split is not None:
        file_split = _split_of(Path(path.name))
        if file_split is not None and file_split != canonical_split(split):
            raise UserError(
                f"{path} is one file of split '{file_split}', not '{split}'",
                hint="point at the file of the split you want, or at the folder holding all splits",
            )
    rows = _read_file(path, fmt, label=path.name)
    return _Raw(rows, path, fmt, [path], file_sha256(path), _split_of(Path(path.name)) or split)


def _file_format(path: Path) -> str:
    fmt = table_format(path)
    if fmt is None:
        raise UserError(
            f"cannot tell the format of {path}",
            hint="use a file ending in " + ", ".join(FILE_FORMATS) + " (optionally .gz)",
        )
    return fmt


def _read_file(path: Path, fmt: str, label: str) -> list[tuple[str, Any]]:
    rows = read_table(path, fmt=fmt, label=label, fill_short_rows=True)
    for row in rows:
        if row.error is not None and row.line is not None and fmt == "jsonl":
            raise UserError(
                row.problem(path), hint="each line of a .jsonl file must be one JSON object"
            )
        if row.error is not None:  # a row without a line: the full path, then where in it
            at = (
                f"{path}:{row.line}"
                if row.line is not None
                else path.as_posix() + row.where[len(label) :]
            )
            raise UserError(f"{at}: {row.error}")
    return [(row.where, row.values) for row in rows]


def _split_of(rel: Path) -> str | None:
    """The split a data file belongs to: a split word in its name, else in a folder name.

    Words are separated by ``-._ /`` and digits, as in the ``datasets`` data-file patterns, so
    ``test.jsonl``, ``train-00000-of-00002.parquet``, ``gsm8k_test.jsonl`` and ``dev/a.json``
    all name their split.
    """
    parts = [rel.name.split(".")[0], *reversed(rel.parts[:-1])]
    for part in parts:
        for word in re.split(r"[-._ 0-9]+", part.lower()):
            for canon, aliases in SPLIT_ALIASES.items():
                if word in aliases:
                    return canon
    return None


def _choose_split(available: Sequence[str], split: str | None, where: Path) -> str:
    names = ", ".join(available)
    if split is None:
        if len(available) == 1:
            return available[0]
        raise ConfigError(
            f"{where} has the splits {names}: choose one", hint="set split: (e.g. split: test)"
        )
    if split in available:
        return split
    canon = canonical_split(split)
    for name in available:
        if canonical_split(name) == canon:
            return name
    raise ConfigError(f"{where} has no split '{split}'; it has {names}")


def _read_folder(path: Path, split: str | None) -> _Raw:
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and _known_format(p)
    )
    if not files:
        raise UserError(
            f"{path} holds no data files",
            hint="expected "
            + ", ".join(FILE_FORMATS)
            + " files, or a datasets save_to_disk folder",
        )
    by_split: dict[str | None, list[Path]] = {}
    for f in files:
        by_split.setdefault(_split_of(f.relative_to(path)), []).append(f)
    if None in by_split and len(by_split) > 1:
        ignored = by_split.pop(None)
        log.info("%s: ignoring %d files that name no split", path, len(ignored))
    if list(by_split) == [None]:
        if split is not None:
            raise ConfigError(
                f"{path} has no splits (no file is named after train/validation/test), "
                f"so split '{split}' cannot be chosen"
            )
        chosen: str | None = None
    else:
        chosen = _choose_split(sorted(k for k in by_split if k is not None), split, path)
    chosen_files = sorted(by_split[chosen])
    fmts = {_file_format(f) for f in chosen_files}
    rows: list[tuple[str, Any]] = []
    for f in chosen_files:
        rows.extend(_read_file(f, _file_format(f), label=f.relative_to(path).as_posix()))
    fmt = fmts.pop() if len(fmts) == 1 else "mixed"
    return _Raw(rows, path, f"folder:{fmt}", chosen_files, files_sha256(path, chosen_files), chosen)


def _known_format(p: Path) -> bool:
    try:
        _file_format(p)
    except UserError:
        return False
    return True


def _read_hf_disk(path: Path, split: str | None) -> _Raw:
    try:
        import datasets as hf
    except ImportError as e:
        raise MissingExtraError(
            "loading a folder saved by Hugging Face datasets", "datasets", "pip install datasets"
        ) from e
    try:
        loaded = hf.load_from_disk(str(path))
    except Exception as e:
        raise UserError(f"{path}: not a readable datasets folder ({e})") from e
    chosen: str | None = None
    folder = path
    if isinstance(loaded, hf.DatasetDict):
        chosen = _choose_split(list(loaded.keys()), split, path)
        table = loaded[chosen]
        folder = path / chosen
    else:
        if split is not None:
            raise ConfigError(f"{path} holds one dataset without splits; drop split '{split}'")
        table = loaded
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    rows = [(f"{folder.name} row {i + 1}", r) for i, r in enumerate(table.to_list())]
    return _Raw(rows, path, "hf-disk", files, files_sha256(folder, files), chosen)


# --------------------------------------------------------------------------------------------
# Turning raw rows into dataset rows


def _load(spec: DataSpec) -> Dataset:
    if spec.on_missing not in ("error", "skip"):
        raise ConfigError(f"on_missing must be 'error' or 'skip', got '{spec.on_missing}'")
    raw = _read_source(spec.source, spec.split)
    where = str(raw.path)
    if not raw.rows:
        raise UserError(f"the dataset {where} has no rows" + _split_note(raw.split))
    for loc, r in raw.rows:
        if not isinstance(r, dict):
            raise UserError(f"{_at(raw, loc)}: expected a JSON object, got {type(r).__name__}")

    rows = [r for _, r in raw.rows]
    locs = [loc for loc, _ in raw.rows]
    _check_mapping(spec, rows, where)

    mapped = [_map_row(r, spec.fields) for r in rows]
    ids, id_field = _assign_ids(spec, mapped, locs, where)
    for r, i in zip(mapped, ids, strict=True):
        if id_field != "id" and "id" in r:
            r["source_id"] = r.pop("id")
        r["id"] = i

    required = tuple(dict.fromkeys((*spec.required,)))
    bad: list[tuple[str, list[str]]] = []
    keep: list[Row] = []
    for loc, r in zip(locs, mapped, strict=True):
        missing = missing_fields(r, required)
        if missing:
            bad.append((loc, missing))
        else:
            keep.append(r)
    if bad and spec.on_missing == "error":
        raise UserError(
            f"{where}: {len(bad)} of {len(mapped)} rows miss required fields: " + _list_bad(bad),
            hint="fix the rows, map the fields with fields:, or set on_missing: skip",
        )
    if bad:
        log.warning(
            "%s: skipped %d of %d rows that miss required fields: %s",
            where,
            len(bad),
            len(mapped),
            _list_bad(bad),
        )
    if not keep:
        raise UserError(f"the dataset {where} has no rows left after skipping {len(bad)}")

    rows_hash = rows_sha256(keep)
    prov = Provenance(
        source=spec.source,
        path=str(raw.path),
        format=raw.format,
        sha256=raw.sha256,
        rows_sha256=rows_hash,
        n_rows=len(keep),
        n_source_rows=len(mapped),
        split=raw.split,
        files=tuple(
            f.relative_to(raw.path).as_posix() if raw.path.is_dir() else f.name for f in raw.files
        ),
        id_field=id_field,
        fields=dict(spec.fields),
        n_skipped=len(bad),
        skipped=tuple(loc for loc, _ in bad[:_MAX_LISTED]),
        licence=spec.licence,
        citation=spec.citation,
        note=spec.note,
    )
    return select(
        Dataset(tuple(keep), prov, {r["id"]: loc for loc, r in zip(locs, mapped, strict=True)}),
        limit=spec.limit,
        shuffle=spec.shuffle,
        seed=spec.seed,
    )


def _at(raw: _Raw, loc: str) -> str:
    return f"{raw.path.parent / loc}" if raw.path.is_file() else f"{raw.path}/{loc}"


def _split_note(split: str | None) -> str:
    return f" (split '{split}')" if split else ""


def _list_bad(bad: Sequence[tuple[str, Sequence[str]]]) -> str:
    shown = "; ".join(f"{loc} ({', '.join(m)})" for loc, m in bad[:_MAX_LISTED])
    more = len(bad) - _MAX_LISTED
    return shown + (f"; and {more} more" if more > 0 else "")


def _lookup(row: Mapping[str, Any], name: str) -> Any:
    if name in row:
        return row[name]
    cur: Any = row
    for part in name.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def _has(row: Mapping[str, Any], name: str) -> bool:
    if name in row:
        return True
    cur: Any = row
    for part in name.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False
    return True


def _check_mapping(spec: DataSpec, rows: Sequence[Row], where: str) -> None:
    """A mapped source field that no row has is a typo, not a missing value: say so at once."""
    wanted = list(spec.fields.values())
    if spec.id_field and spec.id_field not in spec.fields:
        wanted.append(spec.id_field)
    for name in wanted:
        if not any(_has(r, name) for r in rows):
            seen: dict[str, None] = {}
            for r in rows[:100]:
                seen.update(dict.fromkeys(r))
            near = difflib.get_close_matches(name, list(seen), n=3)
            raise ConfigError(
                f"{where}: no row has the field '{name}'",
                hint=(f"did you mean {', '.join(near)}? " if near else "")
                + f"fields: {', '.join(list(seen)[:30])}",
            )


def _map_row(row: Row, fields: Mapping[str, str]) -> Row:
    if not fields:
        return dict(row)
    out: Row = {task: _lookup(row, src) for task, src in fields.items()}
    consumed = set(fields.values())
    for k, v in row.items():
        if k not in consumed and k not in out:
            out[k] = v
    return out


def _assign_ids(
    spec: DataSpec, rows: Sequence[Row], locs: Sequence[str], where: str
) -> tuple[list[str], str | None]:
    if spec.id_field:
        name = spec.id_field
        # After mapping, a source field that was renamed lives under its task name.
        renamed = [task for task, src in spec.fields.items() if src == name]
        key = name if name in spec.fields else (renamed[0] if renamed else name)
        values = [_lookup(r, key) for r in rows]
        missing = [loc for loc, v in zip(locs, values, strict=True) if _is_missing(v)]
        if missing:
            raise UserError(
                f"{where}: {len(missing)} rows have no id in '{name}': "
                + ", ".join(missing[:_MAX_LISTED])
            )
        ids = [_id_str(v) for v in values]
        _check_unique(ids, locs, where, name)
        return ids, name
    auto = [r.get("id") for r in rows]
    if all(not _is_missing(v) for v in auto):
        ids = [_id_str(v) for v in auto]
        if len(set(ids)) == len(ids):
            return ids, "id"
        log.info("%s: the 'id' field repeats, so ids are row positions", where)
    return [str(i) for i in range(len(rows))], None


def _id_str(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _check_unique(ids: Sequence[str], locs: Sequence[str], where: str, name: str = "id") -> None:
    first: dict[str, str] = {}
    dupes: list[str] = []
    for i, loc in zip(ids, locs, strict=True):
        if i in first:
            dupes.append(f"'{i}' at {first[i]} and {loc}")
        else:
            first[i] = loc
    if dupes:
        raise UserError(
            f"{where}: {len(dupes)} repeated ids in '{name}': " + "; ".join(dupes[:_MAX_LISTED]),
            hint="ids must be unique; leave id_field unset to number rows by position",
        )


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _order_key(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()


def _canonical(row: Mapping[str, Any]) -> str:
    return json.dumps(
        row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


__all__ = [
    "DataSpec",
    "Dataset",
    "Provenance",
    "canonical_split",
    "file_sha256",
    "files_sha256",
    "from_rows",
    "load_rows",
    "missing_fields",
    "package_path",
    "rows_sha256",
    "select",
]
