"""``assay check``: what could have gone wrong with a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assay.cli.vocabulary import Command, Renamed


@click.group()
def check() -> None:
    """Responsible-use checks on a task or a run.

    \b
      assay check contamination gsm8k --against train.jsonl
      assay check contamination RUN_ID --against corpus/ -o contamination.json
    """


def _task_or_run(name: str) -> tuple[Any, Any]:
    """(task config, run or None): a built-in task, a task file, or an evaluation run id."""
    from assay.cli.common import workspace
    from assay.errors import UserError
    from assay.evals.runs import RunStore
    from assay.evals.task import TaskConfig, builtin_tasks, load_task

    if name in builtin_tasks() or Path(name).is_file():
        return load_task(name), None
    store = RunStore(workspace())
    try:
        run = store.get(name)
    except UserError:
        raise UserError(
            f"'{name}' is neither a task nor a run",
            hint="give a built-in task (assay tasks list), a task YAML, or a run id (assay runs list)",
        ) from None
    if run.status != "done":
        raise UserError(f"run {run.id} is {run.status}: check a finished run")
    return TaskConfig.model_validate(run.config), run


@check.command(
    "contamination",
    cls=Command,
    renamed=(Renamed("-n", "--ngram", why="-n counts results in other commands"),),
)
@click.argument("task_or_run")
@click.option(
    "--against",
    "corpora",
    multiple=True,
    required=True,
    help="Training data to check against: a file or folder (text, Markdown, JSONL, CSV); repeatable.",
)
@click.option("--ngram", default=13, show_default=True, help="Words per n-gram.")
@click.option("--limit", type=int, help="Check the first N items (the seeded sample eval uses).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the per-item results as JSON.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def contamination(
    task_or_run: str,
    corpora: tuple[str, ...],
    ngram: int,
    limit: int | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """Find evaluation items whose text occurs in training data (n-gram overlap).

    TASK_OR_RUN is a task (its items are checked) or a finished run (its items, and the run's
    metric on the clean items against all items, with an interval for the difference).

    \b
    Per item: the share of its 13-word n-grams found in the corpus, for its inputs and its
    reference apart, and the longest shared span with the file and line it occurs at. The
    corpus index is built once (streamed, hashed n-grams; bounded memory) and reused while the
    files are unchanged.
      assay check contamination gsm8k --against finetune_data.jsonl
      assay check contamination RUN_ID --against corpus/ --against notes.txt -o report.json
    """
    import json

    from assay.checks.contamination import check_contamination, clean_subset
    from assay.cli.common import echo_json, workspace
    from assay.progress import progress_bar

    task, run = _task_or_run(task_or_run)
    bar: Any = None
    shown = 0

    def on_progress(done: int, total: int) -> None:
        nonlocal bar, shown
        if bar is None:
            bar = progress_bar(max(1, total // 1_000_000), "indexing corpus", "MB", leave=False)
        step = done // 1_000_000 - shown
        if step > 0:
            bar.update(step)
            shown += step

    try:
        report = check_contamination(
            task, corpora, n=ngram, limit=limit, workspace=workspace(), on_progress=on_progress
        )
    finally:
        if bar is not None:
            bar.close()
    subsets = []
    if run is not None:
        from assay.evals.compare import _scores
        from assay.evals.runs import RunStore

        store = RunStore(workspace())
        for metric in (run.metrics or {}).get("metrics", {}):
            scores = _scores(store, run, metric)
            if len(scores) >= 2 and len(report.clean_ids & set(scores)) >= 2:
                subsets.append(clean_subset(scores, report.clean_ids, metric))
    data = report.to_dict()
    data["clean_subset"] = [
        {
            "metric": s.metric,
            "all": s.all.to_dict(),
            "clean": s.clean.to_dict(),
            "difference": s.difference.to_dict(),
            "n_clean": s.n_clean,
        }
        for s in subsets
    ]
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(output)
    if as_json:
        echo_json(data)
        return
    state = "built" if report.index_built else "reused"
    click.echo(
        f"corpus: {len(report.corpus)} file(s), {report.corpus_bytes / 1e6:.1f} MB, "
        f"{report.corpus_ngrams:,} {report.n}-grams (index {state})"
    )
    click.echo(report.summary())
    for item in sorted(report.flagged, key=lambda x: -x.longest_span_words)[:10]:
        where = f"{item.where[0]}:{item.where[1]}" if item.where else "?"
        click.echo(
            f"  {item.id}: input {item.input.ratio:.0%}, reference {item.reference.ratio:.0%}; "
            f"longest span {item.longest_span_words} words ({item.span_part}) at {where}"
        )
        click.echo(f'      "{item.longest_span[:100]}"')
    for s in subsets:
        click.echo(str(s))
    if output is not None:
        click.echo(f"wrote {output}")
