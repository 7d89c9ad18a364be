"""Helpers shared by CLI commands: the workspace, settings and model for this invocation."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.models.facade import Model
    from assay.workspace import Workspace


def workspace() -> Workspace:
    from assay.workspace import Workspace

    return Workspace.find()


def settings(ws: Workspace | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    from assay.config import load_settings

    ws = ws or workspace()
    return load_settings(ws.config_path, overrides=overrides)


def load_model(address: str, overrides: dict[str, Any] | None = None) -> Model:
    from assay.models.facade import Model

    ws = workspace()
    return Model.load(address, settings=settings(ws, overrides), workspace=ws)


def usage_line(
    prompt_tokens: int, completion_tokens: int, latency_s: float, cost: float, note: str = ""
) -> None:
    """Tokens in and out, time, speed and cost of a model call, on one dim stderr line."""
    from assay.cli.formatting import format_cost

    rate = completion_tokens / latency_s if latency_s > 0 else 0.0
    line = (
        f"{prompt_tokens} tokens in, {completion_tokens} out | {latency_s:.2f} s | "
        f"{rate:.1f} tokens/s | cost ${format_cost(cost)}"
    )
    click.secho(line + (f" | {note}" if note else ""), err=True, dim=True)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def read_prompt(prompt: str | None) -> str:
    """The prompt argument, or standard input when it is ``-`` or missing and stdin is piped."""
    from assay.errors import UserError
    from assay.unicode_input import decode_utf8, repair_text

    if prompt in (None, "-"):
        if sys.stdin is None or sys.stdin.isatty():
            raise UserError("no prompt given", hint="pass it as an argument or pipe it on stdin")
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is not None:
            prompt = decode_utf8(buffer.read(), "standard input")
        else:
            prompt = repair_text(sys.stdin.read(), "standard input")
    else:
        prompt = repair_text(prompt, "the prompt argument")
    if not prompt.strip():
        raise UserError("the prompt is empty")
    return prompt
