"""Prompts with images, checked against what a model takes before any work is done.

A backend with the ``images`` capability may also set ``max_images`` (per prompt) and
``max_image_side`` (pixels); images over the side limit are downscaled with a warning, more images
than the limit are refused. A backend without the capability is refused any image, naming it.
"""

from __future__ import annotations

from assay.errors import UnsupportedOperationError
from assay.models.capabilities import capabilities_of
from assay.models.images import ImageError, fit_image
from assay.models.types import Message


def image_count(prompt: str | tuple[Message, ...]) -> int:
    return 0 if isinstance(prompt, str) else sum(len(m.images) for m in prompt)


def check_images(
    prompt: str | tuple[Message, ...], backend: object, address: str
) -> str | tuple[Message, ...]:
    """``prompt`` with its images fitted to the backend's limits; refused when it takes none."""
    n = image_count(prompt)
    if n == 0 or isinstance(prompt, str):
        return prompt
    if not capabilities_of(backend).images:
        raise UnsupportedOperationError(
            f"{address} is a text-only model: it lacks the 'images' capability",
            hint="use a vision-language model (an hf: folder with a vision config, or an "
            "openai: model that accepts images)",
        )
    limit = getattr(backend, "max_images", None)
    if limit is not None and n > limit:
        raise ImageError(
            f"{n} images in one prompt, but {address} accepts at most {limit}",
            hint="send fewer images per prompt",
        )
    side = getattr(backend, "max_image_side", None)
    if side is None:
        return prompt
    return tuple(
        m.model_copy(update={"images": tuple(fit_image(i, side) for i in m.images)})
        if m.images
        else m
        for m in prompt
    )


__all__ = ["check_images", "image_count"]
