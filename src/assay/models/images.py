"""Images as model input: read, checked and normalised once, before any model sees them.

An :class:`Image` holds the encoded bytes (PNG, or JPEG when the file was one) and what identifies
it: its sha256, size and media type. Only the identity goes into dumps, so a cache key depends
on the pixels and not on the path they came from, and the call log stays small.

:func:`load_image` takes a path or raw bytes and refuses what no model can read with one line
naming the file: a missing or empty file, bytes Pillow cannot decode, an SVG (vector graphics
would need a renderer). A PDF is rendered page one (pypdfium2), which is what a figure saved as a
PDF means. An image larger than :data:`MAX_SIDE` on a side is downscaled with a warning; a model
may ask for less (:func:`fit_image`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assay.errors import AssayWarning, UserError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

MAX_SIDE = 4096
"""Longest side kept when an image is read; larger ones are downscaled (with a warning)."""
MAX_PIXELS = 200_000_000
"""Pixels above which a file is refused unread (a decompression bomb, not a figure)."""
PDF_DPI = 144
"""Resolution a PDF's first page is rendered at."""

Detail = Literal["auto", "low", "high"]
"""How closely an API model looks at an image (OpenAI's ``detail``); local models ignore it."""


class ImageError(UserError):
    """An image that cannot be used: missing, empty, corrupt, of an unsupported kind, too many."""


class Image(BaseModel):
    """One image, ready for a model. Build it with :func:`load_image` (or pass a path or bytes
    where a :class:`~assay.models.types.Message` takes images)."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(exclude=True, repr=False)
    media_type: Literal["image/png", "image/jpeg"]
    width: int
    height: int
    sha256: str
    detail: Detail = "auto"
    source: str = Field(default="", exclude=True)
    """Where it came from (a path, or ``bytes``), for messages; not part of its identity."""

    def to_pil(self) -> PILImage:
        from PIL import Image as PILModule

        with PILModule.open(io.BytesIO(self.data)) as im:
            return im.convert("RGB")

    def data_url(self) -> str:
        """The image as a ``data:`` URL (what OpenAI-compatible APIs take in ``image_url``)."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def thumbnail_url(self, side: int = 96) -> str:
        """A small JPEG of the image as a ``data:`` URL (for reports that stand alone)."""
        im = self.to_pil()
        im.thumbnail((side, side))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80)
        return f"data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"

    def with_detail(self, detail: Detail) -> Image:
        return self.model_copy(update={"detail": detail})

    @property
    def label(self) -> str:
        return self.source or f"image {self.sha256[:12]}"


def load_image(
    source: str | Path | bytes | Image,
    *,
    detail: Detail | None = None,
    max_side: int = MAX_SIDE,
) -> Image:
    """Read ``source`` (a path, raw bytes, a ``data:`` URL or an :class:`Image`) and check it.
    ``detail`` None keeps an :class:`Image`'s own (``auto`` for new ones)."""
    if isinstance(source, Image):
        image = source if detail is None else source.with_detail(detail)
        return fit_image(image, max_side)
    detail = detail or "auto"
    if isinstance(source, bytes | bytearray):
        return _decode(bytes(source), "image bytes", detail, max_side)
    text = str(source)
    if text.startswith("data:"):
        return _decode(decode_data_url(text), "data URL", detail, max_side)
    path = Path(text).expanduser()
    if not path.exists():
        raise ImageError(f"{path}: no such image file", hint="check the path")
    if not path.is_file():
        raise ImageError(f"{path}: not a file", hint="give an image file (PNG, JPEG, ...)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return _decode(data, str(path), detail, max_side)


def decode_data_url(url: str) -> bytes:
    """The bytes of a base64 ``data:`` URL; anything else is refused."""
    head, _, payload = url.partition(",")
    if not head.startswith("data:") or ";base64" not in head or not payload:
        raise ImageError(
            "an image URL must be a base64 data URL (data:image/png;base64,...)",
            hint="images are not fetched from the network; embed the bytes",
        )
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError:
        raise ImageError("the image data URL is not valid base64") from None


def fit_image(image: Image, max_side: int) -> Image:
    """``image`` downscaled (aspect kept) so neither side exceeds ``max_side``, with a warning."""
    if max(image.width, image.height) <= max_side:
        return image
    im = image.to_pil()
    return _normalised(im, image.label, image.detail, max_side, image.media_type)


def _decode(data: bytes, where: str, detail: Detail, max_side: int) -> Image:
    if not data:
        raise ImageError(f"{where}: the file is empty (0 bytes)", hint="give a PNG or JPEG image")
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF"):
        return _from_pdf(data, where, detail, max_side)
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096]):
        raise ImageError(
            f"{where}: an SVG (vector graphics) cannot be given to a model as an image",
            hint="export it as PNG first, e.g. with Inkscape or a browser",
        )
    from PIL import Image as PILModule
    from PIL import UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILModule.DecompressionBombWarning)
            with PILModule.open(io.BytesIO(data)) as im:
                fmt = im.format or ""
                if im.width * im.height > MAX_PIXELS:
                    raise ImageError(
                        f"{where}: {im.width}x{im.height} pixels is too large to read",
                        hint=f"downscale it below {MAX_PIXELS:,} pixels first",
                    )
                im.load()
                rgb = im.convert("RGB")
    except UnidentifiedImageError:
        raise ImageError(
            f"{where}: not an image Pillow can read (corrupt, or an unsupported format)",
            hint="give a PNG, JPEG, GIF, WebP, BMP or TIFF image",
        ) from None
    except (OSError, SyntaxError, ValueError, PILModule.DecompressionBombWarning) as exc:
        raise ImageError(f"{where}: the image is damaged: {exc}") from None
    keep_jpeg = fmt == "JPEG"
    if keep_jpeg and max(rgb.width, rgb.height) <= max_side:
        # A JPEG is kept byte for byte: re-encoding would lose quality for nothing.
        return Image(
            data=data,
            media_type="image/jpeg",
            width=rgb.width,
            height=rgb.height,
            sha256=hashlib.sha256(data).hexdigest(),
            detail=detail,
            source=where,
        )
    return _normalised(rgb, where, detail, max_side, "image/jpeg" if keep_jpeg else "image/png")


def _from_pdf(data: bytes, where: str, detail: Detail, max_side: int) -> Image:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ImageError(f"{where}: a PDF that cannot be opened: {exc}") from None
    try:
        if len(pdf) == 0:
            raise ImageError(f"{where}: the PDF has no pages")
        if len(pdf) > 1:
            warnings.warn(
                f"{where}: a PDF of {len(pdf)} pages; only page 1 is used as the image",
                AssayWarning,
                stacklevel=3,
            )
        page = pdf[0]
        rgb = page.render(scale=PDF_DPI / 72).to_pil().convert("RGB")
    finally:
        pdf.close()
    return _normalised(rgb, where, detail, max_side, "image/png")


def _normalised(im: PILImage, where: str, detail: Detail, max_side: int, media_type: str) -> Image:
    if max(im.width, im.height) > max_side:
        before = f"{im.width}x{im.height}"
        im = im.copy()
        im.thumbnail((max_side, max_side))
        warnings.warn(
            f"{where}: {before} image downscaled to {im.width}x{im.height} "
            f"(at most {max_side} pixels a side)",
            AssayWarning,
            stacklevel=3,
        )
    buf = io.BytesIO()
    if media_type == "image/jpeg":
        im.save(buf, format="JPEG", quality=92)
    else:
        im.save(buf, format="PNG")
    data = buf.getvalue()
    return Image(
        data=data,
        media_type="image/jpeg" if media_type == "image/jpeg" else "image/png",
        width=im.width,
        height=im.height,
        sha256=hashlib.sha256(data).hexdigest(),
        detail=detail,
        source=where,
    )


def as_images(value: Any) -> tuple[Image, ...]:
    """What a message's ``images`` accepts: one or several paths, bytes, data URLs or images."""
    if value is None:
        return ()
    if isinstance(value, str | Path | bytes | bytearray | Image):
        value = [value]
    return tuple(load_image(v) for v in value)


__all__ = [
    "MAX_SIDE",
    "Detail",
    "Image",
    "ImageError",
    "as_images",
    "decode_data_url",
    "fit_image",
    "load_image",
]
