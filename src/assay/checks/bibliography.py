"""The references a model's references are checked against: a BibTeX file, a CSL-JSON file, or
the documents of a collection (their titles, authors and DOIs read at ``assay docs add``).

BibTeX is read with bibtexparser (LaTeX accents decoded, braces removed, names split into
parts); an entry that does not parse is refused with its line and the field where it broke.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assay.checks.references import clean_doi, family_names
from assay.errors import UserError

YEAR_IN = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


@dataclass
class BibEntry:
    """One known work: what a written reference is matched against."""

    key: str
    title: str | None
    authors: list[str] = field(default_factory=list)  # family names, first author first
    year: int | None = None
    doi: str | None = None
    venue: str | None = None
    source: str = ""  # "refs.bib:12", "refs.json item 3", "collection lab: paper.pdf"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _year(value: Any) -> int | None:
    m = YEAR_IN.search(str(value)) if value not in (None, "") else None
    return int(m.group(1)) if m else None


# -- BibTeX -------------------------------------------------------------------------------------


def _broken_field(raw: str) -> tuple[str, int] | None:
    """The field whose value was open when parsing stopped: the last ``name =`` at the entry's
    own level (one inside an unclosed value is text of that value, not a field), and the
    line of the block it is on (0 for the first)."""
    depth, quoted = 0, False
    last: tuple[str, int] | None = None
    for i, ch in enumerate(raw):
        if ch == '"' and depth == 1 and raw[i - 1 : i] != "\\":
            quoted = not quoted
        elif ch == "{" and not quoted:
            depth += 1
        elif ch == "}" and not quoted:
            depth -= 1
        elif ch == "=" and depth == 1 and not quoted:
            name = re.search(r"([A-Za-z][\w-]*)\s*$", raw[:i])
            if name:
                last = (name.group(1).lower(), raw.count("\n", 0, i))
    return last


def _failed_block_error(path: Path, block: Any) -> UserError:
    raw = str(getattr(block, "raw", ""))
    head = re.match(r"\s*@(\w+)\s*[{(]\s*([^,\s]*)", raw)
    what = f"the @{head.group(1)} entry '{head.group(2)}'" if head else "an entry"
    line = int(getattr(block, "start_line", 0)) + 1
    error = getattr(block, "error", None)
    reason = str(getattr(error, "abort_reason", "") or error or "").strip()
    if "Duplicate field keys" in reason:
        dup = re.search(r"'([^']+)'", reason)
        return UserError(
            f"{path}:{line}: {what} has the field '{dup.group(1) if dup else '?'}' twice",
            hint="keep one of them",
        )
    broken = _broken_field(raw)
    where = ""
    if broken:
        where = f" in field '{broken[0]}'"
        line += broken[1]
    detail = reason.splitlines()[-1].strip() if reason else "syntax error"
    return UserError(
        f"{path}:{line}: {what} does not parse{where}: {detail}",
        hint='close every { and " of the field values, and separate fields with commas',
    )


def _bib_names(value: Any) -> list[str]:
    names = []
    for person in value if isinstance(value, list) else [value]:
        last = getattr(person, "last", None)
        if last:
            names.append(" ".join(str(x) for x in last).strip("{} "))
        elif str(person).strip():
            names += family_names(str(person))
    return [n for n in names if n]


def read_bibtex(path: Path) -> list[BibEntry]:
    import bibtexparser
    from bibtexparser.middlewares import (
        LatexDecodingMiddleware,
        SeparateCoAuthors,
        SplitNameParts,
    )

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    # bibtexparser logs each broken block as well; the error below says it once, with its line.
    logger = logging.getLogger("bibtexparser")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        library = bibtexparser.parse_string(
            text,
            append_middleware=[LatexDecodingMiddleware(), SeparateCoAuthors(), SplitNameParts()],
        )
    finally:
        logger.setLevel(level)
    if library.failed_blocks:
        raise _failed_block_error(path, library.failed_blocks[0])
    entries = []
    for e in library.entries:
        fields = {k.lower(): v.value for k, v in e.fields_dict.items()}
        line = (e.start_line or 0) + 1
        title = str(fields.get("title") or "").replace("{", "").replace("}", "").strip() or None
        doi = clean_doi(str(fields["doi"])) if fields.get("doi") else None
        if title is None and doi is None:
            raise UserError(
                f"{path}:{line}: the @{e.entry_type} entry '{e.key}' has no field 'title' "
                "(nor 'doi')",
                hint="a reference is matched by its title or DOI; add one",
            )
        venue = next(
            (
                fields[k]
                for k in ("journal", "booktitle", "publisher", "howpublished")
                if k in fields
            ),
            None,
        )
        entries.append(
            BibEntry(
                key=e.key,
                title=title,
                authors=_bib_names(fields.get("author") or fields.get("editor") or []),
                year=_year(fields.get("year") or fields.get("date")),
                doi=doi,
                venue=str(venue).strip("{} ") if venue else None,
                source=f"{path.name}:{line}",
            )
        )
    if not entries:
        raise UserError(f"{path}: no BibTeX entries", hint="entries start with @article{KEY, ...")
    return entries


# -- CSL-JSON -----------------------------------------------------------------------------------


def _csl_names(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError(f"{where}: field 'author' is not a list of names")
    names = []
    for person in value:
        if isinstance(person, dict) and (person.get("family") or person.get("literal")):
            names.append(str(person.get("family") or person.get("literal")))
        elif isinstance(person, str):
            names += family_names(person)
        else:
            raise UserError(
                f"{where}: field 'author' has an entry without 'family' or 'literal' name"
            )
    return names


def _csl_year(item: dict[str, Any]) -> int | None:
    issued = item.get("issued")
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            return _year(parts[0][0])
        return _year(issued.get("raw") or issued.get("literal"))
    return _year(issued or item.get("year"))


def _text(value: Any) -> str | None:
    if isinstance(value, list):  # CSL allows a list for container-title
        value = value[0] if value else None
    return str(value).strip() or None if value not in (None, "") else None


def read_csl_json(path: Path) -> list[BibEntry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise UserError(f"{path}: CSL-JSON is a list of items", hint='e.g. [{"title": ...}]')
    entries = []
    for i, item in enumerate(data, start=1):
        where = f"{path} item {i}"
        if not isinstance(item, dict):
            raise UserError(f"{where}: not an object")
        title = _text(item.get("title"))
        doi_raw = item.get("DOI") or item.get("doi")
        if title is None and not doi_raw:
            raise UserError(f"{where}: no field 'title' (nor 'DOI')", hint="add the work's title")
        entries.append(
            BibEntry(
                key=str(item.get("id", i)),
                title=title,
                authors=_csl_names(item.get("author") or item.get("editor"), where),
                year=_csl_year(item),
                doi=clean_doi(str(doi_raw)) if doi_raw else None,
                venue=_text(item.get("container-title") or item.get("publisher")),
                source=f"{path.name} item {i}",
            )
        )
    if not entries:
        raise UserError(f"{path}: no items")
    return entries


# -- a collection -------------------------------------------------------------------------------


def read_collection(name: str, workspace: Any = None) -> list[BibEntry]:
    """The documents of collection ``name`` as known works (title, authors, DOI)."""
    from assay.rag.collection import Collection
    from assay.workspace import Workspace

    docs = Collection(workspace or Workspace.find(), name).documents()
    entries = []
    for d in docs:
        if not d.title and not d.doi:
            continue
        year = _year(d.meta.get("year")) if d.meta else None
        entries.append(
            BibEntry(
                key=str(d.id),
                title=d.title,
                authors=[n for a in d.authors for n in family_names(a)[:1]],
                year=year,
                doi=clean_doi(d.doi) if d.doi else None,
                source=f"collection {name}: {d.name}",
            )
        )
    if not entries:
        raise UserError(
            f"collection '{name}' has no document with a title or DOI to match references against",
            hint=f"see `assay docs list -c {name}`",
        )
    return entries


def load_bibliography(
    path: str | Path | None = None, *, collection: str | None = None, workspace: Any = None
) -> list[BibEntry]:
    """Known works from a ``.bib`` or CSL-JSON file, or from a collection's documents."""
    if (path is None) == (collection is None):
        raise UserError(
            "give a bibliography file or a collection, not both or neither",
            hint="--bib REFS.bib, --bib refs.json or -c COLLECTION",
        )
    if collection is not None:
        return read_collection(collection, workspace)
    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise UserError(f"{file}: no such bibliography file")
    if file.suffix.lower() == ".bib":
        return read_bibtex(file)
    if file.suffix.lower() == ".json":
        return read_csl_json(file)
    raise UserError(f"{file}: a bibliography is a .bib (BibTeX) or .json (CSL-JSON) file")


__all__ = ["BibEntry", "load_bibliography", "read_bibtex", "read_collection", "read_csl_json"]
