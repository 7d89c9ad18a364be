"""Prompt templates: Jinja2 files that render to a chat (a list of :class:`Message`).

File format
-----------
A template is a Jinja2 file. Lines holding a *role marker* (a Jinja comment) start a new chat
turn; everything up to the next marker is that turn's content::

    {# role: system #}
    You are a careful maths tutor. Answer with a number.
    {# role: user #}
    Question: {{ question }}

Roles are ``system``, ``user``, ``assistant`` and ``tool``; a role may appear any number of
times, so a file can hold a whole conversation, few-shot turns included. Markers may sit inside
loops and conditions, because turns are cut from the *rendered* text::

    {# role: system #}
    Answer the last question.
    {% for ex in examples %}
    {# role: user #}
    {{ ex.input }}
    {# role: assistant #}
    {{ ex.output }}
    {% endfor %}
    {# role: user #}
    {{ question }}

Rules, all of them:

- A file without any marker is one user turn.
- Each turn's content is stripped of leading and trailing whitespace; turns that render empty are
  dropped (so ``{% if system %}{# role: system #}{{ system }}{% endif %}`` is optional).
- Text other than whitespace before the first marker is an error.
- Block tags eat their own line (``trim_blocks`` and ``lstrip_blocks`` are on), so ``{% for %}``
  lines leave no blank lines behind.
- Variables are strict: using one that was not given is an error naming the file, the line and
  the variable. Syntax errors name the file and line too.
- Templates run in Jinja's sandbox, so a shared template cannot reach into Python objects.
- ``{{ image(path) }}`` shows an image with the turn it stands in (a path, relative to the
  current folder, or a base64 ``data:`` URL); over a file of rows, ``{{ image(figure) }}``
  reads each row's ``figure`` column. The image is read and checked when the template renders.

The chat is sent to the model as a chat: the backend applies the model's own chat template (or
the documented plain ``Role: content`` format when the model has none).

Every template carries ``sha256``, the hash of the file's bytes (what ``sha256sum`` prints), and
every output record that used a template stores it, so a result names the exact prompt it came
from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from assay.errors import UserError
from assay.models.images import Image, ImageError, load_image
from assay.models.types import Message

ROLES = ("system", "user", "assistant", "tool")

_MARKER = re.compile(r"\{#-?\s*role\s*:\s*([A-Za-z_]+)\s*-?#\}")
_SENTINEL = "\x1eassay-role:{}\x1e"
_SENTINEL_SPLIT = re.compile("\x1eassay-role:([a-z]+)\x1e")
_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")
# Private-use characters: not whitespace, so stripping a turn keeps them whole.
_IMAGE = "\ue000assay-image:{}\ue001"
_IMAGE_FIND = re.compile("\ue000assay-image:([0-9]+)\ue001")


class TemplateError(UserError):
    """A template that cannot be read, compiled or rendered. The message names file and line."""

    def __init__(self, message: str, hint: str | None = None, line: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.line = line


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def _line_in(tb: TracebackType | None, filename: str) -> int | None:
    """The innermost line of the template in a traceback Jinja rewrote to show template lines."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _where(name: str, line: int | None) -> str:
    return f"{name} line {line}" if line is not None else name


@dataclass(frozen=True)
class PromptTemplate:
    """A compiled prompt template. Build with :meth:`from_file` or :meth:`from_string`."""

    source: str
    name: str = "<template>"
    """How errors name the template: the file path as given, or ``<template>``."""
    sha256: str = ""
    """sha256 of the file's bytes (of the UTF-8 source for templates built from a string)."""
    _template: jinja2.Template = field(init=False, repr=False, compare=False)
    _variables: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.source.encode()).hexdigest())
        env = _environment()
        for match in _MARKER.finditer(self.source):
            if match.group(1) not in ROLES:
                line = self.source.count("\n", 0, match.start()) + 1
                raise TemplateError(
                    f"{_where(self.name, line)}: unknown role '{match.group(1)}' in a role marker",
                    hint=f"roles are: {', '.join(ROLES)}",
                    line=line,
                )
        # Markers become sentinels in the output, on the same line, so line numbers stay true.
        marked = _MARKER.sub(lambda m: _SENTINEL.format(m.group(1)), self.source)
        try:
            code = env.compile(marked, name=self.name, filename=self.name)
            ast = env.parse(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"{_where(self.name, exc.lineno)}: template syntax error: {exc.message}",
                line=exc.lineno,
            ) from None
        template = env.template_class.from_code(env, code, env.make_globals(None), None)
        object.__setattr__(self, "_template", template)
        found = jinja2.meta.find_undeclared_variables(ast)
        object.__setattr__(self, "_variables", frozenset(found - {"image"}))

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> PromptTemplate:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TemplateError(f"cannot read template {path}: {exc.strerror or exc}") from None
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{path}: not UTF-8 text ({exc.reason})") from None
        if "\x00" in source:
            line = source.count("\n", 0, source.index("\x00")) + 1
            raise TemplateError(
                f"{path}:{line}: a NUL byte; this looks like a binary file, not a prompt template"
            )
        source = source.replace("\r\n", "\n")
        return cls(source, name=str(path), sha256=hashlib.sha256(data).hexdigest())

    @classmethod
    def from_string(cls, source: str, name: str = "<template>") -> PromptTemplate:
        return cls(source, name=name)

    # -- use -----------------------------------------------------------------------------------
    @property
    def variables(self) -> frozenset[str]:
        """Names the template reads from its variables (loop and ``set`` names excluded)."""
        return self._variables

    @property
    def has_roles(self) -> bool:
        return bool(_MARKER.search(self.source))

    def render(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> list[Message]:
        """Render to a chat. Raises :class:`TemplateError` naming file, line and variable."""
        images: list[Image] = []

        def image(source: Any) -> str:
            """``{{ image(path) }}``: show the image with the turn it is in."""
            images.append(load_image(source))
            return _IMAGE.format(len(images) - 1)

        values = {"image": image, **(variables or {}), **kwargs}
        try:
            text = self._template.render(values)
        except jinja2.UndefinedError as exc:
            line = _line_in(exc.__traceback__, self.name)
            message = str(exc.message or exc)
            m = _UNDEFINED.match(message)
            what = f"undefined variable '{m.group(1)}'" if m else message
            raise TemplateError(
                f"{_where(self.name, line)}: {what}",
                hint=f"the template uses: {', '.join(sorted(self._variables)) or 'no variables'}",
                line=line,
            ) from None
        except jinja2.TemplateError as exc:
            line = _line_in(exc.__traceback__, self.name)
            raise TemplateError(f"{_where(self.name, line)}: {exc}", line=line) from None
        except ImageError as exc:  # from image(path)
            line = _line_in(exc.__traceback__, self.name)
            raise TemplateError(
                f"{_where(self.name, line)}: {exc.message}", hint=exc.hint, line=line
            ) from None
        except Exception as exc:  # an error inside an expression, e.g. a bad filter argument
            line = _line_in(exc.__traceback__, self.name)
            raise TemplateError(
                f"{_where(self.name, line)}: {type(exc).__name__}: {exc}", line=line
            ) from None
        chat = self._split(text)
        if not chat:
            raise TemplateError(f"{self.name}: the template rendered to an empty prompt")
        return [_with_images(m, images) for m in chat] if images else chat

    def _split(self, text: str) -> list[Message]:
        parts = _SENTINEL_SPLIT.split(text)
        if len(parts) == 1:
            content = text.strip()
            return [Message(role="user", content=content)] if content else []
        if parts[0].strip():
            raise TemplateError(
                f"{self.name}: text before the first role marker: {parts[0].strip()[:40]!r}",
                hint="start the file with a marker such as {# role: system #} or {# role: user #}",
            )
        chat = []
        for role, content in zip(parts[1::2], parts[2::2], strict=True):
            content = content.strip()
            if content:
                chat.append(Message(role=role, content=content))  # type: ignore[arg-type]
        return chat


def _with_images(message: Message, images: list[Image]) -> Message:
    """The turn without its image placeholders, showing those images."""
    found = [images[int(k)] for k in _IMAGE_FIND.findall(message.content)]
    if not found:
        return message
    text = _IMAGE_FIND.sub("", message.content).strip()
    return message.model_copy(update={"content": text, "images": (*message.images, *found)})


def load_template(path: str | Path) -> PromptTemplate:
    """Read and compile a template file (see the module docstring for the format)."""
    return PromptTemplate.from_file(path)


__all__ = ["ROLES", "PromptTemplate", "TemplateError", "load_template"]
