"""``assay chat``: talk to a model turn by turn, with replies streamed as they are decoded."""

from __future__ import annotations

import sys

import click

HELP_LINES = "commands: /reset clears the history, /exit (or Ctrl-D) quits"


@click.command()
@click.argument("model", default="default")
@click.option("--system", default=None, help="A system prompt for the whole conversation.")
@click.option("--temperature", default=0.0, show_default=True, type=float)
@click.option("--max-tokens", default=256, show_default=True, type=int)
@click.option("--seed", default=None, type=int)
def chat(model: str, system: str | None, temperature: float, max_tokens: int, seed: int | None) -> None:
    """Chat with MODEL interactively (default: the bundled SmolLM2).

    \b
    Replies stream token by token. Each turn sends the whole history, rendered through the
    model's chat template; when the history outgrows the context you are told by how much.
      assay chat
      assay chat openai:gpt-4o-mini --system "You are a terse biostatistician."
    """
    from assay.cli.common import load_model
    from assay.errors import ContextLengthError
    from assay.models.types import Message, Sampling

    llm = load_model(model)
    sampling = Sampling(temperature=temperature, max_tokens=max_tokens, seed=seed)
    history: list[Message] = [Message(role="system", content=system)] if system else []
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(f"chatting with {llm.address}; {HELP_LINES}", err=True)
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            history = history[:1] if system else []
            click.echo("history cleared", err=True)
            continue
        history.append(Message(role="user", content=text))
        if interactive:
            click.echo("model> ", nl=False)
        pieces: list[str] = []
        try:
            for piece in llm.stream(history, sampling):
                pieces.append(piece)
                click.echo(piece, nl=False)
        except ContextLengthError as exc:
            history.pop()
            click.echo(f"\nerror: {exc.message}; use /reset to start over", err=True)
            continue
        click.echo()
        history.append(Message(role="assistant", content="".join(pieces).strip()))
