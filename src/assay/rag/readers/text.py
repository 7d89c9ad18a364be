"""Plain text, Markdown and HTML → :class:`ParsedDocument`.

Bytes are decoded as UTF-8 (or UTF-16/32 with a byte-order mark); anything else goes to
``charset-normalizer`` when it is installed, else Windows-1252. A file with NUL bytes or many
control characters is refused as binary, whatever its name.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from assay.rag.document import Heading, ParsedDocument
from assay.rag.errors import DocumentError
from assay.rag.readers.pdf import DOI_RE


def _words(text: str) -> list[str]:
    return text.split()


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")


def decode_bytes(data: bytes, name: str) -> tuple[str, str]:
    """Text and the encoding it was decoded from; :class:`DocumentError` for binary data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    if b"\x00" in data[:65536]:
        raise DocumentError(f"{name}: looks like a binary file, not text (it contains NUL bytes)")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = _decode_guess(data)
    sample = text[:65536]
    if sample and len(_CONTROL.findall(sample)) / len(sample) > 0.01:
        raise DocumentError(f"{name}: looks like a binary file, not text (many control characters)")
    return text, encoding


# Single-byte Latin code pages that detectors confuse with each other on short texts; when the
# detector lands on one of them and Windows-1252 decodes the bytes cleanly, 1252 is the likelier.
_LATIN_FAMILY = frozenset(
    _words(
        "cp1250 cp1252 cp1254 cp1257 latin_1 iso8859_2 iso8859_4 iso8859_9 iso8859_10 iso8859_13 "
        "iso8859_14 iso8859_15 iso8859_16 mac_roman mac_latin2 cp850 cp437 cp858"
    )
)


def _detect(data: bytes) -> Any:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional: without it, Windows-1252 then Latin-1
        return None
    return from_bytes(data).best()


def _decode_guess(data: bytes) -> tuple[str, str]:
    try:
        cp1252: str | None = data.decode("cp1252")
    except UnicodeDecodeError:
        cp1252 = None
    best = _detect(data)
    if best is not None and best.encoding:
        if cp1252 is not None and best.encoding in _LATIN_FAMILY:
            return cp1252, "cp1252"
        return str(best), best.encoding
    if cp1252 is not None:
        return cp1252, "cp1252"
    return data.decode("latin-1"), "latin-1"


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")


def read_text(path: Path, data: bytes) -> ParsedDocument:
    text, encoding = decode_bytes(data, path.name)
    text = _normalise_newlines(text)
    doc = ParsedDocument(text=text, kind="text", meta={"encoding": encoding})
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if first and len(first) <= 120 and not first.endswith((".", ",", ";")):
        doc.title = first
    m = DOI_RE.search(text[:5000])
    doc.doi = m.group(1).rstrip(".)]") if m else None
    if encoding not in ("utf-8", "utf-8-sig"):
        doc.notes.append(f"decoded as {encoding}")
    return doc


# -- Markdown --------------------------------------------------------------------------------------

_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_SETEXT = re.compile(r"^(?P<title>[^\n]+)\n(?:=+|-+)[ \t]*$", re.M)
_FENCE = re.compile(r"^(```|~~~)")
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n(?:---|\.\.\.)\n", re.S)


def read_markdown(path: Path, data: bytes) -> ParsedDocument:
    """Markdown is kept as written (offsets point into the file); headings become sections."""
    text, encoding = decode_bytes(data, path.name)
    text = _normalise_newlines(text)
    headings: list[Heading] = []
    in_fence = False
    offset = 0
    fenced: list[tuple[int, int]] = []
    fence_start = 0
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            if in_fence:
                fenced.append((fence_start, offset + len(line)))
            else:
                fence_start = offset
            in_fence = not in_fence
        offset += len(line)

    def in_code(pos: int) -> bool:
        return any(a <= pos < b for a, b in fenced)

    for m in _ATX.finditer(text):
        if not in_code(m.start()):
            headings.append(Heading(m.start(), m.group(2).strip()))
    front = _FRONT_MATTER.match(text)
    body_start = front.end() if front else 0
    for m in _SETEXT.finditer(text):
        title = m.group("title").strip()
        if (
            m.start() >= body_start
            and not in_code(m.start())
            and title
            and not title.startswith(("#", "-", "*", "|"))
        ):
            headings.append(Heading(m.start(), title))
    headings.sort(key=lambda h: h.start)
    title = None
    if front:
        t = re.search(r"^title:\s*['\"]?(.+?)['\"]?\s*$", front.group(1), re.M)
        title = t.group(1) if t else None
    if title is None:
        h1 = next((m for m in _ATX.finditer(text) if len(m.group(1)) == 1), None)
        title = h1.group(2).strip() if h1 else (headings[0].title if headings else None)
    doi_m = DOI_RE.search(text[:5000])
    doc = ParsedDocument(
        text=text,
        kind="markdown",
        title=title,
        doi=doi_m.group(1).rstrip(".)]") if doi_m else None,
        headings=headings,
        meta={"encoding": encoding},
    )
    if encoding not in ("utf-8", "utf-8-sig"):
        doc.notes.append(f"decoded as {encoding}")
    return doc


# -- HTML ------------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    _words(
        "address article aside blockquote dd details div dl dt fieldset figcaption figure footer form "
        "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody thead tfoot tr "
        "ul caption"
    )
)
_SKIP_TAGS = frozenset(_words("script style noscript template svg head iframe object canvas"))
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.skip = 0
        self.pre = 0
        self.headings: list[Heading] = []
        self.heading_start: int | None = None
        self.title = ""
        self.in_title = False
        self.meta: dict[str, list[str]] = {}

    def _emit(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def _break(self, paragraph: bool = True) -> None:
        if not self.parts:
            return
        while self.parts and self.parts[-1].endswith(" "):
            last = self.parts.pop()
            self.length -= len(last)
            if last.rstrip(" "):
                self._emit(last.rstrip(" "))
                break
        have = 0
        for part in reversed(self.parts):
            stripped = part.rstrip("\n")
            have += len(part) - len(stripped)
            if stripped:
                break
        want = 2 if paragraph else 1
        if self.parts and have < want:
            self._emit("\n" * (want - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            d = {k.lower(): (v or "") for k, v in attrs}
            key = (d.get("name") or d.get("property") or "").lower()
            if key and d.get("content"):
                self.meta.setdefault(key, []).append(d["content"].strip())
            return
        if tag == "title":
            self.in_title = True
        if tag in _SKIP_TAGS:
            self.skip += 1
            return
        if tag == "pre":
            self.pre += 1
        if tag == "br":
            self._break(paragraph=False)
        elif tag in _BLOCK_TAGS:
            self._break()
        if tag in _HEADINGS:
            self.heading_start = self.length

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _HEADINGS and self.heading_start is not None:
            title = "".join(self.parts)[self.heading_start :].strip()
            if title:
                self.headings.append(Heading(self.heading_start, title))
            self.heading_start = None
        if tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
            return
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
            tail = self.parts[-1] if self.parts else ""
            if not tail or tail.endswith((" ", "\n")):
                data = data.lstrip(" ")
        if data:
            self._emit(data)


_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)


def read_html(path: Path, data: bytes) -> ParsedDocument:
    declared = _CHARSET.search(data[:4096])
    if declared and not data.startswith(
        (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        try:
            text, encoding = data.decode(declared.group(1).decode()), declared.group(1).decode()
        except (LookupError, UnicodeDecodeError):
            text, encoding = decode_bytes(data, path.name)
    else:
        text, encoding = decode_bytes(data, path.name)
    parser = _HTMLText()
    parser.feed(_normalise_newlines(text))
    parser.close()
    body = "".join(parser.parts)
    stripped = body.rstrip()
    lead = len(body) - len(body.lstrip())
    body = stripped[lead:]
    headings = [Heading(h.start - lead, h.title) for h in parser.headings if h.start >= lead]
    meta = parser.meta

    def first(*keys: str) -> str | None:
        for k in keys:
            if meta.get(k):
                return meta[k][0]
        return None

    title = first("citation_title", "dc.title", "og:title") or parser.title.strip() or None
    if title is None and headings:
        title = headings[0].title
    authors = meta.get("citation_author") or meta.get("dc.creator") or []
    doi = first("citation_doi", "dc.identifier")
    if doi:
        m = DOI_RE.search(doi)
        doi = m.group(1) if m else None
    if doi is None:
        m = DOI_RE.search(body[:5000])
        doi = m.group(1).rstrip(".)]") if m else None
    doc = ParsedDocument(
        text=body,
        kind="html",
        title=title,
        authors=list(authors),
        doi=doi,
        headings=headings,
        meta={"encoding": encoding},
    )
    return doc


__all__ = ["decode_bytes", "read_html", "read_markdown", "read_text"]
