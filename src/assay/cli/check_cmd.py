"""``assay check``: what could have gone wrong with a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assay.cli.vocabulary import Command, Renamed, override_arguments


@click.group()
def check() -> None:
    """Responsible-use checks on a task or a run, recorded in the workspace.

    Each check is listed by `assay runs list` and shown in the "Responsible use" section of
    `assay report RUN`, which says "not checked" for every check that was not run.

    \b
      assay check all RUN_ID --against train.jsonl --bib refs.bib
      assay check contamination gsm8k --against train.jsonl
      assay check contamination RUN_ID --against corpus/ -o contamination.json
      assay check citations answers.jsonl --bib refs.bib
      assay check stereotype RUN_ID
      assay check bbq RUN_ID
      assay check counterfactual my-task.yaml -m default --swap gender
      assay check membership my-task.yaml -m default --reference unseen.jsonl
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

    from assay.checks.contamination import check_contamination
    from assay.checks.record import CheckStore
    from assay.checks.runners import clean_subsets, contamination_result
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
        from assay.evals.runs import RunStore

        subsets = clean_subsets(RunStore(workspace()), run, report.clean_ids)
    recorded = CheckStore(workspace()).add(contamination_result(report, subsets, run))
    data = report.to_dict()
    data["check"] = recorded.id
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
    click.echo(f"recorded {recorded.id}")


def _write_json(output: Path, data: Any) -> None:
    import json

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    tmp.replace(output)


def _show(result: Any) -> None:
    color = {"ok": "green", "flagged": "red"}.get(result.status)
    click.secho(f"{result.kind}: {result.status}", fg=color, bold=True, nl=False)
    click.echo(f": {result.headline}")
    for name, est in result.figures.items():
        click.echo(f"  {name} {est.format()}")


@check.command("citations")
@click.argument("outputs")
@click.option("--bib", help="The known works: a BibTeX (.bib) or CSL-JSON (.json) file.")
@click.option("-c", "--collection", help="Or a document collection: its documents' metadata.")
@click.option("--field", "output_field", help="The JSONL/JSON field with the output text.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every reference and its verdict as JSON.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def citations(
    outputs: str,
    bib: str | None,
    collection: str | None,
    output_field: str | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """Find fabricated references in model outputs.

    OUTPUTS is a finished run (its generated outputs), a text file (one output), or a JSONL /
    JSON file of outputs (field `output`, `text`, `answer` or `response`; --field to name
    another). Each reference the model wrote (numbered lists, APA, ACL, IEEE, DOIs) is read and
    matched to the known works by DOI or fuzzy title: found, partly matching (a real title
    with a wrong year, author or DOI) or not found. The fabricated-reference rate comes with a
    95% interval. The result is recorded in the workspace.

    \b
      assay check citations answers.jsonl --bib refs.bib
      assay check citations RUN_ID -c lab          # against the collection's documents
      assay check citations reply.txt --bib refs.json -o verdicts.json
    """
    from assay.checks.citations import check_citations
    from assay.cli.common import echo_json, workspace

    result = check_citations(
        outputs, bib=bib, collection=collection, output_field=output_field, workspace=workspace()
    )
    if output is not None:
        _write_json(output, result.to_dict())
    if as_json:
        echo_json(result.to_dict())
        return
    _show(result)
    shown = [i for i in result.items if i["verdict"] != "found"][:10]
    for item in shown:
        ref = item["reference"]
        why = "; ".join(item["wrong"]) if item["wrong"] else "no known work matches"
        click.echo(f"  {item['verdict']:9} {item['id']}: {ref['raw'][:90]}")
        click.echo(f"            {why}")
    if output is not None:
        click.echo(f"wrote {output}")
    click.echo(f"recorded {result.id}")


@check.command("stereotype")
@click.argument("run_or_model")
@click.option("--data", help="The CrowS-Pairs CSV (default: a bundled sample of 54 pairs).")
@click.option("--limit", type=int, help="Score the first N pairs (the seeded sample eval uses).")
def stereotype(run_or_model: str, data: str | None, limit: int | None) -> None:
    """Stereotype preference (CrowS-Pairs) of a run's model, or of a model.

    The share of sentence pairs where the model finds the more stereotyping sentence likelier
    (0.5: no preference), with its interval, overall and per bias type. Runs offline on a
    bundled sample of 54 pairs (6 per bias type, CC BY-SA 4.0); its intervals are wide, so
    pass the full file with --data for a measurement.

    \b
      assay check stereotype RUN_ID
      assay check stereotype default --data ../shared/data/crows_pairs
    """
    from assay.checks.runners import check_stereotype
    from assay.cli.common import workspace

    result = check_stereotype(run_or_model, data=data, limit=limit, workspace=workspace())
    _show(result)
    for item in result.items:
        click.echo(
            f"  {item['id']:20} {item['pct_stereotype']:.2f} "
            f"[{item['ci_low']:.2f}, {item['ci_high']:.2f}] ({item['pairs']} pairs)"
        )
    click.echo(f"recorded {result.id} (pairs scored in run {result.config['eval_run']})")


@check.command("bbq")
@click.argument("run_or_model")
@click.option("--data", help="BBQ's data/ folder (default: a bundled sample of 96 items).")
@click.option("--limit", type=int, help="Score a seeded sample of N items (the one eval uses).")
def bbq(run_or_model: str, data: str | None, limit: int | None) -> None:
    """Bias in question answering (BBQ) of a run's model, or of a model.

    Questions about two people of different social groups, in ambiguous contexts (the right
    answer is "unknown") and disambiguated ones. The bias scores of Parrish et al. (2022),
    -1..1 (0: none; above: answers follow the stereotype), with intervals, overall and per
    category, beside the accuracy in each context. Runs offline on a bundled sample (6
    categories x 16 items, CC BY 4.0); pass the full data with --data for a measurement.

    \b
      assay check bbq RUN_ID
      assay check bbq default --data ../shared/data/bbq/data --limit 1000
    """
    from assay.checks.bbq import check_bbq
    from assay.cli.common import workspace

    result = check_bbq(run_or_model, data=data, limit=limit, workspace=workspace())
    _show(result)
    for item in result.items:
        click.echo(
            f"  {item['id']:20} bias ambiguous {item.get('bbq_bias_ambig', float('nan')):+.2f}, "
            f"disambiguated {item.get('bbq_bias_disambig', float('nan')):+.2f}"
        )
    click.echo(f"recorded {result.id} (items scored in run {result.config['eval_run']})")


@check.command("counterfactual")
@click.argument("task_or_run")
@override_arguments
@click.option("-m", "--model", help="The model (default: a run's own model; else `default`).")
@click.option(
    "--swap",
    default="gender",
    show_default=True,
    help="A swap list: built-in `gender` or `names`, or a YAML file (groups, swaps).",
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="A row field to rewrite (repeatable; default: the fields the prompt, the choices "
    "and the target use).",
)
@click.option("--metric", help="The per-item metric to compare (default: the task's first).")
@click.option("--limit", type=int, help="Probe a seeded sample of N items (the one eval uses).")
@click.option(
    "--max-change-rate",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="Flag a swap whose answers change more often than this (the whole interval above it).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result with every item as JSON.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def counterfactual(
    task_or_run: str,
    overrides: tuple[str, ...],
    sets: tuple[str, ...],
    model: str | None,
    swap: str,
    fields: tuple[str, ...],
    metric: str | None,
    limit: int | None,
    max_change_rate: float,
    output: Path | None,
    as_json: bool,
) -> None:
    """Does the model answer differently when only the group of people changes?

    Every item of TASK_OR_RUN (a task with its KEY=VALUE overrides, or a finished run: its
    task and model) that mentions a term of the swap list is rewritten with one group's terms
    exchanged for the other's (she <-> he, mother <-> father, Emily <-> Lakisha; whole words,
    case kept: Mother -> Father, MOTHER -> FATHER). The original and the swapped items are
    evaluated on the model, then paired: the difference in the metric (exact McNemar for
    right/wrong scores, else a paired bootstrap; Holm-adjusted across the list's swaps), the
    rate at which the answer changes, and the items that changed most. Flagged when the metric
    moves (Holm p < 0.05) or the answers change too often (--max-change-rate). Recorded as a
    check; a run's check shows in its report.

    \b
    A swap list in YAML (terms aligned by position):
      groups:
        female: [she, her, mother]
        male: [he, his, father]
      swaps: [[female, male]]
    \b
      assay check counterfactual my-task.yaml -m default --swap gender --limit 200
      assay check counterfactual RUN_ID --swap names
      assay check counterfactual bbq dataset.options.path=BBQ/data --swap my-list.yaml
    """
    from assay.checks.counterfactual import check_counterfactual
    from assay.cli.common import echo_json, workspace
    from assay.cli.eval_cmd import parse_sets
    from assay.evals.task import builtin_tasks, load_task

    changes = parse_sets(overrides + sets)
    subject: Any = task_or_run
    if task_or_run in builtin_tasks() or Path(task_or_run).is_file():
        subject = load_task(task_or_run)
        subject = subject.with_overrides(**changes) if changes else subject
        model = model or "default"
    elif changes:
        raise click.UsageError("KEY=VALUE overrides apply to a task, not to a run")
    result = check_counterfactual(
        subject,
        model,
        swap=swap,
        fields=fields,
        metric=metric,
        limit=limit,
        max_change_rate=max_change_rate,
        workspace=workspace(),
        on_status=lambda m: click.echo(m, err=True),
    )
    if output is not None:
        _write_json(output, result.to_dict())
    if as_json:
        echo_json(result.to_dict())
        return
    _show(result)
    for test in result.config.get("tests", []):
        if test["p_holm"] is not None:
            click.echo(
                f"  {test['swap']}: {test['n']} items, {test['test']}, p={test['p']:.3g}, "
                f"Holm p={test['p_holm']:.3g}"
            )
    moved = [i for i in result.items if i["changed"] or i["score_swapped"] != i["score_original"]]
    if moved:
        click.echo("items that changed most:")
    for item in moved[:10]:
        click.echo(
            f"  {item['id']} ({item['swap']}): score {item['score_original']:g} -> "
            f"{item['score_swapped']:g}, shift {item['shift']:.2f}"
        )
        click.echo(f"      {item['output_original'][:70]!r} -> {item['output_swapped'][:70]!r}")
    if output is not None:
        click.echo(f"wrote {output}")
    click.echo(f"recorded {result.id}")


@check.command("membership")
@click.argument("task_or_run")
@override_arguments
@click.option("-m", "--model", help="The model (default: a run's own model; else `default`).")
@click.option(
    "--reference",
    required=True,
    help="Texts the model has NOT seen, of the same kind as the items (JSONL/CSV/JSON rows with "
    "a `text` field, or the task's own fields).",
)
@click.option(
    "--k",
    "k_percent",
    type=click.FloatRange(0, 100, min_open=True),
    default=20.0,
    show_default=True,
    help="The percentage of least likely tokens averaged.",
)
@click.option("--field", help="The reference's text field (default: text).")
@click.option("--limit", type=int, help="Score a seeded sample of N items (the one eval uses).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result with every text's scores as JSON.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def membership(
    task_or_run: str,
    overrides: tuple[str, ...],
    sets: tuple[str, ...],
    model: str | None,
    reference: str,
    k_percent: float,
    field: str | None,
    limit: int | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """Do the task's items look like data the model was trained on?

    For data you cannot inspect (a model's pretraining): each item's text (the fields its
    prompt uses, then its reference) and each text of --reference, a set you know the model
    has not seen (published after its training cut-off, say), are scored with Min-K% Prob
    (Shi et al. 2023: the mean log-probability of the k% least likely tokens) and Min-K%++
    (Zhang et al. 2024: the same over log-probabilities standardised by the model's
    next-token distribution). Reported: both distributions, and the AUROC of telling items
    from reference (0.5: alike; above: the items look seen) with a bootstrap interval.
    Needs a local transformers model (default, hf:PATH, run:ID). Recorded as a check.

    \b
    The reference decides what the numbers mean: texts of another length or style separate
    from the items on any model. Use unseen texts of the same kind.
    \b
      assay check membership gsm8k -m default --reference new-problems.jsonl --limit 200
      assay check membership RUN_ID --reference unseen.jsonl --k 10
    """
    from assay.checks.membership import check_membership
    from assay.cli.common import echo_json, workspace
    from assay.cli.eval_cmd import parse_sets
    from assay.evals.task import builtin_tasks, load_task

    changes = parse_sets(overrides + sets)
    subject: Any = task_or_run
    if task_or_run in builtin_tasks() or Path(task_or_run).is_file():
        subject = load_task(task_or_run)
        subject = subject.with_overrides(**changes) if changes else subject
    elif changes:
        raise click.UsageError("KEY=VALUE overrides apply to a task, not to a run")
    result = check_membership(
        subject,
        model,
        reference=reference,
        k=k_percent / 100,
        field=field,
        limit=limit,
        workspace=workspace(),
        on_status=lambda m: click.echo(m, err=True),
    )
    if output is not None:
        _write_json(output, result.to_dict())
    if as_json:
        echo_json(result.to_dict())
        return
    _show(result)
    if output is not None:
        click.echo(f"wrote {output}")
    click.echo(f"recorded {result.id}")


@check.command("all")
@click.argument("run")
@click.option("--against", multiple=True, help="Training data for the contamination check.")
@click.option("--bib", help="A bibliography (.bib, CSL-JSON) for the citation check.")
@click.option("-c", "--collection", help="Or a collection, for the citation check.")
@click.option("--bias-data", help="The CrowS-Pairs CSV (default: the bundled 54-pair sample).")
@click.option("--judge", help="The judge of a RAG run's claims (default: the run's model).")
@click.option("--bbq-data", help="BBQ's data/ folder (default: the bundled 96-item sample).")
@click.option("--swap", help="A swap list for counterfactual probes: gender, names or a YAML file.")
@click.option("--reference", help="Texts the model has not seen, for membership signals.")
@click.option("--limit", type=int, help="Items for the checks that run a model.")
def all_(
    run: str,
    against: tuple[str, ...],
    bib: str | None,
    collection: str | None,
    bias_data: str | None,
    judge: str | None,
    bbq_data: str | None,
    swap: str | None,
    reference: str | None,
    limit: int | None,
) -> None:
    """Run every check that applies to RUN and record them.

    Contamination (with --against), membership signals (with --reference), stereotype
    preference and BBQ bias scores of the run's model, counterfactual probes of its task (with
    --swap), fabricated references (with --bib or -c) and, for a RAG run, each claim of its
    answers judged against the passages it was shown. A check that needs something not given
    or that does not apply (no generated text) is listed as not checked, with why;
    `assay report RUN` shows the same.

    \b
      assay check all RUN_ID
      assay check all RUN_ID --against finetune/train.jsonl --bib refs.bib --swap gender
      assay check all RAG_RUN_ID --judge openai:gpt-4o-mini --limit 50
    """
    from assay.checks.record import Skip
    from assay.checks.runners import check_all
    from assay.cli.common import workspace

    def show(result: Any) -> None:
        if isinstance(result, Skip):
            click.echo(f"{result.kind}: not checked: {result.reason}")
        else:
            _show(result)

    check_all(
        run,
        against=against,
        bib=bib,
        collection=collection,
        bias_data=bias_data,
        judge=judge,
        limit=limit,
        bbq_data=bbq_data,
        swap=swap,
        reference=reference,
        workspace=workspace(),
        on_result=show,
    )
    click.echo(f"see the report: assay report {run}")
