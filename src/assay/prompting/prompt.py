"""Turn text or a rendered chat into what is sent to the model, applying ``system`` and ``raw``.

- Text becomes a chat ``[system?, user]`` (stripped of surrounding whitespace); the backend applies the model's chat template (or the
  plain ``Role: content`` format for models without one).
- ``raw=True`` sends text exactly as given, with no chat template. A rendered template can be sent
  raw only when it is a single user turn.
- ``system`` replaces any system turn a chat already has, as its first turn.
"""

from __future__ import annotations

from collections.abc import Sequence

from assay.errors import UserError
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


def prompt_json(prompt: str | Sequence[Message]) -> str | list[dict[str, str]]:
    """A prompt as plain JSON data (text, or a list of ``{role, content}``)."""
    if isinstance(prompt, str):
        return prompt
    return [m.model_dump() for m in prompt]


__all__ = ["make_prompt", "prompt_json"]
