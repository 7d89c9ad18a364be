"""``assay eval``: run a task against one or more models, with confidence intervals."""

from __future__ import annotations

from typing import Any

import click

from assay.cli.prompt_opts import COT, SELECT
from assay.cli.vocabulary import (
    COT_WORDS,
    SEARCH_MODES,
    SELECT_WORDS,
    Command,
    Renamed,
    override_arguments,
)

RENAMED = (
    Renamed("--rag", "--collection"),
    Renamed("--k", "-k"),
    Renamed("--rag-mode", "--mode"),
)


def parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    """``key.path=value`` overrides (arguments or ``--set``); values are YAML (numbers, lists,
    null); ``key=`` is unset."""
    from assay.config_file import parse_overrides

    return parse_overrides(values, flag="override", blank=None, example="fewshot.k=3")


@click.command(name="eval", cls=Command, renamed=RENAMED)
@click.argument("task")
@override_arguments
@click.option(
    "-m",
    "--model",
    "models",
    multiple=True,
    default=("default",),
    show_default=True,
    help="Model address or alias; repeat to evaluate several on the same samples.",
)
@click.option("--limit", type=int, default=None, help="Evaluate a seeded sample of N items.")
@click.option("--shots", type=int, default=None, help="Few-shot examples per item.")
@click.option(
    "--select",
    type=SELECT_WORDS,
    default=None,
    help="How --shots picks examples, as in `assay generate`. random (the task default): a "
    "seeded draw per item; fixed: the same K for every item (their tokens are then "
    "run once, not per item); similar: the K most similar to the item.",
)
@click.option(
    "--cot",
    type=COT_WORDS,
    default=None,
    help="Chain of thought, as in `assay generate`: step adds 'Let's think step by step.'; "
    "reason-then-answer asks for reasoning and a last 'Answer:' line (default: the task's).",
)
@click.option(
    "--seed", type=int, default=None, help="Seed for sampling, few-shot choice and --limit."
)
@click.option(
    "--skip-invalid", is_flag=True, help="Skip rows with missing fields instead of refusing."
)
@click.option("--rerun", is_flag=True, help="Run again even if an identical finished run exists.")
@click.option(
    "-c",
    "--collection",
    "rag",
    default=None,
    metavar="COLLECTION",
    help="Retrieve passages from this document collection into the prompt, as `assay ask` does.",
)
@click.option("--no-rag", is_flag=True, help="Turn the task's retrieval off (passages empty).")
@click.option("-k", "rag_k", type=int, default=None, help="Passages retrieved per sample.")
@click.option(
    "--mode",
    "rag_mode",
    type=click.Choice(SEARCH_MODES),
    default=None,
    help="Search mode for retrieval (default: the task's, else hybrid).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run records as JSON.")
def eval_(
    task: str,
    overrides: tuple[str, ...],
    models: tuple[str, ...],
    limit: int | None,
    shots: int | None,
    select: str | None,
    cot: str | None,
    seed: int | None,
    sets: tuple[str, ...],
    skip_invalid: bool,
    rerun: bool,
    rag: str | None,
    no_rag: bool,
    rag_k: int | None,
    rag_mode: str | None,
    as_json: bool,
) -> None:
    """Evaluate MODEL(s) on TASK (a built-in name or a task.yaml).

    KEY=VALUE arguments (or --set KEY=VALUE) override any key of the task, as
    `assay train` overrides a recipe's.

    \b
    Every finished sample is committed: kill it and run the same command to resume.
    Metrics come with 95% confidence intervals; compare runs with `assay compare`.
      assay eval mmlu-science --limit 200
      assay eval gsm8k -m default -m openai:gpt-4o-mini --limit 100 --cot reason-then-answer
      assay eval bbc-news --shots 3 --limit 100
      assay eval mmlu-science --shots 5 --select fixed   # one example set for all: faster
      assay eval pubmedqa dataset.options.path=../shared/data/pubmedqa
      assay eval qa.yaml -c papers -k 4     # and --no-rag, then assay compare the two

    \b
    Across processes or GPUs, the items are shared out and gathered into one run:
      accelerate launch --num_processes 4 -m assay.cli.main eval mmlu-science -m MODEL
    """
    from assay.cli.common import echo_json, load_model
    from assay.evals.retrieval_step import with_cli_overrides
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.shards import current_shard
    from assay.evals.task import load_task
    from assay.reports.text import format_metrics

    changes = parse_sets(overrides + sets)
    if shots is not None:
        changes["fewshot.k"] = shots
    if select is not None:
        changes["fewshot.method"] = SELECT[select]
    if cot is not None:
        changes["cot"] = COT[cot]
    if seed is not None:
        changes["seed"] = seed
    config = load_task(task).with_overrides(**changes) if changes else load_task(task)
    config = with_cli_overrides(config, collection=rag, k=rag_k, mode=rag_mode, off=no_rag)
    results = []
    shown = current_shard().main  # under a launcher, one process prints the results
    for address in models:
        model = load_model(address)
        run = evaluate(
            config,
            model,
            EvalOptions(limit=limit, skip_invalid=skip_invalid, rerun=rerun),
            on_status=lambda msg: click.echo(msg, err=True),
        )
        results.append(run)
        if shown and not as_json:
            click.secho(
                f"{run.id}  {config.name} × {model.address}  ({run.n_done} samples)", bold=True
            )
            for line in format_metrics(run.metrics or {}):
                click.echo(line)
    if not shown:
        return
    if as_json:
        echo_json([{**r.summary(), "metrics": r.metrics} for r in results])
    elif len(results) > 1:
        ids = " ".join(r.id for r in results)
        click.echo(f"\npaired comparison: assay compare {ids}")
