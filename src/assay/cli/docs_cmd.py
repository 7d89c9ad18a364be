"""``assay docs``: add, list, show, search and remove documents in a retrieval collection."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assay.cli.common import echo_json, workspace

if TYPE_CHECKING:
    from assay.rag.collection import Collection

_COLLECTION = click.option(
    "-c", "--collection", default="default", show_default=True, help="Collection name."
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _collection(name: str, embedder: str | None = None, **kw: Any) -> Collection:
    from assay.rag.collection import Collection

    return Collection(workspace(), name, embedder=embedder, **kw)


@click.group("docs")
def docs() -> None:
    """Add, list, show, search and remove documents for retrieval.

    \b
    Examples:
      assay docs add papers/ notes.md -c thesis
      assay docs list -c thesis
      assay docs search "reading order of two-column PDFs" -c thesis --mode hybrid
    """


@docs.command("add")
@click.argument("paths", nargs=-1, required=True)
@_COLLECTION
@click.option(
    "--max-size-mb", type=float, default=200.0, show_default=True, help="Refuse larger files."
)
@click.option(
    "--embedder",
    default=None,
    help="default (all-MiniLM-L6-v2), st:PATH, or openai:MODEL[@URL] (an embeddings API).",
)
@click.option(
    "--store",
    default=None,
    metavar="chroma://HOST:PORT[/NAME]",
    help="New collection: also keep its chunks in this ChromaDB server (started with "
    "`chroma run --path DIR --port PORT`), which then answers its dense searches. Recorded with "
    "the collection, so later commands (search, ask, eval) use it without this option.",
)
@click.option("--chunk-tokens", type=int, default=None, help="Tokens per chunk (new collection).")
@click.option("--overlap-tokens", type=int, default=None, help="Overlap (new collection).")
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress on stderr: bars on a terminal, a line now and then in a log.",
)
@click.option(
    "--figures/--no-figures",
    default=True,
    show_default=True,
    help="Keep the figures of PDFs (embedded images and captioned drawings) with their page "
    "and caption (see 'assay docs figures').",
)
@click.option(
    "--describe-figures",
    "describe_model",
    metavar="MODEL",
    default=None,
    help="A model that accepts images describes each figure; the description is indexed and "
    "cited as 'figure on page N'.",
)
@_JSON
def add(
    paths: tuple[str, ...],
    collection: str,
    max_size_mb: float,
    embedder: str | None,
    store: str | None,
    chunk_tokens: int | None,
    overlap_tokens: int | None,
    progress: bool,
    as_json: bool,
    figures: bool = True,
    describe_model: str | None = None,
) -> None:
    """Add files, folders or globs (PDF, Markdown, HTML, text) to a collection.

    Unchanged files are skipped, changed ones replaced. Each file gets a one-line parse report.
    Each document is saved as soon as it is embedded: after an interruption, the same command
    skips the documents already added ("unchanged") and does the rest.

    \b
    Examples:
      assay docs add papers/ notes/*.md -c library
      assay docs add papers/ -c shared --store chroma://localhost:8000
    """
    from assay.rag.chunking import ChunkingConfig
    from assay.rag.ingest import FileResult

    chunking = None
    if chunk_tokens is not None or overlap_tokens is not None:
        from pydantic import ValidationError

        from assay.config_errors import problems

        defaults = ChunkingConfig()
        try:
            chunking = ChunkingConfig(
                max_tokens=defaults.max_tokens if chunk_tokens is None else chunk_tokens,
                overlap_tokens=defaults.overlap_tokens
                if overlap_tokens is None
                else overlap_tokens,
            )
        except ValidationError as exc:
            names = {"max_tokens": "--chunk-tokens", "overlap_tokens": "--overlap-tokens"}
            found = problems(exc, list(names), names=names)
            raise click.BadParameter("; ".join(p.text for p in found)) from None
    col = _collection(collection, embedder, chunking=chunking, store=store)
    show = progress

    def emit(result: FileResult) -> None:
        if as_json:
            return
        line = result.line()
        if show:
            from tqdm.auto import tqdm

            tqdm.write(line)
        else:
            click.echo(line)

    if describe_model is not None and not figures:
        raise click.UsageError("--describe-figures needs the figures: drop --no-figures")
    report = col.add(
        paths,
        progress=show,
        max_size_mb=max_size_mb,
        on_result=emit,
        figures=figures,
        describe_figures=describe_model,
    )
    if not col.exists:
        from assay.rag.errors import CollectionError

        raise CollectionError(
            f"no file could be added, so collection '{collection}' was not created "
            f"({report.count('failed')} failed, see above)",
            hint="fix or leave out the files listed as failed",
        )
    if as_json:
        echo_json(
            {
                "collection": collection,
                "results": [
                    {
                        "path": r.path,
                        "status": r.status,
                        "message": r.message,
                        "document_id": r.document_id,
                        "chunks": r.n_chunks,
                        "figures": r.n_figures,
                        "described": r.n_described,
                        "quality": r.quality.to_dict() if r.quality else None,
                    }
                    for r in report.results
                ],
                "embedded": report.embedded,
                "cached": report.cached,
                "seconds": round(report.seconds, 3),
            }
        )
    else:
        click.echo(f"{collection}: {report.summary()}")
    if report.failed:
        sys.exit(1)


@docs.command("list")
@_COLLECTION
@_JSON
def list_(collection: str, as_json: bool) -> None:
    """List the documents of a collection."""
    col = _collection(collection)
    documents = col.documents()
    if as_json:
        echo_json([d.to_dict() for d in documents])
        return
    if not documents:
        click.echo(f"collection '{collection}' has no documents")
        return
    click.echo(f"{'id':>4}  {'pages':>5}  {'chunks':>6}  {'name':<40}  title")
    for d in documents:
        warn = " !" if d.quality.get("warnings") else ""
        title = (d.title or "")[:60]
        click.echo(
            f"{d.id:>4}  {d.n_pages or '-':>5}  {d.n_chunks:>6}  {d.name[:40]:<40}  {title}{warn}"
        )


@docs.command("collections")
@_JSON
def collections_(as_json: bool) -> None:
    """List the collections in the workspace."""
    from assay.rag.collection import collections

    infos = collections(workspace())
    if as_json:
        echo_json([c.to_dict() for c in infos])
        return
    if not infos:
        click.echo("no collections yet (assay docs add PATH)")
        return
    for c in infos:
        where = f", in {c.store}" if c.store else ""
        click.echo(f"{c.name}: {c.n_documents} documents, {c.n_chunks} chunks, {c.embedder}{where}")


@docs.command("sync")
@_COLLECTION
def sync(collection: str) -> None:
    """Copy a collection into its database server again (after the server lost it).

    Adds the chunks the server lacks and deletes the ones it should not have; the workspace keeps
    the vectors, so nothing is embedded again.

    \b
    Example:
      assay docs sync -c shared
    """
    col = _collection(collection)
    added, deleted = col.sync_store()
    where = col.info.store if col.info else "its store"
    click.echo(f"{collection}: {added} chunks copied to {where}, {deleted} deleted")


@docs.command("show")
@click.argument("doc")
@_COLLECTION
@click.option("--text", "show_text", is_flag=True, help="Print the extracted text.")
@click.option("--chunks", "show_chunks", is_flag=True, help="Print the chunks with anchors.")
@_JSON
def show(doc: str, collection: str, show_text: bool, show_chunks: bool, as_json: bool) -> None:
    """Show one document (by id, path or file name): metadata, parse quality, chunks."""
    col = _collection(collection)
    info = col.document(doc)
    if as_json:
        data = info.to_dict()
        if show_text:
            data["text"] = col.document_text(info.id)
        if show_chunks:
            data["chunks"] = col.chunks(info.id)
        echo_json(data)
        return
    click.echo(f"{info.name}  (id {info.id}, {info.kind}, collection '{collection}')")
    click.echo(f"  path:    {info.path}")
    click.echo(f"  title:   {info.title or '-'}")
    click.echo(f"  authors: {', '.join(info.authors) or '-'}")
    click.echo(f"  doi:     {info.doi or '-'}")
    click.echo(f"  pages:   {info.n_pages or '-'}   chunks: {info.n_chunks}   bytes: {info.size:,}")
    click.echo(f"  sha256:  {info.sha256}")
    q = info.quality
    for note in q.get("notes", []):
        click.echo(f"  note:    {note}")
    for warning in q.get("warnings", []):
        click.echo(f"  WARNING: {warning}")
    if show_chunks:
        for c in col.chunks(info.id):
            pages = (
                (
                    f"p. {c['page_start']}"
                    if c["page_start"] == c["page_end"]
                    else f"pp. {c['page_start']}-{c['page_end']}"
                )
                if c["page_start"]
                else ""
            )
            where = ", ".join(x for x in (pages, c["section"] or "") if x)
            click.echo(
                f"\n[{c['seq']}] {where} [{c['start_char']}:{c['end_char']}] {c['n_tokens']} tokens"
            )
            click.echo(c["text"])
    if show_text:
        click.echo("")
        click.echo(col.document_text(info.id))


@docs.command("figures")
@_COLLECTION
@click.option("--doc", "document", default=None, help="Only this document (id, path or name).")
@click.option(
    "--save",
    "save_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write each figure's image to this folder (NAME-pPAGE-N.png).",
)
@_JSON
def figures_(collection: str, document: str | None, save_dir: Path | None, as_json: bool) -> None:
    """List the figures kept with a collection's PDFs: page, caption, size, description.

    \b
    Examples:
      assay docs figures -c thesis
      assay docs figures -c thesis --doc paper.pdf --save figs/
    Describe figures at ingest with 'assay docs add PATH --describe-figures MODEL'.
    """
    col = _collection(collection)
    rows = col.figures(document)
    saved: list[str] = []
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        for n, row in enumerate(rows, start=1):
            image = col.figure_image(row)
            suffix = ".jpg" if image.media_type == "image/jpeg" else ".png"
            out = save_dir / f"{Path(row.document).stem}-p{row.page}-{n}{suffix}"
            out.write_bytes(image.data)
            saved.append(str(out))
    if as_json:
        data = [r.to_dict() for r in rows]
        for item, path in zip(data, saved, strict=False):
            item["saved"] = path
        echo_json(data)
        return
    if not rows:
        click.echo(f"no figures in collection '{collection}'")
        return
    for n, row in enumerate(rows, start=1):
        label = f"{row.label}, " if row.label else ""
        click.echo(
            f"{row.document}, {label}page {row.page}: {row.kind} {row.width}x{row.height}"
            + (f"  -> {saved[n - 1]}" if saved else "")
        )
        if row.caption:
            click.echo(f"  caption: {row.caption}")
        if row.description:
            click.echo(f"  description: {row.description}")


@docs.command("remove")
@click.argument("doc")
@_COLLECTION
def remove(doc: str, collection: str) -> None:
    """Remove one document (by id, path or file name) and its chunks."""
    removed = _collection(collection).remove(doc)
    click.echo(f"removed {removed.name} (id {removed.id}) from '{collection}'")


def _pages(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", value)
    if not m:
        raise click.BadParameter("use N or N-M", param_hint="--pages")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    return (min(lo, hi), max(lo, hi))


@docs.command("search")
@click.argument("query")
@_COLLECTION
@click.option(
    "-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="How many chunks."
)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "dense", "bm25", "mmr"]),
    default="hybrid",
    show_default=True,
)
@click.option("--doc", "documents", multiple=True, help="Only these documents (repeatable).")
@click.option("--pages", default=None, help="Only these pages, N or N-M.")
@click.option("--section", default=None, help="Only sections whose heading contains this.")
@click.option("--mmr", type=float, default=None, help="Re-rank for diversity with this lambda.")
@click.option("--embedder", default=None, help="Embedder (must be the collection's).")
@_JSON
def search(
    query: str,
    collection: str,
    k: int,
    mode: str,
    documents: tuple[str, ...],
    pages: str | None,
    section: str | None,
    mmr: float | None,
    embedder: str | None,
    as_json: bool,
) -> None:
    """Search a collection; each hit shows its score and citation anchor."""
    col = _collection(collection, embedder)
    filters = col.resolve_filter(list(documents) or None, _pages(pages), section)
    hits = col.search(query, k, mode, filters=filters, mmr=mmr)
    if as_json:
        echo_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("no matches")
    for h in hits:
        click.echo(
            f"{h.rank}. {h.anchor}  score {h.score:.4f}" + (f"  §{h.section}" if h.section else "")
        )
        snippet = " ".join(h.text.split())
        click.echo("   " + (snippet[:300] + ("..." if len(snippet) > 300 else "")))


def _register_evaluation_commands() -> None:
    from assay.cli.rag_eval_cmd import calibrate, check_answers, recall, synth

    for command in (check_answers, synth, recall, calibrate):
        docs.add_command(command)


_register_evaluation_commands()
