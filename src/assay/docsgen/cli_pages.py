"""The command-line reference, from the commands' own ``--help``, and the table of old
option spellings that still work (from the commands' ``renamed`` rules and choice words)."""

from __future__ import annotations

from collections.abc import Iterator

import click

from assay.cli.vocabulary import Command, Words

WIDTH = 100  # fixed, so the page does not depend on the terminal that generates it


def walk(
    command: click.Command, name: str = "assay", parent: click.Context | None = None
) -> Iterator[tuple[str, click.Context]]:
    """``(command path, context)`` for a command and every sub-command below it."""
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    yield ctx.command_path, ctx
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, sub_name, ctx)


def help_text(ctx: click.Context) -> str:
    return ctx.command.get_help(ctx).rstrip()


def cli_reference(root: click.Command) -> str:
    lines = [
        "# Command line",
        "",
        "Every command's `--help`, as `assay` prints it. The same flag means the same thing in",
        "every command: see [the shared vocabulary](cli-vocabulary.md).",
    ]
    for path, ctx in walk(root):
        depth = min(path.count(" ") + 1, 4)
        lines += ["", f"{'#' * (depth + 1)} `{path}`", "", "```text", help_text(ctx), "```"]
    return "\n".join(lines) + "\n"


def old_spellings(root: click.Command) -> list[tuple[str, str, str]]:
    """``(command, old spelling, new spelling)`` for every deprecated spelling still taken."""
    rows: list[tuple[str, str, str]] = []
    for path, ctx in walk(root):
        command = ctx.command
        if isinstance(command, Command):
            for rule in command.renamed:
                value = " N" if rule.when is not None else ""  # a rule that reads the value
                old = f"`{rule.old}{value}`" + (f" ({rule.why})" if rule.why else "")
                rows.append((path, old, f"`{rule.new}{value}`"))
        for param in command.params:
            if isinstance(param.type, Words):
                flag = param.opts[-1]
                for old_word, new_word in param.type.old.items():
                    rows.append((path, f"`{flag} {old_word}`", f"`{flag} {new_word}`"))
    return rows


VOCABULARY = """\
# The shared vocabulary

A flag means the same thing in every command.

| Flag | Meaning | Commands |
|---|---|---|
| `-m`, `--model` | the model (an address or alias); where a command also takes MODEL as its first argument, either form works | generate, chat, serve, models info/convert, score, eval, ask, docs synth, log, quickstart |
| `--max-tokens` | new tokens at most | generate, chat, ask |
| `-s`, `--system`; `-t`, `--temperature`; `--seed` | the system prompt; sampling temperature; seed | generate, chat (and `--seed` in eval, docs synth) |
| `--cot off\\|step\\|reason-then-answer` | chain of thought | generate, eval |
| `--shots`, `--select fixed\\|random\\|similar` | few-shot examples and how they are picked | generate, eval |
| `-c`, `--collection` | a document collection | docs, ask, eval |
| `-k` | passages retrieved | ask, docs search, eval |
| `--mode hybrid\\|dense\\|bm25\\|mmr` | search mode | ask, docs search, docs recall, eval |
| `KEY=VALUE`, `--set KEY=VALUE` | an override of a config key (dotted; the value is YAML) | eval, train |
| `-i`, `--input`; `-o`, `--output` | the file read; the file written | generate, score; every command that writes a file |
| `-n` | how many (samples, questions, rows listed) | generate, docs synth, log, runs list, chat list |
| `--json` | print JSON instead of text | every command that prints results |

## Old spellings

These still work, with one `warning: ... is deprecated` line on stderr; they will be removed in
the next release.

| Command | Old | Write instead |
|---|---|---|
"""


def vocabulary_page(root: click.Command) -> str:
    rows = [f"| `{path}` | {old} | {new} |" for path, old, new in old_spellings(root)]
    return VOCABULARY + "\n".join(rows) + "\n"


__all__ = ["cli_reference", "help_text", "old_spellings", "vocabulary_page", "walk"]
