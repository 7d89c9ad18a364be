"""``assay eval``: run a task against one or more models, with confidence intervals."""

from __future__ import annotations

from typing import Any

import click

from assay.cli.prompt_opts import SELECT


def parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    """``--set key.path=value`` pairs; values are YAML (numbers, lists, null)."""
    import yaml

    from assay.errors import UserError

    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects key=value, got '{item}'")
        out[key.strip()] = yaml.safe_load(raw)
    return out


@click.command(name="eval")
@click.argument("task")
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
    type=click.Choice(list(SELECT)),
    default=None,
    help="How --shots picks examples, as in `assay generate`. random (the task default): a "
    "seeded draw per item; fixed (or first): the same K for every item (their tokens are then "
    "run once, not per item); similar: the K most similar to the item.",
)
@click.option(
    "--cot",
    type=click.Choice(["off", "step_by_step", "reason_then_answer"]),
    default=None,
    help="Chain-of-thought mode.",
)
@click.option(
    "--seed", type=int, default=None, help="Seed for sampling, few-shot choice and --limit."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any task key, e.g. --set dataset.options.path=data/pubmedqa",
)
@click.option(
    "--skip-invalid", is_flag=True, help="Skip rows with missing fields instead of refusing."
)
@click.option("--rerun", is_flag=True, help="Run again even if an identical finished run exists.")
@click.option(
    "--rag", "rag", default=None, metavar="COLLECTION", help="Retrieve passages from a collection."
)
@click.option("--no-rag", is_flag=True, help="Turn the task's retrieval off (passages empty).")
@click.option("--k", "rag_k", type=int, default=None, help="Passages retrieved per sample.")
@click.option(
    "--rag-mode",
    type=click.Choice(["hybrid", "bm25", "dense", "mmr"]),
    default=None,
    help="Search mode for --rag (default: the task's, else hybrid).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run records as JSON.")
def eval_(
    task: str,
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

    \b
    Every finished sample is committed: kill it and run the same command to resume.
    Metrics come with 95% confidence intervals; compare runs with `assay compare`.
      assay eval mmlu-science --limit 200
      assay eval gsm8k -m default -m openai:gpt-4o-mini --limit 100 --cot reason_then_answer
      assay eval bbc-news --shots 3 --limit 100
      assay eval mmlu-science --shots 5 --select fixed   # one example set for all: faster
      assay eval pubmedqa --set dataset.options.path=../shared/data/pubmedqa
      assay eval qa.yaml --rag papers --k 4     # and --no-rag, then assay compare the two
    """
    from assay.cli.common import echo_json, load_model
    from assay.evals.retrieval_step import with_cli_overrides
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.task import load_task
    from assay.reports.text import format_metrics

    overrides = parse_sets(sets)
    if shots is not None:
        overrides["fewshot.k"] = shots
    if select is not None:
        overrides["fewshot.method"] = SELECT[select]
    if cot is not None:
        overrides["cot"] = cot
    if seed is not None:
        overrides["seed"] = seed
    config = load_task(task).with_overrides(**overrides) if overrides else load_task(task)
    config = with_cli_overrides(config, collection=rag, k=rag_k, mode=rag_mode, off=no_rag)
    results = []
    for address in models:
        model = load_model(address)
        run = evaluate(
            config,
            model,
            EvalOptions(limit=limit, skip_invalid=skip_invalid, rerun=rerun),
            on_status=lambda msg: click.echo(msg, err=True),
        )
        results.append(run)
        if not as_json:
            click.secho(
                f"{run.id}  {config.name} × {model.address}  ({run.n_done} samples)", bold=True
            )
            for line in format_metrics(run.metrics or {}):
                click.echo(line)
    if as_json:
        echo_json([{**r.summary(), "metrics": r.metrics} for r in results])
    elif len(results) > 1:
        ids = " ".join(r.id for r in results)
        click.echo(f"\npaired comparison: assay compare {ids}")
