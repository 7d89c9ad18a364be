"""Review: the queues, an item to label (keyboard shortcuts, comment, progress, resumable), and
the agreement between reviewers as it grows. Labels are written by :class:`ReviewStore`, the
same code as ``assay review``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from assay.review import ReviewStore, summarise
from assay.review.store import Queue
from assay.ui.app import found, state_of
from assay.ui.views import item_view, label_keys, run_samples

router = APIRouter()

LIVE_RESAMPLES = 400
"""Bootstrap resamples behind the intervals shown while reviewing (`assay review agreement`
uses 2000): enough for a live view, fast enough to update after every label."""


@router.get("/review", response_class=HTMLResponse)
def queues(request: Request) -> Any:
    ui = state_of(request)
    store = ReviewStore(ui.workspace)
    rows = [{"q": q, "progress": store.progress(q.id)} for q in store.queues()]
    return ui.page("review_list.html", title="Review", rows=rows)


def _queue(request: Request, queue_id: str) -> Queue:
    q: Queue = found(ReviewStore(state_of(request).workspace).get, queue_id)
    return q


@router.get("/review/{queue_id}", response_class=HTMLResponse)
def queue_page(request: Request, queue_id: str, reviewer: str = "", item: int | None = None) -> Any:
    ui = state_of(request)
    q = _queue(request, queue_id)
    store = ReviewStore(ui.workspace)
    if not reviewer:
        return ui.page("review_who.html", title="Review", q=q)
    if item is None:
        nxt = store.next_pos(q.id, reviewer)
        pos = nxt if nxt is not None else q.n_items - 1
        return RedirectResponse(
            f"/review/{q.id}?reviewer={reviewer}&item={pos + 1}", status_code=303
        )
    pos = min(max(item, 1), q.n_items) - 1
    it = found(store.item, q.id, pos)
    view = item_view(q, it, run_samples(ui.workspace, q))
    keys = label_keys(q, it)
    return ui.page(
        "review.html",
        title=f"Review {q.id}",
        q=q,
        item=it,
        view=view,
        keys=keys,
        reviewer=reviewer,
        mine=it.labels.get(reviewer),
        done=store.progress(q.id).get(reviewer, 0),
        complete=store.next_pos(q.id, reviewer) is None,
        summary=summarise(q, ui.workspace, LIVE_RESAMPLES).to_dict(),
    )


@router.post("/review/{queue_id}/label")
async def label(request: Request, queue_id: str) -> Any:
    ui = state_of(request)
    q = _queue(request, queue_id)
    body = await request.json()
    store = ReviewStore(ui.workspace)
    value = store.label(
        q,
        int(body.get("item", 0)) - 1,
        str(body.get("reviewer") or ""),
        str(body.get("value") or ""),
        str(body.get("comment") or ""),
    )
    nxt = store.next_pos(q.id, str(body.get("reviewer")))
    return JSONResponse(
        {
            "value": value,
            "next": None if nxt is None else nxt + 1,
            "summary": summarise(q, ui.workspace, LIVE_RESAMPLES).to_dict(),
        }
    )


@router.get("/review/{queue_id}/summary.json")
def summary(request: Request, queue_id: str) -> Any:
    ui = state_of(request)
    return JSONResponse(
        summarise(_queue(request, queue_id), ui.workspace, LIVE_RESAMPLES).to_dict()
    )
