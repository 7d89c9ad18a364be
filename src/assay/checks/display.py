"""A check as HTML: its status, headline, figures with intervals and per-item rows (flagged
first). The check's Jupyter view and the report's Responsible use section both use it."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from assay.checks.record import CheckResult

MAX_ITEMS = 200
STATUS_TEXT = {"ok": "ok", "flagged": "flagged", "inconclusive": "inconclusive"}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def figures_list(check: CheckResult) -> str:
    if not check.figures:
        return ""
    items = "".join(
        f"<li><b>{esc(name)}</b> {esc(est.format())}</li>" for name, est in check.figures.items()
    )
    return f'<ul class="notes">{items}</ul>'


# -- per-item rows -------------------------------------------------------------------------------


def _citation_rows(items: Sequence[Mapping[str, Any]]) -> str:
    order = {"not_found": 0, "partial": 1, "found": 2}
    rows = []
    for it in sorted(items, key=lambda x: order.get(str(x.get("verdict")), 3))[:MAX_ITEMS]:
        ref = it.get("reference") or {}
        matched = it.get("matched") or {}
        verdict = str(it.get("verdict"))
        cls = {"found": "ok", "partial": "inconclusive", "not_found": "flagged"}.get(verdict, "")
        known = (
            f"{esc(matched.get('title'))} <span class='muted'>({esc(matched.get('source'))})</span>"
            if matched
            else '<span class="muted">-</span>'
        )
        rows.append(
            f"<tr><td>{esc(it.get('output_id'))}</td>"
            f'<td><span class="badge {cls}">{esc(verdict.replace("_", " "))}</span></td>'
            f'<td class="text">{esc(ref.get("raw"))}</td><td>{known}</td>'
            f"<td>{esc('; '.join(it.get('wrong') or []))}</td></tr>"
        )
    return (
        '<table class="metrics"><thead><tr><th>output</th><th>verdict</th><th>reference as '
        "written</th><th>known work</th><th>wrong</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _generic_rows(items: Sequence[Mapping[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for it in items[:50] for k in it))[:8]
    head = "".join(f"<th>{esc(k)}</th>" for k in keys)

    def cell(v: Any) -> str:
        text = json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, (dict, list)) else v
        return f"<td>{esc(str(text)[:200])}</td>"

    body = "".join(
        "<tr>" + "".join(cell(it.get(k)) for k in keys) + "</tr>" for it in items[:MAX_ITEMS]
    )
    return f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


ITEM_VIEWS: dict[str, Callable[[Sequence[Mapping[str, Any]]], str]] = {
    "citations": _citation_rows,
}
"""How a kind's per-item rows are drawn; kinds without an entry get a plain table."""


def items_table(check: CheckResult) -> str:
    if not check.items:
        return ""
    view = ITEM_VIEWS.get(check.kind, _generic_rows)
    more = f" (the first {MAX_ITEMS} of {len(check.items)})" if len(check.items) > MAX_ITEMS else ""
    return (
        f'<details class="raw"><summary>{len(check.items)} item(s){esc(more)}</summary>'
        f'<div class="scroll">{view(check.items)}</div></details>'
    )


def check_block(check: CheckResult) -> str:
    """One check as HTML: status, headline, figures, items (also its Jupyter display)."""
    status = STATUS_TEXT.get(check.status, check.status)
    return (
        f'<div class="check"><p><span class="badge {esc(check.status)}">{esc(status)}</span> '
        f"<b>{esc(check.title)}</b>: {esc(check.headline)}"
        + (f' <span class="muted">({esc(check.id)})</span>' if check.id else "")
        + f"</p>{figures_list(check)}{items_table(check)}</div>"
    )


__all__ = ["ITEM_VIEWS", "check_block", "esc", "items_table"]
