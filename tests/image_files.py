"""Small image files for the image tests: real PNG/JPEG/PDF bytes, and broken ones."""

from __future__ import annotations

import io
from pathlib import Path


def write_png(
    path: Path, size: tuple[int, int] = (40, 30), colour: tuple[int, int, int] = (200, 30, 30)
) -> Path:
    from PIL import Image

    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


def write_jpeg(path: Path, size: tuple[int, int] = (48, 36)) -> Path:
    from PIL import Image

    Image.new("RGB", size, (20, 120, 220)).save(path, format="JPEG")
    return path


def pdf_bytes(pages: int = 1) -> bytes:
    """A PDF of blank A6 pages, written by pdfium."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(298, 420)
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    return buf.getvalue()
