"""``assay ask``: answer a question from a document collection, citing pages."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from assay.cli.common import echo_json, workspace

if TYPE_CHECKING:
    from assay.rag.answer import Answer


def _print_sources(result: Answer, show_sources: bool) -> None:
    if result.citations:
        click.echo("")
        click.echo("Citations:")
        for c in result.citations:
            click.echo(f"  {c.anchor}" + (f"  {c.title}" if c.valid and c.title else ""))
    if result.invalid_citations:
        nums = ", ".join(f"[{n}]" for n in result.invalid_citations)
        click.echo(f"  warning: the answer cites {nums}, which no source has", err=True)
    if show_sources:
        shown = result.cited_sources or result.sources
        if shown:
            click.echo("")
            click.echo("Sources:" if result.cited_sources else "Sources (none cited):")
        for s in shown:
            click.echo(f"[{s.n}] {s.label}" + ("  (truncated)" if s.truncated else ""))
            snippet = " ".join(s.text.split())
            click.echo("    " + (snippet[:600] + ("..." if len(snippet) > 600 else "")))


@click.command("ask")
@click.argument("question")
@click.option("-c", "--collection", default="default", show_default=True, help="Collection name.")
@click.option("-m", "--model", "model_address", default="default", show_default=True)
@click.option(
    "-k", "k", type=int, default=5, show_default=True, help="How many chunks to retrieve."
)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "dense", "bm25", "mmr"]),
    default="hybrid",
    show_default=True,
)
@click.option("--max-tokens", type=int, default=256, show_default=True, help="Answer length cap.")
@click.option(
    "--min-relevance",
    type=float,
    default=None,
    help="Cosine floor below which no chunk counts as evidence (default 0.2; -1 turns it off).",
)
@click.option(
    "--rerank", is_flag=True, help="Let the model score the retrieved chunks (0-10) first."
)
@click.option("--show-sources", is_flag=True, help="Print the cited passages under the answer.")
@click.option("--no-stream", is_flag=True, help="Print the answer when it is complete.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def ask(
    question: str,
    collection: str,
    model_address: str,
    k: int,
    mode: str,
    max_tokens: int,
    min_relevance: float | None,
    rerank: bool,
    show_sources: bool,
    no_stream: bool,
    as_json: bool,
) -> None:
    """Answer QUESTION from the documents of a collection, with numbered citations.

    The answer cites sources as [1] or [2, p. 3]; each maps to a document and page. When the
    documents do not hold the answer, it says so instead (and, if no chunk is relevant at all,
    without calling the model).

    \b
    Examples:
      assay ask "What corpus do the authors use?" -c papers -m default --show-sources
      assay ask "Which baselines are compared?" -c papers --json
    """
    from assay.rag.answer import DEFAULT_MIN_RELEVANCE
    from assay.rag.answer import ask as ask_
    from assay.rag.collection import Collection

    if k < 1:
        raise click.BadParameter("must be at least 1", param_hint="-k")
    floor = DEFAULT_MIN_RELEVANCE if min_relevance is None else min_relevance
    ws = workspace()
    stream = not (no_stream or as_json)

    def on_token(piece: str) -> None:
        click.echo(piece, nl=False)
        sys.stdout.flush()

    result = ask_(
        question,
        collection=Collection(ws, collection),
        # loaded only when needed: an unknown or empty collection fails first, and a question
        # with no relevant chunk is answered without the model
        model=model_address,
        k=k,
        mode=mode,
        max_tokens=max_tokens,
        min_relevance=None if floor < 0 else floor,
        rerank_with_model=rerank,
        on_token=on_token if stream else None,
        workspace=ws,
    )
    if as_json:
        echo_json(result.to_dict())
        return
    if stream:
        click.echo("")
    else:
        click.echo(result.text)
    _print_sources(result, show_sources)
    note = "; model not called (no relevant chunk)" if not result.called_model else ""
    click.echo(
        f"{len(result.sources)} sources ({result.dropped} dropped to fit), "
        f"{result.prompt_tokens} tokens in, {result.completion_tokens} out, "
        f"{result.latency_s:.2f} s{note}",
        err=True,
    )
