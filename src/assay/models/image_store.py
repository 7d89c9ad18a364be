"""Images kept in the workspace, by content: ``<workspace>/images/<sha256>.png|jpg``.

What refers to an image (a conversation turn, a document's figure) stores its sha256; the bytes
are written once, however many times they are used, and read back as the same
:class:`~assay.models.images.Image`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from assay.models.images import Image, ImageError, load_image

if TYPE_CHECKING:
    from assay.workspace import Workspace

_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg"}


def image_folder(ws: Workspace) -> Path:
    return ws.root / "images"


def save_image(ws: Workspace, image: Image) -> str:
    """Keep ``image`` in the workspace (once); returns its sha256."""
    folder = image_folder(ws)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{image.sha256}{_SUFFIX[image.media_type]}"
    if not path.exists():
        # Written aside and renamed: an interrupted write leaves no half image under the name.
        part = path.with_suffix(path.suffix + ".part")
        part.write_bytes(image.data)
        os.replace(part, path)
    return image.sha256


def stored_image(ws: Workspace, sha256: str) -> Image:
    """The image kept under ``sha256``."""
    for suffix in _SUFFIX.values():
        path = image_folder(ws) / f"{sha256}{suffix}"
        if path.is_file():
            return load_image(path)
    raise ImageError(
        f"image {sha256[:12]} is missing from {image_folder(ws)}",
        hint="the workspace's images folder was moved or cleaned",
    )


def stored_path(ws: Workspace, sha256: str) -> Path | None:
    for suffix in _SUFFIX.values():
        path = image_folder(ws) / f"{sha256}{suffix}"
        if path.is_file():
            return path
    return None


__all__ = ["image_folder", "save_image", "stored_image", "stored_path"]
