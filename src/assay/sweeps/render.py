"""A sweep's leaderboards as a terminal table, Markdown, JSON and one self-contained HTML page
with Pareto plots (quality against cost, latency and memory)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from assay.models.memory import format_bytes, format_count
from assay.stats import Estimate
from assay.sweeps.leaderboard import Entry, Leaderboard

COLUMNS = (
    "#",
    "cell",
    "metric (95% CI)",
    "vs best (95% CI)",
    "p Holm",
    "distinguishable?",
    "n",
    "tokens in/out",
    "cost $",
    "latency p50/p95 s",
    "items/s",
    "memory",
    "params",
    "licence",
    "access",
    "quantisation",
    "instruct",
)


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _cost(x: float) -> str:
    return "0" if x == 0 else f"{x:.2g}"


def interval(est: Estimate, signed: bool = False) -> str:
    """``0.62 [0.55, 0.69]``: the estimate without its n and method (the table has n)."""
    return est.format(signed=signed).rsplit(" (n=", 1)[0]


def row(rank: int, e: Entry, best: bool) -> list[str]:
    if e.metric is None:
        return [str(rank), e.label, f"failed: {e.error or e.status}", *["-"] * (len(COLUMNS) - 3)]
    verdict = "best" if best else {True: "yes", False: "no", None: "-"}[e.distinguishable]
    memory = format_bytes(e.memory_bytes) if e.memory_bytes is not None else "-"
    memory += {"card": " (est.)", "peak": " (peak)"}.get(e.memory_source, "")
    return [
        str(rank),
        e.label,
        interval(e.metric),
        "-" if e.difference is None else interval(e.difference, signed=True),
        "-" if e.p_holm is None else f"{e.p_holm:.2g}",
        verdict,
        str(e.n),
        f"{e.prompt_tokens}/{e.completion_tokens}",
        _cost(e.cost),
        f"{_num(e.latency_p50, 2)}/{_num(e.latency_p95, 2)}",
        _num(e.items_per_s, 3),
        memory,
        format_count(e.parameters) if e.parameters else "-",
        e.license or "-",
        e.access or "-",
        e.quantization or "-",
        e.instruction_tuned,
    ]


def table(board: Leaderboard) -> list[list[str]]:
    best = board.done[0] if board.done else None
    return [list(COLUMNS)] + [row(k, e, e is best) for k, e in enumerate(board.entries, 1)]


def _title(board: Leaderboard) -> str:
    direction = "higher" if board.higher_is_better else "lower"
    return f"{board.name} ({board.sweep_id}): {board.task}, {board.metric} ({direction} is better)"


def _variance_lines(board: Leaderboard) -> list[str]:
    lines = []
    for group, v in board.variance:
        where = f"prompt sensitivity ({group}, {v.n_prompts} prompts, {v.n_items} items)"
        if v.total == 0:
            lines.append(f"{where}: no spread, every prompt scored every item alike")
            continue
        lines.append(
            f"{where}: shares of the spread in per-item {board.metric}: prompt "
            f"{interval(v.prompt)}, items {interval(v.item)}, prompt x item and noise "
            f"{interval(v.residual)}; sd of the metric across prompts {interval(v.prompt_sd)}"
        )
    return lines


def to_text(boards: Sequence[Leaderboard], *, wide: bool = True) -> str:
    out = []
    for board in boards:
        rows = table(board)
        keep = range(len(COLUMNS)) if wide else range(12)
        rows = [[r[i] for i in keep] for r in rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out.append(_title(board))
        for k, r in enumerate(rows):
            out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            if k == 0:
                out.append("  ".join("-" * w for w in widths))
        out += _variance_lines(board)
        out += [f"warning: {w}" for w in board.warnings]
        out.append(board.recommendation)
        out.append("")
    return "\n".join(out)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(boards: Sequence[Leaderboard]) -> str:
    out = []
    for board in boards:
        rows = table(board)
        out.append(f"## {_md_cell(_title(board))}\n")
        out.append("| " + " | ".join(rows[0]) + " |")
        out.append("|" + "---|" * len(rows[0]))
        out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows[1:]]
        out.append("")
        out += [f"- {line}" for line in _variance_lines(board)]
        out += [f"- **warning:** {w}" for w in board.warnings]
        out.append(f"\n**Recommendation.** {board.recommendation}\n")
    out.append(
        "Differences are each cell minus the best cell on the same items (exact McNemar for 0/1 "
        "scores, paired bootstrap otherwise); p-values are Holm-corrected across the cells; "
        "distinguishable = significant at alpha 0.05 after that correction."
    )
    return "\n".join(out) + "\n"


def to_json(boards: Sequence[Leaderboard]) -> str:
    return json.dumps([b.to_dict() for b in boards], indent=2, default=str)


# -- HTML ----------------------------------------------------------------------------------------


def pareto_front(points: Sequence[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of the points no other point beats on both: lower x (the cost) and better y."""
    front = []
    for i, (x, y) in enumerate(points):
        beaten = False
        for j, (x2, y2) in enumerate(points):
            if j == i:
                continue
            better_y = y2 >= y if higher_is_better else y2 <= y
            strictly = x2 < x or (y2 > y if higher_is_better else y2 < y)
            if x2 <= x and better_y and strictly:
                beaten = True
                break
        if not beaten:
            front.append(i)
    return front


AXES: tuple[tuple[str, str], ...] = (
    ("cost", "cost (US$)"),
    ("latency_p50", "latency p50 (s)"),
    ("memory_bytes", "memory (MiB)"),
)


def pareto_figures(board: Leaderboard) -> list[Any]:
    """Quality against each cost axis the cells have numbers for, the Pareto front joined."""
    from assay.evals.plots import _figure
    from assay.reports.figures import ReportFigure

    figures = []
    done = board.done
    for key, label in AXES:
        pts = [(e, getattr(e, key)) for e in done if getattr(e, key) is not None]
        if len(pts) < 2 or all(v == 0 for _, v in pts):
            continue
        fig = _figure((6.0, 3.8))
        ax = fig.add_subplot()
        scale = 2**20 if key == "memory_bytes" else 1
        xs = [float(v) / scale for _, v in pts]
        ys = [e.metric.value for e, _ in pts if e.metric is not None]
        low = [y - e.metric.ci_low for (e, _), y in zip(pts, ys, strict=True) if e.metric]
        high = [e.metric.ci_high - y for (e, _), y in zip(pts, ys, strict=True) if e.metric]
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o", color="#4C72B0", ecolor="#9DB3D8", capsize=3)
        front = sorted(
            pareto_front(list(zip(xs, ys, strict=True)), board.higher_is_better),
            key=lambda i: xs[i],
        )
        ax.plot([xs[i] for i in front], [ys[i] for i in front], "-", color="#C44E52", lw=1.2)
        # Points are numbered as the table's rows; cells at one point share a label.
        rank = {id(e): k for k, e in enumerate(board.entries, 1)}
        span = (max(xs) - min(xs)) or 1.0
        at: dict[tuple[int, float], tuple[float, list[str]]] = {}
        for (e, _), x, y in zip(pts, xs, ys, strict=True):
            near = (round(50 * (x - min(xs)) / span), round(y, 6))  # one label per 2% of x
            at.setdefault(near, (x, []))[1].append(str(rank[id(e)]))
        for (_, y), (x, names) in at.items():
            ax.annotate(
                ",".join(names), (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points"
            )
        ax.margins(x=0.3, y=0.15)
        ax.set_xlabel(label)
        ax.set_ylabel(board.metric)
        ax.grid(alpha=0.3)
        figures.append(
            ReportFigure(
                f"pareto-{key}",
                f"{board.metric} against {label}",
                "Each cell (numbered as in the table) with its 95% interval; the red line joins "
                "the Pareto front (no other cell is both cheaper and better). Overlapping "
                "intervals are not a test: the table's paired comparison is.",
                fig,
            )
        )
    return figures


def to_html(boards: Sequence[Leaderboard], title: str = "Sweep") -> str:
    from assay.reports.html import figure_html
    from assay.reports.style import CSS, PAGE_CSS

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}{PAGE_CSS}</style></head><body><div class='assay page'>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for board in boards:
        rows = table(board)
        parts.append(f"<h2>{html.escape(_title(board))}</h2>")
        parts.append(f"<p><b>Recommendation.</b> {html.escape(board.recommendation)}</p>")
        for w in board.warnings:
            parts.append(f"<p class='warn'>warning: {html.escape(w)}</p>")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        for line in _variance_lines(board):
            parts.append(f"<p>{html.escape(line)}</p>")
        for fig in pareto_figures(board):
            parts.append(figure_html(fig))
    parts.append(
        "<p class='desc'>Differences are each cell minus the best cell on the same items; "
        "p-values are Holm-corrected across the cells.</p></div></body></html>"
    )
    return "".join(parts)


FORMATS = {"text": to_text, "markdown": to_markdown, "json": to_json, "html": to_html}

__all__ = [
    "FORMATS",
    "pareto_figures",
    "pareto_front",
    "to_html",
    "to_json",
    "to_markdown",
    "to_text",
]
