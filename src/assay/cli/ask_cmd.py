"""``assay ask``: answer a question from a document collection, citing pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from assay.cli.common import echo_json, usage_line, workspace

if TYPE_CHECKING:
    from assay.rag.answer import Answer
    from assay.rag.faithfulness import AnswerCheck


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


def print_check(check: AnswerCheck) -> None:
    """Per-claim verdicts and the answer's faithfulness figures."""
    click.echo("")
    click.echo("Claims:")
    if not check.claims:
        click.echo("  (no claims to check)")
    for c in check.claims:
        verdict = c.verdict or ("not judged" if c.error is None else "judge failed")
        cites = ", ".join(f"[{n}]" for n in c.claim.citations) or "no citation"
        by = f"; supported by [{c.source}]" if c.verdict == "supported" and c.source else ""
        click.echo(f"  {verdict:16} {c.claim.text}  ({cites}{by})")
        bad = [x for x in c.citations if x.verdict not in (None, "supported")]
        for x in bad:
            click.echo(f"  {'':16}   [{x.n}] {x.verdict}: {x.reason}")
    figures = []
    for name, value in check.metrics.items():
        label = name.replace("_", " ")
        figures.append(f"{label} {value:.2f}" if value is not None else f"{label} n/a")
    click.echo("  " + " · ".join(figures))
    if check.n_failed:
        click.echo(f"  warning: {check.n_failed} verdict(s) could not be read", err=True)


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
    "--min-support",
    type=float,
    default=None,
    help="Share of the question's words (weighted by rarity) the best passage must hold, or the "
    "answer is 'not in the documents' (default: the collection's threshold from `assay docs "
    "calibrate`, else 0.55; -1 turns it off).",
)
@click.option(
    "--extractive",
    is_flag=True,
    help="Quote the best passages with their page instead of generating (no model is loaded).",
)
@click.option(
    "--rerank", is_flag=True, help="Let the model score the retrieved chunks (0-10) first."
)
@click.option("--show-sources", is_flag=True, help="Print the cited passages under the answer.")
@click.option("--no-stream", is_flag=True, hidden=True, help="Kept for old scripts; no effect.")
@click.option(
    "--check", is_flag=True, help="Judge each claim of the answer against its cited passages."
)
@click.option("--judge", default=None, help="Model for --check (default: the answering model).")
@click.option(
    "--claims",
    type=click.Choice(["sentences", "llm"]),
    default="sentences",
    show_default=True,
    help="How --check splits the answer into claims.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def ask(
    question: str,
    collection: str,
    model_address: str,
    k: int,
    mode: str,
    max_tokens: int,
    min_relevance: float | None,
    min_support: float | None,
    extractive: bool,
    rerank: bool,
    show_sources: bool,
    no_stream: bool,
    check: bool,
    judge: str | None,
    claims: str,
    as_json: bool,
) -> None:
    """Answer QUESTION from the documents of a collection; every sentence cites its source.

    Each sentence of the answer ends with the numbers of the sources it comes from, [1] or
    [1][2], and each number maps to a document and page (listed under "Citations"). The model
    must answer in that form: local models decode under a schema that only lets them cite the
    sources they were given, API models get it as structured output. A sentence that cites
    nothing, cites a number it was not given, or says what its cited passage does not (a figure
    or most of its words missing there) means the answer is not shown: the best passages are
    quoted instead, as with --extractive, and a note says why.

    When the documents do not hold the answer it says so: without calling the model when no
    chunk is relevant (--min-relevance) or no passage holds most of the question's rarer words
    (--min-support), or when the model gives no sentence.

    Tokens in and out, time and cost are printed after the answer (to stderr).

    \b
    Examples:
      assay ask "What corpus do the authors use?" -c papers --show-sources
      assay ask "How many templates does BBQ have?" -c papers --extractive
      assay ask "Which baselines are compared?" -c papers -m openai:gpt-4o-mini --json
      assay ask "Which corpus is used?" -c papers --check --judge openai:gpt-4o-mini
    """
    from assay.rag.answer import DEFAULT_MIN_RELEVANCE, DEFAULT_MIN_SUPPORT
    from assay.rag.answer import ask as ask_
    from assay.rag.collection import Collection

    if k < 1:
        raise click.BadParameter("must be at least 1", param_hint="-k")
    from assay.rag.calibrate import calibrated_min_support

    floor = DEFAULT_MIN_RELEVANCE if min_relevance is None else min_relevance
    ws = workspace()
    if min_support is None:
        # A threshold measured on this collection (`assay docs calibrate`) beats the default.
        min_support = calibrated_min_support(ws, collection)
    cover = DEFAULT_MIN_SUPPORT if min_support is None else min_support

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
        min_support=None if cover < 0 else cover,
        extractive=extractive,
        rerank_with_model=rerank,
        workspace=ws,
    )
    checked = None
    if check:
        from assay.rag.faithfulness import check_faithfulness

        report = check_faithfulness(
            result,
            judge or model_address,
            splitter="llm" if claims == "llm" else "sentences",
            workspace=ws,
        )
        checked = report.answers[0]
    if as_json:
        echo_json({**result.to_dict(), **({"check": checked.to_dict()} if checked else {})})
        return
    click.echo(result.text)
    if result.problem:
        click.echo(
            f"note: the generated answer was not shown ({result.problem}); "
            "these are the passages that best cover the question",
            err=True,
        )
    _print_sources(result, show_sources)
    if checked is not None:
        print_check(checked)
    note = f"{len(result.sources)} sources ({result.dropped} dropped to fit)"
    if not result.called_model:
        note += f" | model not called ({result.reason or 'extractive answer'})"
    usage_line(
        result.prompt_tokens,
        result.completion_tokens,
        result.latency_s,
        result.cost,
        note,
    )
