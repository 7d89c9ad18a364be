"""Turn text or a rendered chat into what is sent to the model, applying ``system`` and ``raw``.

- Text becomes a chat ``[system?, user]`` (stripped of surrounding whitespace); the backend applies the model's chat template (or the
  plain ``Role: content`` format for models without one).
- ``raw=True`` sends text exactly as given, with no chat template. A rendered template can be sent
  raw only when it is a single user turn.
- ``system`` replaces any system turn a chat already has, as its first turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.errors import UserError
from assay.models.images import Image, ImageError
from assay.models.types import Message


def make_prompt(
    source: str | Sequence[Message], *, system: str | None = None, raw: bool = False
) -> str | list[Message]:
    if raw:
        if system:
            raise UserError(
                "a system prompt needs a chat; raw prompts are sent as plain text",
                hint="drop --raw or --system",
            )
        if isinstance(source, str):
            return source
        chat = list(source)
        if len(chat) != 1 or chat[0].role != "user":
            roles = ", ".join(m.role for m in chat)
            raise UserError(
                f"only a single user turn can be sent raw; this prompt has turns: {roles}",
                hint="drop --raw to send it as a chat",
            )
        return chat[0].content
    if isinstance(source, str):
        # In a chat, surrounding whitespace (a piped prompt's final newline) carries no meaning.
        chat = [Message(role="user", content=source.strip())]
    else:
        chat = list(source)
    if system:
        chat = [Message(role="system", content=system), *[m for m in chat if m.role != "system"]]
    return chat


def with_images(prompt: str | Sequence[Message], images: Sequence[Image]) -> str | list[Message]:
    """``prompt`` with ``images`` shown in its last user turn (after any it already has)."""
    if not images:
        return prompt if isinstance(prompt, str) else list(prompt)
    if isinstance(prompt, str):
        raise ImageError(
            "images go with a chat turn; a raw prompt is plain text", hint="drop --raw"
        )
    chat = list(prompt)
    last = max((i for i, m in enumerate(chat) if m.role == "user"), default=None)
    if last is None:
        raise ImageError("images need a user turn to go with; the prompt has none")
    turn = chat[last]
    chat[last] = turn.model_copy(update={"images": (*turn.images, *images)})
    return chat


def prompt_json(prompt: str | Sequence[Message]) -> str | list[dict[str, Any]]:
    """A prompt as plain JSON data (text, or a list of ``{role, content}``; a turn with images
    lists each one's sha256, size and media type, not its bytes)."""
    if isinstance(prompt, str):
        return prompt
    return [m.model_dump(mode="json") for m in prompt]


__all__ = ["make_prompt", "prompt_json", "with_images"]
