"""The ``assay`` command. Sub-commands live one module each and are imported only when run,
so ``assay --help`` starts fast. An installed plugin adds its own click commands through the
entry-point group ``assay.commands``."""

from __future__ import annotations

import os
import sqlite3
import sys
import warnings
from typing import Any

import click

from assay.errors import AssayError, AssayWarning
from assay.plugins import PluginError, Registry

# name -> (module, attribute, one-line help). The help is repeated here so listing commands
# needs no import of heavy modules.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "quickstart": (
        "assay.cli.quickstart",
        "quickstart",
        "Run the end-to-end tour on the bundled model.",
    ),
    "init": ("assay.cli.workspace_cmd", "init", "Create a workspace (.assay/) in a folder."),
    "generate": ("assay.cli.generate", "generate", "Generate text from a model for a prompt."),
    "chat": (
        "assay.cli.chat",
        "chat",
        "Chat with a model; conversations are stored, resumable, exportable.",
    ),
    "models": ("assay.cli.models_cmd", "models", "List models and show model cards."),
    "serve": ("assay.cli.serve", "serve", "Serve a model over an OpenAI-compatible HTTP API."),
    "log": ("assay.cli.log_cmd", "log", "Show recent model calls: tokens, latency, cost."),
    "docs": ("assay.cli.docs_cmd", "docs", "Add, list, show and remove documents for retrieval."),
    "ask": (
        "assay.cli.ask_cmd",
        "ask",
        "Answer a question from a document collection, citing pages.",
    ),
    "eval": (
        "assay.cli.eval_cmd",
        "eval_",
        "Evaluate models on a task, with confidence intervals.",
    ),
    "score": (
        "assay.cli.score_cmd",
        "score",
        "Score texts: perplexity, per-token log-probabilities, before vs after.",
    ),
    "tasks": ("assay.cli.tasks_cmd", "tasks", "List built-in evaluation tasks and show one."),
    "runs": ("assay.cli.runs_cmd", "runs", "List, show and export evaluation runs."),
    "compare": ("assay.cli.compare_cmd", "compare", "Compare runs with paired statistics."),
    "plan": ("assay.cli.plan_cmd", "plan", "How many items an evaluation needs (power)."),
    "sweep": (
        "assay.cli.sweep_cmd",
        "sweep",
        "Sweep models, precisions and prompts on the same items; a leaderboard.",
    ),
    "check": (
        "assay.cli.check_cmd",
        "check",
        "Responsible-use checks: contamination of evaluation data.",
    ),
    "train": (
        "assay.cli.train_cmd",
        "train",
        "Finetune a model with a recipe (config file + overrides).",
    ),
    "report": ("assay.cli.report_cmd", "report", "Write a self-contained HTML report of a run."),
    "plugins": (
        "assay.cli.plugins_cmd",
        "plugins",
        "List installed plugins: what each adds and where it came from.",
    ),
    "review": (
        "assay.cli.review_cmd",
        "review",
        "Review a run's outputs by hand: queues, labels, agreement.",
    ),
    "ui": ("assay.cli.ui_cmd", "ui", "Start the local web app over this workspace."),
}


def _as_command(name: str, obj: Any) -> click.Command:
    if not isinstance(obj, click.Command):
        raise PluginError(f"{type(obj).__name__} is not a click command")
    return obj


COMMAND_REGISTRY: Registry[click.Command] = Registry(
    "command", group="assay.commands", convert=_as_command
)
"""The sub-commands: the built-ins above (imported when run), then plugins' (``assay.commands``)."""
for _name, (_module, _attr, _) in COMMANDS.items():
    COMMAND_REGISTRY.register_lazy(_name, f"{_module}:{_attr}")


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return COMMAND_REGISTRY.names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMAND_REGISTRY.find(cmd_name)
        return None if entry is None else COMMAND_REGISTRY.load(entry)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            # click (8.4+) suggests close names from the commands it holds; these are lazy.
            name = getattr(exc, "command_name", None)
            if name is None:
                raise
            raise type(exc)(name, possibilities=COMMAND_REGISTRY.names(), ctx=ctx) from None  # type: ignore[call-arg]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for entry in COMMAND_REGISTRY.entries():
            if entry.builtin:
                rows.append((entry.name, COMMANDS[entry.name][2]))
                continue
            try:
                help_ = COMMAND_REGISTRY.load(entry).get_short_help_str(limit=60)
            except PluginError:
                help_ = "(failed to load: see `assay plugins`)"
            rows.append((entry.name, f"{help_} [{entry.source}]"))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="assay")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """assay: put a language model to work on a research task, and defend the result.

    \b
    Models are addressed as provider:name, or by alias:
      default                   SmolLM2-135M-Instruct, bundled (offline)
      hf:PATH                   a transformers folder or a .gguf file
      gguf:FILE.gguf            llama.cpp (pip install 'assay[llama]')
      openai:MODEL[@URL]        any OpenAI-compatible server
      fake:[SCRIPT.yaml]        scripted replies, for tests

    State (call log, cache, conversions) lives in the workspace: $ASSAY_HOME, else the
    nearest .assay/ folder (assay init), else ~/.assay.

    Start with:  assay quickstart
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _debug_first(argv: list[str]) -> list[str]:
    """``--debug`` may be written anywhere before ``--``; click knows it only before the
    sub-command, so move it there."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" not in argv[:end]:
        return argv
    return ["--debug", *(a for a in argv[:end] if a != "--debug"), *argv[end:]]


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
    if issubclass(category, AssayWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _python_show_warning(message, category, *args, **kw)


_python_show_warning = warnings.showwarning


def _report(exc: AssayError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


def main(argv: list[str] | None = None) -> Any:
    argv = _debug_first(list(argv if argv is not None else sys.argv[1:]))
    debug = "--debug" in argv or bool(os.environ.get("ASSAY_DEBUG"))
    if not debug:
        # The libraries' own bars (transformers' "Loading weights" on every model load, shard
        # writing) drown assay's messages; assay shows its own progress for long work.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.showwarning = _show_warning
    try:
        return cli.main(args=argv, prog_name="assay", standalone_mode=False)
    except AssayError as exc:
        if debug:
            raise
        _report(exc)
    except sqlite3.Error as exc:
        # The workspace database failed somewhere below a command: name it and say what to do.
        if debug:
            raise
        from assay.workspace import Workspace, database_error

        _report(database_error(exc, Workspace.find().db_path))
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
