"""``assay sweep``: a grid of models, precisions and prompts on the same items, and the answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICE = click.Choice(["text", "markdown", "json", "html"])


def leaderboard_options(command: F) -> F:
    """``--format`` and ``-o``: how and where the leaderboard is written."""
    command = click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the leaderboard to this file (html: SWEEP_ID.html when not given).",
    )(command)
    return click.option(
        "--format",
        "fmt",
        type=FORMAT_CHOICE,
        default="text",
        show_default=True,
        help="text: a terminal table; markdown; json; html: a page with Pareto plots.",
    )(command)


class SweepGroup(click.Group):
    """``assay sweep FILE`` runs the file; ``assay sweep show|list|run`` are sub-commands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SweepGroup)
def sweep() -> None:
    """Sweep a grid (models × precision × prompts × shots × chain of thought × decoding) over
    one task, every cell on the same seeded items, and choose with the leaderboard.

    \b
      assay sweep sweep.yaml --dry-run     # the grid, calls, estimated cost and time
      assay sweep sweep.yaml               # run it (again: continues, reuses done cells)
      assay sweep show SWEEP_ID --format html -o sweep.html
      assay sweep list

    \b
    A sweep file:
      task: gsm8k
      limit: 100
      effect: 0.05                  # the smallest difference you care about
      axes:
        model: [default, "openai:gpt-4o-mini"]
        precision: [fp32, int8]     # local hf: models (int8: CPU)
        prompt:
          plain: "{{ question }}"
          careful: "Answer carefully. {{ question }}"
        shots: [0, 3]
    """


def _emit(result: Any, fmt: str, output: Path | None) -> None:
    from assay.sweeps.render import FORMATS, to_html

    if fmt == "html":
        text = to_html(result.boards, title=f"Sweep {result.sweep.name}")
    else:
        text = FORMATS[fmt](result.boards)
    if output is None and fmt == "html":
        output = Path(f"{result.sweep.id}.html")
    if output is None:
        click.echo(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


def _print_plan(plan: Any) -> None:
    from assay.cli.formatting import format_cost

    click.secho(f"sweep {plan.name}: {len(plan.cells)} cells", bold=True)
    for key, values in plan.axes.items():
        click.echo(f"  {key}: {', '.join(str(v) for v in values)}")
    for cell in plan.cells:
        secs = "?" if cell.seconds is None else f"{cell.seconds:.0f} s"
        click.echo(
            f"  [{cell.index}] {cell.label}: {cell.items} items, {cell.calls} calls, "
            f"~{cell.prompt_tokens} tokens in, <= {cell.completion_tokens} out, "
            f"${format_cost(cell.cost)}, {secs}"
        )
    total = (
        "unknown (no earlier calls of some models)"
        if plan.seconds is None
        else (f"~{plan.seconds:.0f} s")
    )
    click.echo(f"total: {plan.calls} calls, ~${format_cost(plan.cost)}, time {total}")
    for w in plan.warnings:
        click.echo(f"warning: {w}", err=True)


@sweep.command(name="run")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Print the grid, calls, cost and time; run nothing.")
@click.option("--rerun", is_flag=True, help="Run every cell again, even those already done.")
@leaderboard_options
@click.option(
    "--json", "as_json", is_flag=True, help="The leaderboard (or --dry-run plan) as JSON."
)
def run(
    file: Path,
    overrides: tuple[str, ...],
    dry_run: bool,
    rerun: bool,
    fmt: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Run the sweep in FILE; KEY=VALUE arguments override its keys (limit=50).

    Every cell is an ordinary `assay eval` run: a finished one is reused, an interrupted one
    resumes, a cell whose model cannot load is reported failed and the others run.
    """
    from assay.cli.common import echo_json, workspace
    from assay.config_file import parse_overrides
    from assay.sweeps import SweepResult
    from assay.sweeps.config import load_sweep
    from assay.sweeps.leaderboard import build_leaderboards
    from assay.sweeps.plan import plan_sweep, sweep_warnings
    from assay.sweeps.runner import run_sweep

    config = load_sweep(file, parse_overrides(overrides, example="limit=50"))
    ws = workspace()
    if dry_run:
        plan = plan_sweep(config, ws)
        if as_json:
            echo_json(plan.to_dict())
        else:
            _print_plan(plan)
        return
    for warning in sweep_warnings(config):
        click.echo(f"warning: {warning}", err=True)
    record = run_sweep(
        config, workspace=ws, rerun=rerun, on_status=lambda m: click.echo(m, err=True)
    )
    result = SweepResult(record, build_leaderboards(record, ws))
    _emit(result, "json" if as_json else fmt, output)
    failed = [c for c in record.cells if c.status == "failed"]
    if failed:
        click.echo(
            f"{len(failed)} of {len(record.cells)} cells failed; the others are kept. "
            "Fix the cause and run the same command to retry them.",
            err=True,
        )
        raise SystemExit(1)


@sweep.command()
@click.argument("sweep_id")
@leaderboard_options
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def show(sweep_id: str, fmt: str, output: Path | None, as_json: bool) -> None:
    """The leaderboard of a recorded sweep: quality with intervals, paired differences to the
    best cell (Holm), tokens, cost, latency, memory, model facts and a recommendation."""
    from assay.cli.common import workspace
    from assay.sweeps import show as show_sweep

    _emit(show_sweep(sweep_id, workspace()), "json" if as_json else fmt, output)


@sweep.command(name="list")
@click.option("-n", "--limit", default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_(limit: int, as_json: bool) -> None:
    """Recent sweeps: id, name, status and cells done/failed."""
    from assay.cli.common import echo_json, workspace
    from assay.sweeps.store import SweepStore

    rows = [s.summary() for s in SweepStore(workspace()).list(limit)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no sweeps yet: see `assay sweep -h`")
    for r in rows:
        click.echo(
            f"{r['id']}  {r['status']:<10}  {r['done']}/{r['cells']} done"
            + (f", {r['failed']} failed" if r["failed"] else "")
        )


@sweep.command()
@click.argument("instruction")
@click.option(
    "-m",
    "--model",
    "model",
    default="default",
    show_default=True,
    help="The model that writes the paraphrases.",
)
@click.option("-n", "count", type=int, default=4, show_default=True, help="Paraphrases to ask for.")
@click.option(
    "--template",
    default="{instruction}\n\n{{{{ question }}}}",
    show_default=True,
    help="Each prompt, with {instruction} where the wording goes (Jinja braces doubled).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the prompts file here (else print it).",
)
def paraphrase(
    instruction: str, model: str, count: int, template: str, seed: int, output: Path | None
) -> None:
    """Write wordings of INSTRUCTION with a model, as a prompts file for `axes.prompt`.

    \b
      assay sweep paraphrase "Answer the question with a number." -m default -n 4 -o prompts.yaml
      # sweep.yaml:  axes: {prompt: prompts.yaml}
    The original wording is kept as 'original'; edit the file before sweeping: a paraphrase
    that changes the meaning measures something else.
    """
    from assay.cli.common import load_model
    from assay.sweeps.paraphrase import dump_prompts
    from assay.sweeps.paraphrase import paraphrase as write_paraphrases

    prompts = write_paraphrases(
        instruction, load_model(model), n=count, template=template, seed=seed
    )
    text = dump_prompts(prompts)
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}: {len(prompts)} prompts", err=True)
