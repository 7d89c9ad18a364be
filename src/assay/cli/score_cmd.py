"""``assay score``: perplexity of texts, or the log-probability of each token of a continuation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="MODEL... [TEXT]")
@click.option(
    "-i",
    "--input",
    "input_path",
    default=None,
    help="Texts to score: .txt (one per paragraph, see --split), or .jsonl/.csv rows with "
    "'text' and an optional 'id'.",
)
@click.option(
    "--split",
    type=click.Choice(["paragraphs", "lines"]),
    default="paragraphs",
    show_default=True,
    help="How a .txt input splits into texts: at blank lines, or one text per line.",
)
@click.option("--context", default=None, help="Score --continuation token by token after this.")
@click.option("--continuation", default=None, help="The text scored after --context.")
@click.option(
    "-k", "--top-k", default=5, show_default=True, help="Alternatives shown per token (0: none)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the results to a .json or .csv file.",
)
def score(
    args: tuple[str, ...],
    input_path: str | None,
    split: str,
    context: str | None,
    continuation: str | None,
    top_k: int,
    as_json: bool,
    output: Path | None,
) -> None:
    """Score text with one or more models: perplexity, or per-token log-probabilities.

    \b
    Perplexity of a text, or of every text in a file (per text, and over all of them,
    token-weighted; long texts are scored in context-sized windows):
      assay score default "The cat sat on the mat."
      assay score default --input held_out.txt -o ppl.csv
    \b
    Several models on the same texts: each one's perplexity, and each later model against
    the first, paired text by text (mean log-perplexity difference, bootstrap interval,
    p-value; at least 10 texts). Before and after finetuning:
      assay score default run:RUN_ID --input held_out.txt
    \b
    Each token of a continuation after a context, with the model's top alternatives:
      assay score default --context "The capital of France is" --continuation " Paris"
    \b
    Inputs: a .txt file holds one text per paragraph (blank lines between them; --split lines
    for one per line), a .jsonl (or .csv) file one per row in its "text" field (ids from
    "id", else the line number). Models that give no log-probabilities (chat-only APIs) are refused.
    """
    from assay.errors import UserError

    if (context is None) != (continuation is None):
        raise UserError("--context and --continuation go together: give both")
    if output is not None and output.suffix.lower() not in (".json", ".csv"):
        raise UserError(
            f"cannot write scores to '{output.name}'", hint="use a .json or .csv file name"
        )
    models = list(args)
    text: str | None = None
    if input_path is None and continuation is None:
        if len(models) < 2:
            raise UserError(
                "nothing to score: give a model and a text, --input FILE, or "
                "--context and --continuation",
                hint='assay score default "The cat sat on the mat."',
            )
        text = models.pop()
    elif input_path is not None and continuation is not None:
        raise UserError("give either --input or --context/--continuation, not both")
    if continuation is not None:
        assert context is not None
        data, table, rows = _continuation(models, context, continuation, top_k)
    else:
        data, table, rows = _perplexity(models, text, input_path, split)
    if as_json:
        from assay.cli.common import echo_json

        echo_json(data)
    else:
        click.echo(table)
    if output is not None:
        _write(output, data, rows)
        click.echo(f"wrote {output}", err=True)


def _perplexity(
    models: list[str], text: str | None, input_path: str | None, split: str
) -> tuple[dict[str, Any], str, str]:
    from assay.cli.common import load_model
    from assay.scoring import compare_perplexity, read_texts
    from assay.scoring import score as score_texts
    from assay.scoring.display import (
        comparison_dict,
        comparison_line,
        perplexity_csv,
        perplexity_table,
    )
    from assay.stats.paired import DEFAULT_MIN_SHARED

    texts = [("1", text)] if text is not None else read_texts(input_path or "", split=split)  # type: ignore[arg-type]
    results = [replace(score_texts(load_model(m), texts, progress=True), model=m) for m in models]
    lines = [perplexity_table(results)]
    comparisons = []
    for later in results[1:]:
        if len(texts) < DEFAULT_MIN_SHARED:
            lines.append(
                f"{later.model} vs {results[0].model}: no paired comparison over "
                f"{len(texts)} text(s); it needs at least {DEFAULT_MIN_SHARED}"
            )
            continue
        comparison = compare_perplexity(later, results[0])
        comparisons.append(comparison_dict(later.model, results[0].model, comparison))
        lines.append(comparison_line(later.model, results[0].model, comparison))
    data = {
        "kind": "perplexity",
        "texts": [{"id": i, "text": t} for i, t in texts],
        "models": [r.to_dict() for r in results],
        "comparisons": comparisons,
    }
    return data, "\n".join(lines), perplexity_csv(results)


def _continuation(
    models: list[str], context: str, continuation: str, top_k: int
) -> tuple[dict[str, Any], str, str]:
    from assay.cli.common import load_model
    from assay.scoring import score_continuation
    from assay.scoring.display import continuation_csv, continuation_table

    scores = [
        replace(score_continuation(load_model(m), context, continuation, top_k=top_k), model=m)
        for m in models
    ]
    data = {"kind": "continuation", "models": [s.to_dict() for s in scores]}
    table = "\n\n".join(continuation_table(s) for s in scores)
    return data, table, continuation_csv(scores)


def _write(path: Path, data: dict[str, Any], csv_text: str) -> None:
    from assay.rag.files import atomic_write

    if path.suffix.lower() == ".csv":
        payload = csv_text.encode()
    else:
        payload = (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(payload))


__all__ = ["score"]
