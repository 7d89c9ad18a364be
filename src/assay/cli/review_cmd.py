"""``assay review``: human review queues over runs, in the terminal (the web app: ``assay ui``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click


@click.group()
def review() -> None:
    """Review a run's outputs by hand: queues, labels, agreement, metrics.

    \b
    assay review create RUN --n 50 --rubric rubric.yaml --stratify target
    assay review next QUEUE --reviewer ada      # label in the terminal (resumes)
    assay review agreement QUEUE --judge default
    assay review export QUEUE -o labels.csv
    """


@review.command()
@click.argument("run")
@click.argument("run_b", required=False)
@click.option("--n", "n", default=50, show_default=True, help="Items to review.")
@click.option("--rubric", required=True, help="A rubric YAML file, or a judge rubric name.")
@click.option(
    "--stratify",
    default=None,
    help="Sample evenly across this sample field (target, scores.METRIC).",
)
@click.option("--blind", is_flag=True, help="With RUN_B: hide run names, order drawn per item.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def create(
    run: str,
    run_b: str | None,
    n: int,
    rubric: str,
    stratify: str | None,
    blind: bool,
    seed: int,
    as_json: bool,
) -> None:
    """A review queue of N seeded items of RUN (or pairs of RUN and RUN_B: which is better?).

    \b
    Example:
      assay review create sums-2024 --n 50 --rubric rubric.yaml --stratify target
      assay review create RUN_A RUN_B --n 40 --rubric correctness --blind

    \b
    A rubric is YAML, labels (worst first) or a scale, each point described:
      name: correct
      instructions: Is the answer correct, given the reference?
      labels: {wrong: differs from the reference, right: agrees with it}
    or  scale: [1, 5]  with  descriptions: {1: useless, 5: excellent}
    The judge rubrics (correctness, faithfulness, helpfulness) load too.
    """
    from assay.cli.common import echo_json, workspace
    from assay.review import create_queue

    ws = workspace()
    q = create_queue(
        run, run_b, n=n, rubric=rubric, stratify=stratify, blind=blind, seed=seed, workspace=ws
    )
    if as_json:
        echo_json(q.to_dict())
        return
    what = (
        f"pairs of {q.run_a} and {q.run_b}" + (" (blind)" if q.blind else "")
        if q.pairwise
        else q.run_a
    )
    click.echo(f"review queue {q.id}: {q.n_items} items of {what}, rubric '{q.rubric.name}'")
    click.echo(f"label them with `assay review next {q.id}` or in `assay ui`")


@review.command(name="list")
def list_() -> None:
    """Review queues with their progress."""
    from assay.cli.common import workspace
    from assay.review import ReviewStore

    store = ReviewStore(workspace())
    queues = store.queues()
    if not queues:
        click.echo("no review queues yet: assay review create RUN --rubric rubric.yaml")
    for q in queues:
        done = (
            ", ".join(f"{r} {k}/{q.n_items}" for r, k in store.progress(q.id).items())
            or "not started"
        )
        click.echo(f"{q.id:34} {q.rubric.name:14} {q.run_a:34} {done}")


def _show(q: Any, item: Any, samples: dict[str, Any]) -> None:
    from assay.ui.views import item_view

    view = item_view(q, item, samples)
    click.echo(click.style(f"\nitem {item.pos + 1}/{q.n_items}", bold=True))
    click.echo(click.style("input:", dim=True) + f"\n{view['input']}")
    if view.get("target") not in (None, ""):
        click.echo(click.style("reference: ", dim=True) + str(view["target"]))
    for side in view["outputs"]:
        click.echo(click.style(f"{side['label']}:", dim=True) + f"\n{side['output']}")


@review.command(name="next")
@click.argument("queue")
@click.option(
    "--reviewer", default=lambda: os.environ.get("USER", ""), help="Your name (default $USER)."
)
def next_(queue: str, reviewer: str) -> None:
    """Label QUEUE's items in the terminal, from the first you have not labelled.

    Type a label (or its number), `s` to skip, `q` to stop; a comment may follow after `#`.

    \b
    Example:
      assay review next review-20240101-1200-ab12 --reviewer ada
    """
    from assay.cli.common import workspace
    from assay.errors import UserError
    from assay.review import ReviewStore
    from assay.ui.views import key_help, run_samples, typed_label

    ws = workspace()
    store = ReviewStore(ws)
    q = store.get(queue)
    samples = run_samples(ws, q)
    choices = key_help(q)
    pos = store.next_pos(q.id, reviewer)
    while pos is not None:
        item = store.item(q.id, pos)
        _show(q, item, samples)
        answer = click.prompt(f"label ({choices}; s skip, q quit)", default="", show_default=False)
        text, _, comment = answer.partition("#")
        text = text.strip()
        if text == "q":
            break
        if text == "s" or not text:
            pos = pos + 1 if pos + 1 < q.n_items else None
            continue
        try:
            store.label(q, pos, reviewer, typed_label(q, item, text), comment.strip())
        except UserError as exc:
            click.echo(f"error: {exc.message} ({exc.hint})", err=True)
            continue
        pos = store.next_pos(q.id, reviewer)
    done = store.progress(q.id).get(reviewer, 0)
    click.echo(f"{reviewer}: {done}/{q.n_items} labelled")


@review.command()
@click.argument("queue")
@click.argument("item", type=int)
@click.argument("label")
@click.option(
    "--reviewer", default=lambda: os.environ.get("USER", ""), help="Your name (default $USER)."
)
@click.option("--comment", default="")
def label(queue: str, item: int, label: str, reviewer: str, comment: str) -> None:
    """Give ITEM (numbered from 1) of QUEUE the label LABEL, e.g. `assay review label Q 3 right`.

    LABEL is a rubric label or its key; for a pairwise queue 1 (the output shown first is
    better), 2 (the second) or 3 (tie).
    """
    from assay.cli.common import workspace
    from assay.review import ReviewStore
    from assay.ui.views import typed_label

    store = ReviewStore(workspace())
    q = store.get(queue)
    value = store.label(
        q, item - 1, reviewer, typed_label(q, store.item(q.id, item - 1), label), comment
    )
    click.echo(f"item {item}: {value} ({reviewer})")


@review.command(name="agreement")
@click.argument("queue")
@click.option(
    "--judge", "judge_model", default=None, help="Also grade the items with this judge model."
)
@click.option(
    "--record/--no-record",
    default=True,
    show_default=True,
    help="Store the review metric in the run.",
)
@click.option("--json", "as_json", is_flag=True)
def agreement_(queue: str, judge_model: str | None, record: bool, as_json: bool) -> None:
    """Agreement between reviewers (and a judge) with intervals, and the review metric.

    \b
    Example:
      assay review agreement review-20240101-1200-ab12 --judge openai:gpt-4o-mini
    """
    from assay.cli.common import echo_json, workspace
    from assay.review import ReviewStore, record_metric, summarise
    from assay.review.results import judge_labels, metric_name, reviewer_agreement

    ws = workspace()
    store = ReviewStore(ws)
    q = store.get(queue)
    summary = summarise(q, ws)
    judged = None
    if judge_model:
        items = store.items(q.id)
        judged = reviewer_agreement(q, items, judge_labels(q, items, judge_model, ws))
    if record:
        record_metric(q, ws)
    if as_json:
        echo_json({**summary.to_dict(), "with_judge": judged.to_dict() if judged else None})
        return
    click.echo(
        f"{q.id}: "
        + (
            ", ".join(f"{r} {k}/{q.n_items}" for r, k in summary.progress.items())
            or "no labels yet"
        )
    )
    if summary.metric is not None:
        click.echo(
            f"{metric_name(q)}: {summary.metric.format()}"
            + (" (recorded in the run)" if record else "")
        )
    click.echo(
        str(summary.agreement)
        if summary.agreement
        else "agreement: needs two reviewers on the same items"
    )
    if judged is not None:
        click.echo("with the judge:\n" + str(judged))


@review.command()
@click.argument("queue")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV file (default stdout).",
)
def export(queue: str, output: Path | None) -> None:
    """Every label of QUEUE as CSV: item, sample, reviewer, label, comment, time."""
    from assay.cli.common import workspace
    from assay.review import ReviewStore, export_csv

    store = ReviewStore(workspace())
    q = store.get(queue)
    text = export_csv(q, store.items(q.id))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
