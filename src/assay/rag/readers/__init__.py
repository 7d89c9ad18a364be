"""Readers turn one file into a :class:`~assay.rag.document.ParsedDocument`, or refuse it with a
:class:`~assay.rag.errors.DocumentError` whose message is one line naming the file and the reason."""

from __future__ import annotations

from pathlib import Path

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


def kind_of(path: Path) -> str | None:
    return KINDS.get(path.suffix.lower())


def check_supported(path: Path) -> str:
    """The reader kind for ``path``, or :class:`DocumentError` naming the supported types."""
    kind = kind_of(path)
    if kind is None:
        supported = ", ".join(sorted(KINDS))
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
    if kind == "pdf":
        if b"%PDF" not in data[:1024]:
            raise DocumentError(f"{path.name}: not a PDF (no %PDF header)")
        from assay.rag.readers.pdf import read_pdf

        return read_pdf(path, data, vocabulary=vocabulary)
    from assay.rag.readers import text

    if kind == "markdown":
        return text.read_markdown(path, data)
    if kind == "html":
        return text.read_html(path, data)
    return text.read_text(path, data)


__all__ = ["DEFAULT_MAX_MB", "KINDS", "check_size", "check_supported", "kind_of", "read_document"]
