"""``assay chat``: talk to a model turn by turn; conversations are kept in the workspace.

``assay chat [MODEL] [options]`` talks (the default sub-command, ``talk``); ``list``, ``show``
and ``export`` read stored conversations without loading any model.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assay.cli.vocabulary import model_option, pick_model

if TYPE_CHECKING:
    from assay.models.images import Image
    from assay.prompting.conversation import Conversation

HELP_LINES = (
    "commands: /reset starts a new conversation, /pin FACT keeps a fact in every prompt, "
    "/image PATH shows an image with your next message, "
    "/summary shows the running summary, /tokens the prompt size, /exit (or Ctrl-D) quits"
)
SUBCOMMANDS = ("talk", "list", "show", "export")


class ChatGroup(click.Group):
    """A group whose first argument, unless it names a sub-command, goes to ``talk``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["talk", *args]
        return super().parse_args(ctx, args)


@click.group(cls=ChatGroup)
def chat() -> None:
    """Chat with a model; every conversation is stored and can be resumed.

    \b
    assay chat [MODEL] [OPTIONS]        talk (MODEL defaults to the bundled SmolLM2)
    assay chat list                     stored conversations, newest first
    assay chat show ID                  one conversation as Markdown
    assay chat export ID -o FILE        to .json or .md

    \b
    Examples:
      assay chat
      assay chat openai:gpt-4o-mini --system "You are a terse biostatistician."
      assay chat default --policy summary --pin "The cohort is 412 patients."
      assay chat --resume conv-1a2b      (an id prefix is enough)
      assay chat export conv-1a2b -o session.md

    \b
    Images (a model that accepts images): type /image PATH, then your question;
    the image goes with that message and stays in the conversation.

    Replies stream token by token. Each turn sends the system prompt and pinned facts, then
    the newest turns that fit the model's context (leaving --max-tokens for the reply). Policy
    drop-oldest leaves older turns out; policy summary also keeps a running summary (topic,
    facts, open questions), updated after every turn by structured output, which stands in
    for the turns left out. The full history is always stored.
    """


@chat.command("talk", short_help="Talk to a model, or resume a conversation (the default).")
@click.argument("model", required=False)
@model_option
@click.option("-s", "--system", default=None, help="A system prompt for the whole conversation.")
@click.option("-t", "--temperature", default=0.0, show_default=True, type=float)
@click.option("--max-tokens", default=256, show_default=True, type=int)
@click.option("--seed", default=None, type=int)
@click.option("--resume", "resume_id", metavar="ID", help="Continue a stored conversation.")
@click.option(
    "--policy",
    type=click.Choice(["drop-oldest", "summary"]),
    help="What to do when the history outgrows the context  [default: drop-oldest].",
)
@click.option("--pin", multiple=True, metavar="FACT", help="A fact kept in every prompt.")
@click.pass_context
def talk(
    ctx: click.Context,
    model: str | None,
    model_option: str | None,
    system: str | None,
    temperature: float,
    max_tokens: int,
    seed: int | None,
    resume_id: str | None,
    policy: str | None,
    pin: tuple[str, ...],
) -> None:
    """Talk to MODEL (default: the bundled SmolLM2), or resume a conversation."""
    if model is not None or model_option is not None:
        model = pick_model(model, model_option)
    from assay.cli.common import load_model, workspace
    from assay.models.types import Sampling
    from assay.prompting.conversation import Conversation

    given = {
        name
        for name in ("temperature", "max_tokens", "seed")
        if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
    }
    values: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}
    conv: Conversation
    if resume_id is not None:
        from assay.prompting import conversation_store as store

        ws = workspace()
        stored, _ = store.load(ws, resume_id)
        llm = load_model(model or stored.model)
        conv = Conversation.resume(stored.id, llm)
        if given:
            sampling = conv.sampling.model_dump()
            sampling.update({k: values[k] for k in given})
            conv.sampling = Sampling.model_validate(sampling)
            store.update(ws, conv.id, sampling=conv.sampling.model_dump(mode="json"))
        if system is not None:
            conv.system = system
            store.update(ws, conv.id, system=system)
        if policy is not None:
            conv.set_policy(policy)
    else:
        llm = load_model(model or "default")
        conv = Conversation(
            llm,
            system=system,
            policy=policy or "drop-oldest",
            sampling=Sampling(**values),
        )
    for fact in pin:
        conv.pin(fact)
    _talk(conv)


def _talk(conv: Conversation) -> None:
    from assay.errors import ContextLengthError, UserError
    from assay.unicode_input import repair_text

    if hasattr(sys.stdin, "reconfigure"):
        # Bytes that are not UTF-8 come through as surrogates, repaired line by line below.
        sys.stdin.reconfigure(errors="surrogateescape")
    interactive = sys.stdin.isatty()
    attached: list[Image] = []
    """Images for the next message (``/image PATH``)."""
    _announce(conv, resumed=bool(conv.turns))
    if interactive:
        click.echo(HELP_LINES, err=True)
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        text = repair_text(line, "this line").strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text.startswith("/image"):
            _attach(conv, text, attached)
            continue
        if text.startswith("/") and _command(conv, text):
            continue
        if interactive:
            click.echo("model> ", nl=False)
        images, attached = attached, []
        try:
            for piece in conv.stream(text, images=images):
                click.echo(piece, nl=False)
        except ContextLengthError as exc:
            click.echo(f"\nerror: {exc.message}; shorten the message or use /reset", err=True)
            continue
        except UserError as exc:
            click.echo(f"\nerror: {exc.message}", err=True)
            continue
        click.echo()
        update = conv.last_summary_update
        if conv.policy == "summary" and update is not None and not update.ok:
            click.echo(
                f"(summary not updated: {'; '.join(update.errors[-1:]) or 'invalid'})", err=True
            )
    click.echo(
        f"conversation {conv.id} saved; resume with: assay chat --resume {conv.id}", err=True
    )


def _attach(conv: Conversation, text: str, attached: list[Image]) -> None:
    """``/image PATH``: read and check the image now; it goes with the next message."""
    from assay.errors import UserError
    from assay.models.images import load_image

    _, _, arg = text.partition(" ")
    path = arg.strip().strip("'\"")
    if not path:
        click.echo(f"usage: /image PATH ({len(attached)} attached to the next message)", err=True)
        return
    if not conv.model.capabilities.images:
        click.echo(
            f"error: {conv.model.address} is a text-only model: it lacks the 'images' capability",
            err=True,
        )
        return
    try:
        image = load_image(path)
    except UserError as exc:
        click.echo(f"error: {exc.message}", err=True)
        return
    attached.append(image)
    click.echo(
        f"attached {path} ({image.width}x{image.height}); it goes with your next message",
        err=True,
    )


def _announce(conv: Conversation, resumed: bool) -> None:
    verb = f"resumed ({len(conv.turns)} turns)" if resumed else "started"
    click.echo(
        f"conversation {conv.id} {verb} with {conv.model.address}, policy {conv.policy}",
        err=True,
    )


def _command(conv: Conversation, text: str) -> bool:
    """Handle a /command; False when ``text`` is not one (then it is sent as a message)."""
    name, _, arg = text.partition(" ")
    if name == "/reset":
        conv.reset()
        click.echo(f"history cleared: new conversation {conv.id}", err=True)
    elif name == "/pin":
        if not arg.strip():
            click.echo("usage: /pin FACT", err=True)
        else:
            conv.pin(arg)
            click.echo(f"pinned ({len(conv.pinned)} facts)", err=True)
    elif name == "/summary":
        from assay.prompting.summary import summary_text

        click.echo(summary_text(conv.summary) if conv.summary else "(no summary yet)", err=True)
    elif name == "/tokens":
        window = conv.window()
        budget = "no limit known" if window.budget is None else f"of {window.budget}"
        click.echo(
            f"{window.tokens} prompt tokens {budget}; {window.dropped} turns left out", err=True
        )
    else:
        return False
    return True


@chat.command("list")
@click.option("-n", "--limit", default=20, show_default=True, type=int, help="How many at most.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(limit: int, as_json: bool) -> None:
    """Stored conversations, most recently used first."""
    from assay.cli.common import echo_json, workspace
    from assay.prompting.conversation_store import list_conversations

    ws = workspace()
    rows = list_conversations(ws, limit)
    if as_json:
        echo_json(
            [
                {
                    "id": c.id,
                    "updated": c.updated,
                    "model": c.model,
                    "policy": c.policy,
                    "turns": c.n_turns,
                    "first": first,
                }
                for c, first in rows
            ]
        )
        return
    if not rows:
        click.echo(f"no conversations yet in {ws.root} (start one: assay chat)")
        return
    for c, first in rows:
        title = " ".join(first.split())
        title = title[:48] + "..." if len(title) > 51 else title
        click.echo(
            f"{c.id}  {c.updated[:16].replace('T', ' ')}  {c.n_turns:>3} turns  "
            f"{c.policy:<11}  {c.model}  {title}"
        )


@chat.command("show")
@click.argument("conversation_id", metavar="ID")
def show(conversation_id: str) -> None:
    """One conversation as Markdown (ID or a unique prefix)."""
    from assay.cli.common import workspace
    from assay.prompting.conversation_export import export, stored_dict

    click.echo(export(stored_dict(workspace(), conversation_id), fmt="md"), nl=False)


@chat.command("export", short_help="Export a conversation to JSON or Markdown.")
@click.argument("conversation_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (.json or .md); default: JSON on standard output.",
)
@click.option("--format", "fmt", type=click.Choice(["json", "md"]), help="Override the suffix.")
def export_(conversation_id: str, output: Path | None, fmt: str | None) -> None:
    """Export a conversation: settings, pinned facts, summary and every turn."""
    from assay.cli.common import workspace
    from assay.prompting.conversation_export import export, stored_dict

    data = stored_dict(workspace(), conversation_id)
    text = export(data, output, fmt or (None if output else "json"))
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}", err=True)


__all__ = ["chat"]
