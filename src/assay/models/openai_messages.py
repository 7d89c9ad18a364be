"""Chat turns as OpenAI-compatible ``messages``, images as content parts.

A turn without images keeps ``content`` a plain string (what every server takes). A turn with
images becomes a list of content parts: its text first, then one ``image_url`` part per image with
the bytes inline as a base64 ``data:`` URL and the image's ``detail`` level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.models.types import Message


def api_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [api_message(m) for m in messages]


def api_message(m: Message) -> dict[str, Any]:
    if not m.images:
        return {"role": m.role, "content": m.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
    parts += [
        {"type": "image_url", "image_url": {"url": image.data_url(), "detail": image.detail}}
        for image in m.images
    ]
    return {"role": m.role, "content": parts}


def image_tokens(usage: Any) -> int:
    """Prompt tokens the images took, where the provider reports them
    (``usage.prompt_tokens_details.image_tokens``); 0 otherwise."""
    details = getattr(usage, "prompt_tokens_details", None)
    if details is None:
        return 0
    value = getattr(details, "image_tokens", None)
    if value is None and isinstance(getattr(details, "model_extra", None), dict):
        value = details.model_extra.get("image_tokens")
    return value if isinstance(value, int) and value > 0 else 0


__all__ = ["api_message", "api_messages", "image_tokens"]
