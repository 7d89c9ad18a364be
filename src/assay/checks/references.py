"""The references a model wrote, read out of free text: title, authors, year, DOI, venue.

Models write references in many styles; these are read:

- numbered or bulleted lists (``1.``, ``[1]``, ``(1)``, ``-``, ``*``, ``•``), one reference an
  item, wrapped lines joined;
- APA / Harvard: ``Smith, J., & Doe, A. (2020). Title. *Venue*, 12(3), 45-67.``;
- ACL / natbib: ``Ashish Vaswani, Noam Shazeer, ... 2017. Attention is all you need. In NeurIPS.``;
- IEEE and others with a quoted title: ``A. Author and B. Author, "Title," in Proc. X, 2019.``;
- chat style with a bold title: ``**Attention Is All You Need** by Vaswani et al. (2017)``;
- a bare DOI (``doi:10.1000/xyz``, ``https://doi.org/10.1000/xyz``).

A line counts as a reference when it has a DOI, or a title of at least two words together with
a year or authors; prose such as "Here are some papers:" does not.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from assay.rag.readers.pdf import DOI_RE

LIST_MARK = re.compile(r"^\s*(?:\d{1,3}[.)]|\[\d{1,3}\]|\(\d{1,3}\)|[-*•·–])\s+")
YEAR = r"(?:1[89]\d\d|20\d\d)"
YEAR_RE = re.compile(rf"(?<![\d/.]){YEAR}(?![\d/])")
PAREN_YEAR = re.compile(rf"\(\s*({YEAR})[a-z]?\s*(?:,[^)]*)?\)")
QUOTED = re.compile(r"[\"“”„]([^\"“”„]{6,}?)[,.]?[\"“”]")
BOLD = re.compile(r"\*\*([^*]{4,}?)\*\*|__([^_]{4,}?)__")
ITALIC = re.compile(r"(?<![*\w])\*([^*]{3,}?)\*(?![*\w])|(?<![_\w])_([^_]{3,}?)_(?![_\w])")
URL = re.compile(r"(?:https?://|www\.)\S+")
ETAL = re.compile(r"\bet\s+al\.?,?", re.I)
INITIALS = re.compile(r"^(?:[A-Z][a-z]?\.?[\s-]*){1,3}$")
VOLUME = re.compile(r"\b\d+\s*(?:\(\d+\))?\s*[,:]\s*(?:pp?\.\s*)?\d+\s*[-–]\s*\d+")


@dataclass
class Reference:
    """One reference as the model wrote it (``raw``) and the fields read from it."""

    raw: str
    title: str | None = None
    authors: list[str] = field(default_factory=list)  # family names, first author first
    year: int | None = None
    doi: str | None = None
    venue: str | None = None
    output_id: str = ""
    line: int = 0  # 1-based line of the output where it starts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- text helpers ---------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, accents and punctuation removed, single spaces: for comparing names and titles."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.casefold()).split())


def clean_doi(doi: str) -> str:
    return doi.rstrip(".,;:)]}>\"'*").lower()


def _strip_marks(text: str) -> str:
    """Markdown emphasis and link syntax removed, for the plain-text parsers."""
    text = re.sub(r"\[([^\]]+)\]\((?:[^)]+)\)", r"\1", text)  # [text](url)
    return text.replace("**", "").replace("__", "").replace("*", "").strip()


def _tidy(text: str | None) -> str | None:
    if text is None:
        return None
    text = _strip_marks(text).strip(" \t.,;:\"'“”‘’")
    return text or None


# -- authors --------------------------------------------------------------------------------------


def family_names(authors: str) -> list[str]:
    """Family names from an author string in any of the common styles, first author first."""
    text = _strip_marks(authors)
    text = ETAL.sub(",", text)
    text = re.sub(r"\s*(?:&|\band\b|;)\s*", ",", text)
    parts = [p.strip(" .") for p in text.split(",")]
    parts = [p for p in parts if p and p.lower() not in {"eds", "ed", "others"}]
    names: list[str] = []
    for part in parts:
        if INITIALS.match(part + "."):
            continue  # "J." after "Smith," is the given name of the name before it
        tokens = part.split()
        if not tokens or not any(ch.isalpha() for ch in part):
            continue
        # "Smith J" / "Smith JK" (Vancouver): family name first, initials after
        if len(tokens) > 1 and all(re.fullmatch(r"[A-Z]{1,3}", t) for t in tokens[1:]):
            names.append(tokens[0])
            continue
        # "J. Smith", "Ashish Vaswani", "van der Berg": the last word, with its particles
        family = [tokens[-1]]
        for t in reversed(tokens[:-1]):
            if t.lower() in {"van", "von", "der", "de", "den", "del", "da", "la", "le", "di"}:
                family.insert(0, t)
            else:
                break
        names.append(" ".join(family))
    return [n for n in names if len(n) > 1 and n[0].isalpha()]


def _looks_like_authors(text: str) -> bool:
    text = text.strip()
    if not text or len(text) > 400:
        return False
    if ETAL.search(text):
        return True
    words = [w for w in re.split(r"[\s,&;]+", _strip_marks(text)) if w]
    if not words:
        return False
    capital = sum(1 for w in words if w[0].isupper() or w.lower() in {"and", "van", "de", "der"})
    return capital / len(words) >= 0.8 and ("," in text or len(words) <= 4)


# -- one reference --------------------------------------------------------------------------------


def _years(text: str) -> list[int]:
    return [int(m.group(0)) for m in YEAR_RE.finditer(text)]


def _first_sentence(text: str) -> tuple[str, str]:
    """(the text up to the first sentence end, the rest). A period after an initial or an
    abbreviation such as "vs." does not end a sentence."""
    for m in re.finditer(r"[.?!](?:\s+|$)", text):
        before = text[: m.start()].split()
        last = before[-1] if before else ""
        if m.group(0).startswith(".") and (
            re.fullmatch(r"[A-Z]", last) or last.lower() in {"vs", "e.g", "i.e", "al", "st", "no"}
        ):
            continue
        end = m.start() + (1 if m.group(0)[0] in "?!" else 0)
        return text[:end].strip(), text[m.end() :].strip()
    return text.strip(), ""


def _authors_prefix(text: str) -> tuple[str, str]:
    """("Smith J, Doe A", "Title. Venue.") from "Smith J, Doe A. Title. Venue.": the longest run
    of period-separated pieces that read as names or initials, and the text after it."""
    end = 0
    for m in re.finditer(r"\.(?:\s+|$)", text):
        piece = text[end : m.start()].strip(" .")
        namelike = (
            "," in piece
            or ETAL.search(piece)
            or INITIALS.match(piece + ".")
            or len(piece.split()) <= 2
        )
        if not piece or not namelike or not _looks_like_authors(text[: m.start()]):
            break
        end = m.end()
    return (text[:end].strip(" ."), text[end:].strip()) if end else ("", text)


def _venue_from(rest: str) -> str | None:
    rest = re.sub(r"^(?:in|In|IN)[:\s]+", "", _strip_marks(rest).strip(" .,"))
    rest = URL.sub("", rest)
    rest = re.sub(r"\bdoi:?\s*\S+", "", rest, flags=re.I)
    venue = re.split(
        rf"[,;(]|\s+{YEAR}\b|\s+\d+\s*\(|\.\s+(?=\d|pp|vol|doi|http)", rest, maxsplit=1
    )[0]
    return _tidy(venue) if venue and len(venue) > 1 and not venue.isdigit() else None


def parse_reference(text: str) -> Reference | None:
    """The fields of one reference, or None when ``text`` does not look like one."""
    raw = " ".join(text.split())
    body = LIST_MARK.sub("", raw)
    m = DOI_RE.search(body)
    doi = clean_doi(m.group(1)) if m else None
    no_url = URL.sub(" ", body) if doi is None else body.replace(m.group(0), " ") if m else body
    no_url = URL.sub(" ", re.sub(r"\bdoi:\s*", " ", no_url, flags=re.I))
    ref = Reference(raw=raw, doi=doi)

    if (q := QUOTED.search(no_url)) is not None:
        ref.title = q.group(1)
        before, after = no_url[: q.start()], no_url[q.end() :]
        before_year = PAREN_YEAR.search(before)
        ref.authors = family_names(PAREN_YEAR.sub("", before)) if before.strip() else []
        ref.venue = _venue_from(after)
        years = _years(after) or ([int(before_year.group(1))] if before_year else _years(before))
        ref.year = years[0] if years else None
        if not ref.authors and (by := re.search(r"\bby\s+(.+?)(?:\(|,|\.|$)", after)):
            ref.authors = family_names(by.group(1))
    elif (b := BOLD.search(no_url)) is not None:
        ref.title = b.group(1) or b.group(2)
        before, after = no_url[: b.start()], no_url[b.end() :]
        by = re.search(r"\bby\s+(.+?)(?:\(|\s[-–—]\s|,\s+(?:in|published)|\.\s|$)", after)
        if by:
            ref.authors = family_names(by.group(1))
        elif _looks_like_authors(PAREN_YEAR.sub("", before).strip(" .,:-–—")):
            ref.authors = family_names(PAREN_YEAR.sub("", before))
        years = _years(after) or _years(before)
        ref.year = years[0] if years else None
        ital = ITALIC.search(after)
        ref.venue = _tidy(ital.group(1) or ital.group(2)) if ital else None
    elif (
        (p := PAREN_YEAR.search(no_url)) is not None
        and _looks_like_authors(no_url[: p.start()])
        # "Smith et al. (2020) showed that ..." is prose citing a work, not a reference
        and re.match(r"\s*(?:[.,:]|[*_\"“A-Z0-9])", no_url[p.end() :]) is not None
    ):
        # APA / Harvard: Authors (Year). Title. Venue, volume(issue), pages.
        ref.authors = family_names(no_url[: p.start()])
        ref.year = int(p.group(1))
        rest = no_url[p.end() :].lstrip(" .,:")
        ital = ITALIC.match(rest)
        if ital:  # a book: its title is in italics
            ref.title = ital.group(1) or ital.group(2)
            ref.venue = _venue_from(rest[ital.end() :])
        else:
            ref.title, rest = _first_sentence(rest)
            ref.venue = _venue_from(rest)
    else:
        plain = _strip_marks(no_url)
        acl = re.match(rf"^(.+?)[.,]?\s+({YEAR})[a-z]?\.\s+(.+)$", plain)
        if acl and _looks_like_authors(acl.group(1)):
            # ACL / natbib: Authors. Year. Title. Venue.
            ref.authors = family_names(acl.group(1))
            ref.year = int(acl.group(2))
            ref.title, rest = _first_sentence(acl.group(3))
            ref.venue = _venue_from(rest)
        else:
            # Authors. Title. Venue, Year.  (MLA, Vancouver and the like)
            authors, rest = _authors_prefix(plain)
            # a title after names starts with a capital, a digit or a quote, never "(2020) showed"
            if authors and re.match(r"[A-Z0-9\"“'‘]", rest):
                ref.authors = family_names(authors)
                ref.title, rest = _first_sentence(rest)
                ref.venue = _venue_from(rest)
            years = _years(plain)
            ref.year = years[-1] if years else None

    ref.title = _tidy(ref.title)
    if ref.title and (len(ref.title.split()) < 2 or VOLUME.fullmatch(ref.title)):
        ref.title = None
    if ref.title and ref.year is not None and ref.title.strip() == str(ref.year):
        ref.title = None
    if ref.doi is None and not (ref.title and (ref.year is not None or ref.authors)):
        return None
    return ref


# -- many references in one output ----------------------------------------------------------------


def _candidates(text: str) -> list[tuple[int, str]]:
    """(line, text) of each stretch that may hold one reference: list items, with their wrapped
    lines joined; outside lists, single lines."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    in_item = False
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if current:
                out.append((start, " ".join(current)))
            current, in_item = [], False
            continue
        is_item = bool(LIST_MARK.match(line))
        indented_item = is_item and line[: len(line) - len(line.lstrip())] != ""
        if is_item and not (indented_item and in_item):
            if current:
                out.append((start, " ".join(current)))
            current, start, in_item = [line.strip()], no, True
        elif in_item and not is_item and line.startswith((" ", "\t")):
            current.append(line.strip())  # a wrapped line of the same item
        elif in_item and indented_item:
            out.append((start, " ".join(current)))  # a sub-bullet (a summary, a note): not it
            current, in_item = [], False
        else:
            if current:
                out.append((start, " ".join(current)))
            current, start, in_item = [line.strip()], no, False
            out.append((start, " ".join(current)))
            current = []
    if current:
        out.append((start, " ".join(current)))
    return out


def extract_references(text: str, output_id: str = "") -> list[Reference]:
    """Every reference in one model output, in order."""
    refs = []
    for line, candidate in _candidates(text):
        ref = parse_reference(candidate)
        if ref is not None:
            ref.output_id = output_id
            ref.line = line
            refs.append(ref)
    return refs


__all__ = ["Reference", "extract_references", "family_names", "fold", "parse_reference"]
