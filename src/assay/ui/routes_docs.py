"""Documents: collections, their documents with parse quality, a chat over a collection with
streamed answers, and the cited PDF page as an image with the passage marked.

Files are reached by id only: a page image names a chunk id, the chunk names its document, and
the document's path comes from the database, never from the request.
"""

from __future__ import annotations

import io
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from assay.rag.store import RagStore
from assay.ui.app import NotFound, UIState, state_of

router = APIRouter()

PAGE_SCALE = 1.5  # 108 dpi: a page readable on screen
MARK = (255, 214, 0, 110)


@router.get("/collections", response_class=HTMLResponse)
def collections(request: Request) -> Any:
    ui = state_of(request)
    return ui.page(
        "collections.html", title="Documents", collections=RagStore(ui.workspace).collections()
    )


def _collection(ui: UIState, name: str) -> Any:
    info = RagStore(ui.workspace).collection(name)
    if info is None:
        raise NotFound(
            f"no collection named '{name}'", "see the Documents page for the collections"
        )
    return info


@router.get("/collections/{name}", response_class=HTMLResponse)
def collection_page(request: Request, name: str) -> Any:
    ui = state_of(request)
    info = _collection(ui, name)
    docs = RagStore(ui.workspace).documents(info.id)
    return ui.page("collection.html", title=name, info=info, docs=docs, model=ui.model)


def _answer_events(
    ui: UIState, name: str, question: str, model: str, extractive: bool
) -> Iterator[str]:
    """NDJSON events: ``status``, then ``text`` as the answer arrives, then ``done`` with the
    citations (each with the address of its page image) or ``error``."""
    from assay.errors import AssayError
    from assay.rag.answer import ask
    from assay.rag.collection import Collection

    events: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def work() -> None:
        try:
            col = Collection(ui.workspace, name)
            loaded: Any = model
            if not extractive:
                key = ("model", model)
                if key not in ui.cache:
                    from assay.models.facade import Model

                    ui.cache[key] = Model.load(model, workspace=ui.workspace)
                loaded = ui.cache[key]
            answer = ask(
                question,
                collection=col,
                model=loaded,
                extractive=extractive,
                on_token=lambda t: events.put({"type": "text", "text": t}),
                workspace=ui.workspace,
            )
            events.put({"type": "done", **_answer_dict(answer)})
        except AssayError as exc:
            events.put({"type": "error", "message": exc.message, "hint": exc.hint})
        except Exception as exc:  # the page shows it; the server keeps serving
            events.put({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            events.put(None)

    yield json.dumps({"type": "status", "text": "searching the collection"}) + "\n"
    threading.Thread(target=work, daemon=True).start()
    while (event := events.get()) is not None:
        yield json.dumps(event, default=str) + "\n"


def _answer_dict(answer: Any) -> dict[str, Any]:
    cites = []
    for c in answer.citations:
        link = (
            f"/chunks/{c.chunk_id}/page/{c.page}.png" if c.valid and c.chunk_id and c.page else None
        )
        cites.append(
            {
                "n": c.n,
                "document": c.document,
                "page": c.page,
                "valid": c.valid,
                "image": link,
                "passage": c.passage,
            }
        )
    return {
        "answer": answer.text,
        "mode": answer.mode,
        "insufficient": answer.insufficient,
        "reason": answer.reason,
        "problem": answer.problem,
        "citations": cites,
    }


@router.post("/collections/{name}/ask")
async def ask_route(request: Request, name: str) -> Any:
    ui = state_of(request)
    _collection(ui, name)
    body = await request.json()
    question = str(body.get("question") or "")
    model = str(body.get("model") or ui.model)
    extractive = bool(body.get("extractive"))
    return StreamingResponse(
        _answer_events(ui, name, question, model, extractive), media_type="application/x-ndjson"
    )


def _chunk(ui: UIState, chunk_id: int) -> Any:
    row = (
        RagStore(ui.workspace)
        .db.execute(
            "SELECT c.id, c.text, c.page_start, c.page_end, d.path, d.kind, d.n_pages, d.name "
            "FROM rag_chunks c JOIN rag_documents d ON d.id = c.document_id WHERE c.id = ?",
            (chunk_id,),
        )
        .fetchone()
    )
    if row is None:
        raise NotFound(f"no passage {chunk_id} in this workspace")
    return row


def _phrases(text: str, words: int = 4) -> list[str]:
    """Short runs of the passage's words: found on the page even where the parser mended
    hyphenation or spacing in between."""
    tokens = text.split()
    return [
        " ".join(tokens[i : i + words]) for i in range(0, max(len(tokens) - words + 1, 1), words)
    ]


def render_page(path: Path, page: int, passage: str) -> bytes:
    """Page ``page`` (1-based) of the PDF as PNG, the passage's words marked in yellow."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    pdf = pdfium.PdfDocument(str(path))
    try:
        p = pdf[page - 1]
        image = p.render(scale=PAGE_SCALE).to_pil().convert("RGBA")
        height = p.get_height()
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        text = p.get_textpage()
        for phrase in _phrases(passage):
            search = text.search(phrase, match_case=False)
            hit = search.get_next()
            while hit is not None:
                index, count = hit
                for i in range(text.count_rects(index, count)):
                    left, bottom, right, top = text.get_rect(i)
                    draw.rectangle(
                        [
                            left * PAGE_SCALE,
                            (height - top) * PAGE_SCALE,
                            right * PAGE_SCALE,
                            (height - bottom) * PAGE_SCALE,
                        ],
                        fill=MARK,
                    )
                hit = search.get_next()
        out = io.BytesIO()
        Image.alpha_composite(image, overlay).convert("RGB").save(out, format="PNG")
        return out.getvalue()
    finally:
        pdf.close()


@router.get("/chunks/{chunk_id}/page/{page}.png")
def page_image(request: Request, chunk_id: int, page: int) -> Any:
    ui = state_of(request)
    row = _chunk(ui, chunk_id)
    if row["kind"] != "pdf":
        raise NotFound(
            f"passage {chunk_id} is from {row['name']}, which is not a PDF: no page to show"
        )
    if not 1 <= page <= max(row["n_pages"], 1):
        raise NotFound(f"{row['name']} has no page {page} (1-{row['n_pages']})")
    path = Path(row["path"])
    if not path.is_file():
        raise NotFound(
            f"{row['name']} is no longer at {path}", "add it again with `assay docs add`"
        )
    key = ("page", chunk_id, page)
    if key not in ui.cache:
        ui.cache[key] = render_page(path, page, row["text"])
    return Response(ui.cache[key], media_type="image/png")
