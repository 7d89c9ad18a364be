"""One vocabulary for every command: the shared spellings, and the old ones they replace.

A flag means the same thing in every command (``-m`` is the model, ``-k`` the passages
retrieved, ``--mode`` the search mode, ``-o`` the output file, ``KEY=VALUE`` an override).
Spellings that used to differ keep working for one release: :class:`Command` rewrites an old
option name before click parses the line, and :class:`Words` maps an old choice word, each
printing one ``warning: ... is deprecated`` line on stderr. ``docs/reference/cli-vocabulary.md``
lists them (generated from these rules); ``docs/design/cli-vocabulary.md`` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

REMOVAL = "it will be removed in the next release"


@dataclass(frozen=True)
class Renamed:
    """An old option spelling and the one that replaces it.

    ``when`` decides from the option's value whether this old spelling is meant (``-m 64`` in
    ``assay generate`` was the token limit; ``-m default`` is the model now).
    """

    old: str
    new: str
    when: Callable[[str], bool] | None = None
    why: str = ""


def deprecation(old: str, new: str, why: str = "") -> None:
    because = f"; {why}" if why else ""
    click.echo(f"warning: {old} is deprecated, write {new} instead{because} ({REMOVAL})", err=True)


def _match(token: str, old: str) -> tuple[bool, str | None]:
    """Whether ``token`` is the option ``old``, and the value written into it (``--k=4``,
    ``-n13``), if any."""
    if token == old:
        return True, None
    if old.startswith("--"):
        if token.startswith(old + "="):
            return True, token[len(old) + 1 :]
        return False, None
    if token.startswith(old) and not token.startswith("--") and len(token) > len(old):
        return True, token[len(old) :]
    return False, None


def _joined(new: str, value: str) -> str:
    return f"{new}={value}" if new.startswith("--") else new + value


def rewrite(args: Sequence[str], renamed: Sequence[Renamed]) -> list[str]:
    """``args`` with each old option spelling replaced by its new one (up to ``--``), and one
    deprecation line per old spelling used."""
    out: list[str] = []
    warned: set[str] = set()
    for i, token in enumerate(args):
        if token == "--":
            out.extend(args[i:])
            break
        for rule in renamed:
            hit, attached = _match(token, rule.old)
            if not hit:
                continue
            value = (
                attached if attached is not None else (args[i + 1] if i + 1 < len(args) else None)
            )
            if rule.when is not None and (value is None or not rule.when(value)):
                continue
            if rule.old not in warned:
                warned.add(rule.old)
                deprecation(rule.old, rule.new, rule.why)
            out.append(rule.new if attached is None else _joined(rule.new, attached))
            break
        else:
            out.append(token)
    return out


class Command(click.Command):
    """A click command that still takes the option spellings in ``renamed`` (deprecated)."""

    def __init__(self, *args: Any, renamed: Sequence[Renamed] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renamed = tuple(renamed)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rewrite(args, self.renamed))


class Words(click.Choice):
    """A choice of words that also takes the deprecated words in ``old`` (old -> new)."""

    def __init__(self, choices: Sequence[str], old: dict[str, str] | None = None) -> None:
        super().__init__(list(choices))
        self.old = dict(old or {})

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value in self.old:
            new = self.old[value]
            flag = param.opts[-1] if param is not None and param.opts else "the option"
            deprecation(f"{flag} {value}", f"{flag} {new}")
            value = new
        return super().convert(value, param, ctx)


# --cot: the same words in `generate` and `eval` (eval used to take the task file's words).
COT_WORDS = Words(
    ["off", "step", "reason-then-answer"],
    old={"step_by_step": "step", "reason_then_answer": "reason-then-answer"},
)

# --select: fixed, random, similar everywhere (eval also took `first`, the task file's word).
SELECT_WORDS = Words(["fixed", "random", "similar"], old={"first": "fixed"})

SEARCH_MODES = ("hybrid", "dense", "bm25", "mmr")


def model_option(fn: F) -> F:
    """``-m/--model``: the model, for commands that also take it as their first argument."""
    return click.option(
        "-m",
        "--model",
        "model_option",
        metavar="MODEL",
        default=None,
        help="The model (address or alias); the same as giving MODEL as the first argument.",
    )(fn)


def pick_model(positional: str | None, option: str | None, default: str | None = None) -> str:
    """The model given as the first argument or with ``-m``; once, not both."""
    if positional is not None and option is not None:
        raise click.UsageError(
            f"the model is given twice ('{positional}' and -m {option}); give it once"
        )
    model = option or positional or default
    if model is None:
        raise click.UsageError("no model given: give MODEL as the first argument, or -m MODEL")
    return model


def override_arguments(fn: F) -> F:
    """``KEY=VALUE`` arguments and ``--set KEY=VALUE`` options: the same overrides, both ways."""
    fn = click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")(fn)
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="An override (a dotted key, a YAML value); the same as a KEY=VALUE argument.",
    )(fn)


__all__ = [
    "COT_WORDS",
    "SEARCH_MODES",
    "SELECT_WORDS",
    "Command",
    "Renamed",
    "Words",
    "model_option",
    "override_arguments",
    "pick_model",
    "rewrite",
]
