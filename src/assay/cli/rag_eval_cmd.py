"""``assay docs check-answers``, ``synth`` and ``recall``: evaluating the answers and the
retrieval of a collection (registered on the ``docs`` group)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from assay.cli.common import echo_json, workspace


def read_answers(path: Path) -> list[dict[str, Any]]:
    """Answers from JSONL, a JSON list, or JSON objects one after another (what
    ``assay ask --json >> answers.json`` accumulates)."""
    from assay.errors import UserError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    decoder = json.JSONDecoder()
    rows: list[dict[str, Any]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
        rows.extend(value if isinstance(value, list) else [value])
    if not rows:
        raise UserError(f"{path} holds no answers")
    return rows


@click.command("check-answers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--judge", default="default", show_default=True, help="Model that gives verdicts.")
@click.option(
    "--claims",
    type=click.Choice(["sentences", "llm"]),
    default="sentences",
    show_default=True,
    help="Split answers by sentence, or let the judge write atomic claims.",
)
@click.option(
    "--uncited",
    type=click.Choice(["all", "skip"]),
    default="all",
    show_default=True,
    help="Judge claims without a citation against all sources, or leave them unjudged.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the full report.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_answers(
    file: Path, judge: str, claims: str, uncited: str, output: Path | None, as_json: bool
) -> None:
    """Judge every claim of cited answers against the passages they cite.

    FILE holds the JSON of `assay ask --json` (one object after another, JSONL or a list; any
    objects with `answer` and numbered `sources` will do). Prints per-claim verdicts (supported / contradicted / not_enough_info),
    faithfulness, citation precision and coverage per answer, and their means with 95% intervals.

    \b
      assay ask "What corpus is used?" -c papers --json >> answers.json
      assay docs check-answers answers.json --judge openai:gpt-4o-mini -o check.json
    """
    from assay.cli.ask_cmd import print_check
    from assay.rag.faithfulness import check_faithfulness

    rows = read_answers(file)
    bar = _bar(as_json, "judging", "verdict")
    report = check_faithfulness(
        rows,
        judge,
        splitter="llm" if claims == "llm" else "sentences",
        uncited="skip" if uncited == "skip" else "all",
        workspace=workspace(),
        on_progress=bar.update_to if bar is not None else None,
    )
    if bar is not None:
        bar.close()
    data = report.to_dict()
    if output is not None:
        write_json(output, data)
    if as_json:
        echo_json(data)
        return
    for i, answer in enumerate(report.answers, start=1):
        click.secho(f"answer {i}: {answer.answer.question or answer.answer.text[:60]}", bold=True)
        print_check(answer)
        click.echo("")
    click.secho(f"{len(report.answers)} answers, judge {report.judge}", bold=True)
    for name, est in report.summary.items():
        click.echo(f"  {name:28} {est}")


@click.command("synth")
@click.option("-c", "--collection", default="default", show_default=True, help="Collection name.")
@click.option("-m", "--model", "model_address", default="default", show_default=True)
@click.option("-n", "n", type=int, default=50, show_default=True, help="Questions to write.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="JSONL file.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the chunk order.")
@click.option("--min-tokens", type=int, default=24, show_default=True, help="Skip shorter chunks.")
@click.option(
    "--near-duplicate",
    type=float,
    default=0.9,
    show_default=True,
    help="Cosine similarity at which two questions count as the same (0 turns it off).",
)
@click.option(
    "--max-chunks",
    type=int,
    default=None,
    help="Chunks to try in this run at most (default: 5 x N), so a weak model stops early.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress on stderr: a bar on a terminal, a line now and then in a log "
    "(default: on, except with --json).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def synth(
    collection: str,
    model_address: str,
    n: int,
    output: Path,
    seed: int,
    min_tokens: int,
    near_duplicate: float,
    max_chunks: int | None,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Write N question-answer pairs from the chunks of a collection, one per chunk.

    Each row records the chunk, document and page its question came from, so the file is an
    evaluation dataset (input: question, target: answer) and retrieval relevance judgements
    (`assay docs recall`). Run the same command again to resume or to add more (larger -n).

    \b
      assay docs synth -c papers -m openai:gpt-4o-mini -n 50 -o qa.jsonl
      assay docs recall qa.jsonl -c papers
    """
    from assay.rag.synthetic import synthesize_qa

    show = not as_json if progress is None else progress
    report = synthesize_qa(
        collection,
        model_address,
        n,
        out=output,
        seed=seed,
        min_tokens=min_tokens,
        near_duplicate=near_duplicate if near_duplicate > 0 else None,
        max_chunks=max_chunks,
        progress=show,
        workspace=workspace(),
    )
    if as_json:
        echo_json(report.to_dict())
        return
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"{output}: {report.total} questions ({report.written} new; skipped "
        f"{report.duplicates} duplicates, {report.near_duplicates} near-duplicates, "
        f"{report.generic} about the passage itself, {report.invalid} invalid replies; "
        f"{report.resumed} chunks done before)"
    )
    if report.exhausted:
        click.echo(f"the collection has no more usable chunks: fewer than {n} questions", err=True)
    if report.gave_up:
        click.echo(
            f"stopped after trying {report.tried} chunks with {report.total} of {n} questions: "
            f"most replies were rejected (see {report.rejected_path}); use a stronger model, or "
            "--max-chunks to try more; rerunning continues where this stopped",
            err=True,
        )


@click.command("calibrate")
@click.option("-c", "--collection", default="default", show_default=True, help="Collection name.")
@click.option(
    "--outside",
    required=True,
    help="A collection of other documents on the same topic: its questions are the "
    "unanswerable ones.",
)
@click.option(
    "-m",
    "--model",
    "model_address",
    default="default",
    show_default=True,
    help="Model that writes the questions.",
)
@click.option("-n", "n", type=int, default=30, show_default=True, help="Questions of each kind.")
@click.option("-k", "k", type=int, default=5, show_default=True, help="Passages retrieved.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for questions and split."
)
@click.option("--dry-run", is_flag=True, help="Measure and report; do not store the threshold.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def calibrate(
    collection: str,
    outside: str,
    model_address: str,
    n: int,
    k: int,
    seed: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Choose the --min-support at which `assay ask` abstains, on questions measured for it.

    A model writes N questions from the collection's own passages (answerable) and N from the
    documents of --outside, other papers on the same topic that are not in the collection
    (unanswerable; one whose answer is in the collection after all is dropped). Each question's
    support score is computed as `assay ask` computes it; the threshold that best separates the
    two kinds is chosen on half of the questions and its abstention precision and recall are
    reported on the other half, beside the built-in default. The threshold is stored with the
    collection and `assay ask -c COLLECTION` uses it unless --min-support is given. The
    questions are kept under the workspace's calibration/ folder: a rerun reuses them.

    \b
      assay docs add papers/ -c papers
      assay docs add other-papers/ -c papers-outside
      assay docs calibrate -c papers --outside papers-outside -n 30
    """
    from assay.rag.calibrate import calibrate_abstention

    if n < 1:
        raise click.BadParameter("must be at least 1", param_hint="-n")
    result = calibrate_abstention(
        collection,
        outside,
        model_address,
        n=n,
        k=k,
        seed=seed,
        save=not dry_run,
        progress=not as_json,
        workspace=workspace(),
    )
    if as_json:
        echo_json(result.to_dict())
        return
    for line in result.summary():
        click.echo(line)
    if not dry_run:
        click.echo(
            f"stored: `assay ask -c {collection}` now abstains below {result.min_support:.2f}"
        )


@click.command("recall")
@click.argument("qa", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-c", "--collection", default="default", show_default=True, help="Collection name.")
@click.option(
    "--mode",
    "modes",
    type=click.Choice(["bm25", "dense", "hybrid", "mmr"]),
    multiple=True,
    help="Search modes to measure (default: bm25, dense, hybrid).",
)
@click.option(
    "--level",
    type=click.Choice(["chunk", "document"]),
    default="chunk",
    show_default=True,
    help="Count a hit on the question's chunk, or anywhere in its document.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def recall(qa: Path, collection: str, modes: tuple[str, ...], level: str, as_json: bool) -> None:
    """Recall@1/5/10, MRR and nDCG@10 of a collection on a synthetic QA file (assay docs synth)."""
    from assay.rag.synthetic import retrieval_recall

    results = retrieval_recall(
        collection,
        qa,
        modes=modes or ("bm25", "dense", "hybrid"),
        level=level,
        workspace=workspace(),
    )
    if as_json:
        echo_json(results)
        return
    names = [k for k in next(iter(results.values())) if k != "n"]
    click.echo(f"{'mode':8} " + " ".join(f"{k:>10}" for k in names))
    for mode, row in results.items():
        click.echo(f"{mode:8} " + " ".join(f"{row[k]:10.3f}" for k in names))
    click.echo(f"{int(next(iter(results.values()))['n'])} questions, {level} level", err=True)


def write_json(path: Path, data: Any) -> None:
    """Write through a temporary file and rename it: never a half-written report."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Progress:
    """Progress reported as "done of total so far" (the total grows as work is found)."""

    def __init__(self, desc: str, unit: str) -> None:
        from assay.progress import progress_bar

        self._bar = progress_bar(0, desc, unit, leave=False)

    def update_to(self, done: int, total: int) -> None:
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def _bar(quiet: bool, desc: str, unit: str) -> _Progress | None:
    # on a terminal a bar, elsewhere a line now and then (assay.progress)
    return None if quiet else _Progress(desc, unit)


__all__ = ["check_answers", "read_answers", "recall", "synth"]
