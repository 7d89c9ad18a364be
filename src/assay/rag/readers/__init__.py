"""Readers turn one file into a :class:`~assay.rag.document.ParsedDocument`, or refuse it with a
:class:`~assay.rag.errors.DocumentError` whose message is one line naming the file and the reason.

:data:`READERS` maps a file suffix (without the dot) to its reader, ``read(path, data)``; an
installed plugin adds a file format through the entry-point group ``assay.readers``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.plugins import PluginError, Registry
from assay.rag.document import ParsedDocument
from assay.rag.errors import DocumentError

KINDS: dict[str, str] = {
    ".pdf": "pdf",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
DEFAULT_MAX_MB = 200.0


Reader = Callable[..., ParsedDocument]
"""``read(path, data) -> ParsedDocument``; it raises :class:`DocumentError` for a bad file."""


def _pdf(path: Path, data: bytes, vocabulary: frozenset[str] | None = None) -> ParsedDocument:
    if b"%PDF" not in data[:1024]:
        raise DocumentError(f"{path.name}: not a PDF (no %PDF header)")
    from assay.rag.readers.pdf import read_pdf

    return read_pdf(path, data, vocabulary=vocabulary)


def _text_reader(kind: str) -> Reader:
    def read(path: Path, data: bytes, vocabulary: frozenset[str] | None = None) -> ParsedDocument:
        from assay.rag.readers import text

        reader: Reader = getattr(text, f"read_{kind}")
        return reader(path, data)

    return read


def _as_reader(name: str, obj: Any) -> Reader:
    if not callable(obj):
        raise PluginError(f"{type(obj).__name__} is not a reader: read(path, data)")
    reader: Reader = obj
    return reader


READERS: Registry[Reader] = Registry("reader", group="assay.readers", convert=_as_reader)
"""File suffix without the dot (``pdf``) → its reader; plugins add theirs (``assay.readers``)."""
for _suffix, _kind in KINDS.items():
    READERS.register(
        _suffix[1:],
        _pdf if _kind == "pdf" else _text_reader(_kind),
        target=f"assay.rag.readers.{'pdf' if _kind == 'pdf' else 'text'}:read_{_kind}",
    )


def kind_of(path: Path) -> str | None:
    """The built-in kind (``pdf``, ``markdown``, ...) or a plugin reader's suffix; None if none
    reads it."""
    suffix = path.suffix.lower()
    if suffix in KINDS:
        return KINDS[suffix]
    return suffix[1:] if len(suffix) > 1 and suffix[1:] in READERS else None


def supported_suffixes() -> list[str]:
    return sorted(f".{name}" for name in READERS.names())


def check_supported(path: Path) -> str:
    """The reader kind for ``path``, or :class:`DocumentError` naming the supported types."""
    kind = kind_of(path)
    if kind is None:
        supported = ", ".join(supported_suffixes())
        raise DocumentError(
            f"{path.name}: unsupported file type '{path.suffix or '(none)'}' (supported: {supported})"
        )
    return kind


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{size / 1024:.1f} KB"


def check_size(path: Path, size: int, max_mb: float = DEFAULT_MAX_MB) -> None:
    if size == 0:
        raise DocumentError(f"{path.name}: the file is empty (0 bytes)")
    if size > max_mb * 1024 * 1024:
        raise DocumentError(
            f"{path.name}: {_human(size)} is over the {max_mb:g} MB limit per file",
            hint="raise it with --max-size-mb, or split the file",
        )


def read_document(
    path: Path, data: bytes | None = None, vocabulary: frozenset[str] | None = None
) -> ParsedDocument:
    """Parse ``path`` (whose bytes may be passed in ``data`` to avoid a second read)."""
    kind = check_supported(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DocumentError(f"{path.name}: cannot read the file ({exc.strerror})") from None
    if not data:
        raise DocumentError(f"{path.name}: the file is empty (0 bytes)")
    entry = READERS.find(path.suffix.lower()[1:])
    assert entry is not None, kind  # check_supported found it
    try:
        reader = READERS.load(entry)
    except PluginError as exc:
        raise DocumentError(f"{path.name}: {exc.message}") from None
    if entry.builtin:
        return reader(path, data, vocabulary=vocabulary)
    try:
        parsed = reader(path, data)
    except DocumentError:
        raise
    except Exception as exc:  # a plugin's reader fails its own way; the file is refused in one line
        raise DocumentError(
            f"{path.name}: the {entry.name} reader from {entry.source} failed: "
            f"{type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    if not isinstance(parsed, ParsedDocument):
        raise DocumentError(
            f"{path.name}: the {entry.name} reader from {entry.source} returned "
            f"{type(parsed).__name__}, not a ParsedDocument"
        )
    return parsed


__all__ = [
    "DEFAULT_MAX_MB",
    "KINDS",
    "READERS",
    "Reader",
    "check_size",
    "check_supported",
    "kind_of",
    "read_document",
    "supported_suffixes",
]
