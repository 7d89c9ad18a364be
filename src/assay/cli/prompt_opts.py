"""Command-line options for few-shot examples, chain of thought and answer extraction.

``prompt_options`` adds the options to a click command; :func:`shaping_from_options` turns their
values into a :class:`~assay.prompting.shaping.PromptShaping` (nothing heavy is imported until a
command runs). ``report_extraction`` prints what was read from a reply.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from assay.cli.vocabulary import COT_WORDS, SELECT_WORDS

if TYPE_CHECKING:
    from assay.prompting.extract import Extraction
    from assay.prompting.shaping import PromptShaping
    from assay.prompting.templates import PromptTemplate

F = TypeVar("F", bound=Callable[..., Any])

SELECT = {"fixed": "first", "first": "first", "random": "random", "similar": "similar"}
LAYOUTS = {"turns": "turns", "chat": "turns", "inline": "inline"}
COT = {"off": "off", "step": "step_by_step", "reason-then-answer": "reason_then_answer"}
OPTION_NAMES = ("examples", "shots", "select", "layout", "shots_seed", "cot", "extract")

EPILOG = """\b
Few-shot examples, chain of thought, answer extraction:
  assay generate default "A bat and a ball cost $1.10 ..." \\
      --cot reason-then-answer --extract last-number
  assay generate default "Is 17 prime?" --examples pool.jsonl --shots 3 --select similar
  assay generate default --template qa.jinja --input q.jsonl --output a.jsonl \\
      --examples pool.jsonl --shots 2 --select random --cot step --extract choice:ABCD
Example files are .jsonl/.csv rows with 'input' and 'output' (and an optional 'id'); with
--template, rows hold the template's variables plus 'output', and are rendered through
the template. The item being answered is never among its own examples (same id or text).
--extract prints the answer on stderr (or records 'answer' and 'extraction' in each output
row); a reply it cannot read is recorded as a failure, never guessed."""


def prompt_options(fn: F) -> F:
    """Add ``--examples --shots --select --layout --shots-seed --cot --extract`` to a command."""
    options = [
        click.option(
            "--examples",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Few-shot example pool (.jsonl/.csv with input, output, optional id).",
        ),
        click.option(
            "--shots", type=int, default=3, show_default=True, help="Examples per prompt (k)."
        ),
        click.option(
            "--select",
            type=SELECT_WORDS,
            default="fixed",
            show_default=True,
            help="fixed: the first k; random: seeded per item; similar: nearest by embedding.",
        ),
        click.option(
            "--layout",
            type=click.Choice(["turns", "chat", "inline"]),
            default="turns",
            show_default=True,
            help="turns (alias chat): user/assistant turns; inline: Question/Answer blocks.",
        ),
        click.option(
            "--shots-seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed for --select random.",
        ),
        click.option(
            "--cot",
            type=COT_WORDS,
            default="off",
            show_default=True,
            help="Chain of thought: step adds 'Let's think step by step.'; reason-then-answer "
            "asks for reasoning and a last 'Answer:' line.",
        ),
        click.option(
            "--extract",
            metavar="STRATEGY",
            help="Read the answer: last-number, choice[:ABCD], regex:PATTERN, json:FIELD, "
            "answer-line.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def pop_prompt_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take this module's option values out of a command's keyword arguments."""
    return {name: kwargs.pop(name) for name in OPTION_NAMES if name in kwargs}


DEFAULTS: dict[str, Any] = {
    "examples": None,
    "shots": 3,
    "select": "fixed",
    "layout": "turns",
    "shots_seed": 0,
    "cot": "off",
    "extract": None,
}


def given_options(values: dict[str, Any]) -> list[str]:
    """The flags of this module that were set to something other than their default."""
    return [
        "--" + name.replace("_", "-")
        for name, default in DEFAULTS.items()
        if values.get(name, default) != default
    ]


def shaping_from_options(
    values: dict[str, Any], template: PromptTemplate | None = None
) -> PromptShaping:
    from assay.prompting.extract import parse_extractor
    from assay.prompting.fewshot import FewShot, load_examples
    from assay.prompting.shaping import PromptShaping, examples_for_template

    examples: Path | None = values.get("examples")
    fewshot = None
    if examples is not None:
        pool = (
            examples_for_template(examples, template)
            if template is not None
            else load_examples(examples)
        )
        fewshot = FewShot(
            pool,
            k=int(values.get("shots", 3)),
            method=SELECT[values.get("select", "fixed")],  # type: ignore[arg-type]
            seed=int(values.get("shots_seed", 0)),
        )
    else:
        for name, default in (("shots", 3), ("select", "fixed"), ("layout", "turns")):
            if values.get(name, default) != default:
                flag = "--" + name.replace("_", "-")
                raise click.UsageError(f"{flag} chooses few-shot examples; it needs --examples")
    spec = values.get("extract")
    return PromptShaping(
        fewshot=fewshot,
        layout=LAYOUTS[values.get("layout", "turns")],  # type: ignore[arg-type]
        cot=COT[values.get("cot", "off")],  # type: ignore[arg-type]
        extractor=parse_extractor(spec) if spec else None,
    )


def report_extraction(extraction: Extraction | None, label: str = "") -> None:
    """One stderr line: the extracted answer, or why none could be read."""
    if extraction is None:
        return
    prefix = f"{label}: " if label else ""
    if extraction.ok:
        click.secho(f"{prefix}answer: {extraction.value} ({extraction.strategy})", err=True)
    else:
        click.secho(
            f"{prefix}answer: none, extraction failed ({extraction.strategy}: {extraction.reason})",
            err=True,
            fg="yellow",
        )


__all__ = [
    "EPILOG",
    "given_options",
    "pop_prompt_options",
    "prompt_options",
    "report_extraction",
    "shaping_from_options",
]
