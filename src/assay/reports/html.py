"""A run as one self-contained HTML file: summary, metrics with intervals, provenance, figures
and every sample, failures first.

    >>> from assay.evals.runs import RunStore
    >>> from assay.reports import write_report
    >>> write_report(RunStore(Workspace.find()), "mmlu-science-2024", "report.html")

The file needs nothing else to open: figures are inline PNG, the stylesheet and the small
script that sorts and filters the sample table are inline, and no link points off the page.
Everything taken from the run (inputs, outputs, labels, config) is HTML-escaped. The report only
reads the workspace.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from assay.checks.record import CheckStore
from assay.evals.runs import RunRow, RunStore
from assay.reports import analysis
from assay.reports.style import CSS, PAGE_CSS, SCRIPT
from assay.stats import Estimate

MAX_SAMPLES = 2000
"""Samples shown in the table (the worst first); the rest are left to ``assay runs export``."""
PREVIEW_CHARS = 160
FULL_CHARS = 20_000


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


# -- numbers -------------------------------------------------------------------------------------


def _style(*xs: float) -> str:
    finite = [abs(x) for x in xs if math.isfinite(x)]
    largest = max(finite, default=0.0)
    return ".4g" if largest >= 1000 or 0 < largest < 0.01 else ".3f"


def fmt(x: float, *context: float) -> str:
    return format(x, _style(x, *context))


def fmt_score(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return esc(v)
    if v in (0, 1):
        return str(int(v))
    return format(float(v), ".4g" if abs(v) >= 1000 else ".3f")


def _level(est: Estimate) -> str:
    return f"{est.confidence:.0%}"


def ci_text(est: Estimate) -> str:
    return f"[{fmt(est.ci_low, est.value, est.ci_high)}, {fmt(est.ci_high, est.value, est.ci_low)}]"


def ci_bar(est: Estimate) -> str:
    """The interval drawn on a 0-1 track (only for metrics on that scale)."""
    if not analysis.in_unit_range(est.ci_low, est.ci_high, est.value):
        return ""
    lo, hi = max(0.0, est.ci_low) * 100, min(1.0, est.ci_high) * 100
    return (
        f'<span class="ci" title="{esc(_level(est))} CI {esc(ci_text(est))} on a 0 to 1 scale">'
        f'<span class="range" style="left:{lo:.1f}%;width:{max(hi - lo, 0.5):.1f}%"></span>'
        f'<span class="dot" style="left:{est.value * 100:.1f}%"></span></span>'
    )


def when(stamp: str | None) -> str:
    """``2024-05-01T12:34:56.789Z`` as ``2024-05-01 12:34:56 UTC``."""
    if not stamp:
        return "-"
    return stamp.replace("T", " ").split(".")[0].rstrip("Z") + " UTC"


def _duration(start: str | None, end: str | None) -> str:
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return ""
    s = max(0, round((b - a).total_seconds()))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


# -- pieces shared with the notebook view --------------------------------------------------------


def metrics_table(run: RunRow) -> str:
    """The headline metrics with their confidence intervals, as an HTML table."""
    ests = analysis.metric_estimates(run)
    if not ests:
        return '<p class="muted">No metrics recorded: the run has not finished.</p>'
    level = _level(next(iter(ests.values())))
    rows = []
    for name, est in ests.items():
        rows.append(
            "<tr>"
            f"<td><b>{esc(name)}</b></td>"
            f'<td class="n value">{esc(fmt(est.value, est.ci_low, est.ci_high))}</td>'
            f'<td class="n">{esc(ci_text(est))}</td>'
            f"<td>{ci_bar(est)}</td>"
            f'<td class="n">{est.n}</td>'
            f"<td>{esc(est.method)}</td>"
            "</tr>"
        )
    return (
        '<table class="metrics"><thead><tr><th>metric</th><th class="n">value</th>'
        f'<th class="n">{esc(level)} CI</th><th>interval</th><th class="n">n</th>'
        f"<th>method</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def metric_notes(run: RunRow) -> str:
    m = run.metrics or {}
    notes = []
    failures = m.get("extraction_failures")
    if failures:
        notes.append(
            f"<b>{esc(failures)}</b> of {esc(m.get('n', run.n_done))} outputs had no readable answer; they "
            "are scored wrong and flagged in the sample table."
        )
    cal = m.get("calibration")
    if cal:
        notes.append(
            f"Calibration of {esc(cal.get('metric'))}: ECE {float(cal['ece']):.3f}, "
            f"MCE {float(cal['mce']):.3f}."
        )
    tokens = m.get("tokens")
    if tokens:
        notes.append(
            f"Tokens: {int(tokens.get('prompt', 0)):,} prompt, "
            f"{int(tokens.get('completion', 0)):,} completion."
        )
    skipped = run.provenance.get("skipped_rows")
    if skipped:
        notes.append(f"{skipped} dataset rows were skipped as invalid (--skip-invalid).")
    if not notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>"


def category_table(run: RunRow) -> str:
    by_cat = analysis.category_estimates(run)
    if not by_cat:
        return ""
    metrics = list(dict.fromkeys(m for per in by_cat.values() for m in per))
    head = "".join(f'<th class="n">{esc(m)} (95% CI)</th>' for m in metrics)
    rows = []
    for cat, per in by_cat.items():
        n = next(iter(per.values())).n if per else 0
        cells = "".join(
            f'<td class="n">{esc(fmt(per[m].value, per[m].ci_low, per[m].ci_high))} '
            f'<span class="muted">{esc(ci_text(per[m]))}</span></td>'
            if m in per
            else '<td class="n">-</td>'
            for m in metrics
        )
        rows.append(f'<tr><td>{esc(cat)}</td><td class="n">{n}</td>{cells}</tr>')
    return (
        "<h3>By category</h3>"
        f'<table class="metrics"><thead><tr><th>category</th><th class="n">n</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def figure_html(fig: Any) -> str:
    return (
        f"<figure>{fig.img()}<figcaption><b>{esc(fig.title)}.</b> {esc(fig.caption)}"
        "</figcaption></figure>"
    )


# -- the page ------------------------------------------------------------------------------------


def _header(run: RunRow) -> str:
    desc = str(run.config.get("description") or "").strip()
    status = esc(run.status)
    duration = _duration(run.created, run.finished) if run.finished else ""
    meta = [
        ("run", f"<code>{esc(run.id)}</code>"),
        ("status", f'<span class="badge {status}">{status}</span>'),
        ("samples", f"{run.n_done} of {run.n_total}"),
        ("kind", esc(run.config.get("kind", "generate"))),
        ("created", esc(when(run.created))),
        (
            "finished",
            esc(when(run.finished))
            + (f' <span class="muted">({esc(duration)})</span>' if duration else ""),
        ),
        ("fingerprint", f'<code class="hash">{esc(run.fingerprint)}</code>'),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)
    banner = ""
    if run.status != "done":
        banner = (
            f'<div class="banner">This run is <b>{status}</b>: {run.n_done} of {run.n_total} '
            "samples are recorded and its metrics may be missing. Run the same "
            "<code>assay eval</code> command again to finish it.</div>"
        )
    return (
        '<header><div class="kicker">assay evaluation report</div>'
        f"<h1>{esc(run.task)}</h1>"
        f'<div class="model">{esc(run.model)}</div>'
        + (f'<p class="desc">{esc(desc)}</p>' if desc else "")
        + f'<dl class="meta">{dl}</dl>{banner}</header>'
    )


def _card(label: str, value: str, note: str = "", cls: str = "") -> str:
    return (
        f'<div class="card {cls}"><div class="label">{label}</div>'
        f'<div class="value">{value}</div><div class="note">{note}</div></div>'
    )


def summary_cards(run: RunRow) -> str:
    m = run.metrics or {}
    cards = []
    for name, est in list(analysis.metric_estimates(run).items())[:3]:
        cards.append(
            _card(
                esc(name),
                esc(fmt(est.value, est.ci_low, est.ci_high)),
                f"{esc(_level(est))} CI {esc(ci_text(est))}",
            )
        )
    cards.append(
        _card(
            "samples",
            f"{run.n_done:,}",
            f"of {run.n_total:,}" + (" (unfinished)" if run.n_done < run.n_total else ""),
            "" if run.n_done >= run.n_total else "warn",
        )
    )
    if "extraction_failures" in m and (run.config.get("extract") or m["extraction_failures"]):
        k, n = int(m["extraction_failures"]), int(m.get("n") or 0)
        share = f"{k / n:.1%} of outputs" if n else ""
        cards.append(_card("no answer read", f"{k:,}", share, "bad" if k else ""))
    cal = m.get("calibration")
    if cal:
        cards.append(_card("ECE", f"{float(cal['ece']):.3f}", f"MCE {float(cal['mce']):.3f}"))
    tokens = m.get("tokens")
    if tokens:
        cards.append(
            _card(
                "tokens",
                f"{int(tokens.get('prompt', 0)) + int(tokens.get('completion', 0)):,}",
                f"{int(tokens.get('completion', 0)):,} generated",
            )
        )
    return f'<section class="cards">{"".join(cards)}</section>'


def _clip(text: Any, *, tail: bool = False, limit: int = PREVIEW_CHARS) -> str:
    """Short text as it is; long text as a preview that expands to the whole of it."""
    s = "" if text is None else str(text)
    if not s:
        return '<span class="muted">-</span>'
    if len(s) <= limit and s.count("\n") < 4:
        return f'<div class="txt">{esc(s)}</div>'
    preview = ("…" + s[-limit:].lstrip()) if tail else (s[:limit].rstrip() + "…")
    full = (
        s
        if len(s) <= FULL_CHARS
        else s[:FULL_CHARS] + f"\n… ({len(s) - FULL_CHARS:,} more characters)"
    )
    return (
        '<details class="clip"><summary>'
        f'<span class="preview txt">{esc(preview)}</span> '
        f'<span class="more">show all {len(s):,} characters</span>'
        '<span class="less">show less</span></summary>'
        f'<div class="txt">{esc(full)}</div></details>'
    )


def _score_cell(v: Any, higher_better: bool) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return '<td class="score" data-v="">-</td>'
    f = float(v)
    cls = "score"
    bar = ""
    if f in (0.0, 1.0):
        good = (f == 1.0) == higher_better
        cls += " one" if good else " zero"
    elif analysis.in_unit_range(f):
        bar = f'<span class="bar" style="--v:{f:.3f}"></span>'
    return f'<td class="{cls}" data-v="{f!r}">{fmt_score(f)}{bar}</td>'


def _options_list(s: Mapping[str, Any], chosen: int | None) -> str:
    choices = s.get("choices")
    lls = s.get("loglikelihoods") or []
    if not isinstance(choices, list):
        return ""
    target = s.get("target")
    golds = set(target) if isinstance(target, list) else {target}
    items = []
    for i, c in enumerate(choices):
        ll = f" ({float(lls[i]):.2f})" if i < len(lls) and isinstance(lls[i], (int, float)) else ""
        mark = " ✓" if i in golds else ""
        picked = " ←" if i == chosen else ""
        cls = ' class="gold"' if i in golds else ""
        items.append(f"<li{cls}>{esc(analysis.letter(i))}. {esc(c)}{esc(ll)}{mark}{picked}</li>")
    return (
        '<details class="clip"><summary><span class="more">all options</span>'
        '<span class="less">hide options</span></summary>'
        f'<ul class="options">{"".join(items)}</ul></details>'
    )


STATUS_LABEL = {
    "failed": "no answer",
    "wrong": "wrong",
    "correct": "correct",
    "scored": "scored",
}
STATUS_RANK = {"failed": 0, "wrong": 1, "scored": 2, "correct": 3}


def _thumbnails(sample: Mapping[str, Any]) -> str:
    """The sample's images, small, before its input (data URLs: the page stays one file)."""
    out = []
    for image in sample.get("images") or []:
        url = image.get("thumbnail") if isinstance(image, Mapping) else None
        if isinstance(url, str) and url.startswith("data:image/"):
            sha = esc(str(image.get("sha256", ""))[:12])
            out.append(f'<img class="thumb" src="{esc(url)}" alt="image {sha}" title="{sha}">')
    return f'<div class="thumbs">{"".join(out)}</div>' if out else ""


def samples_section(run: RunRow, samples: Sequence[Mapping[str, Any]], max_samples: int) -> str:
    if not samples:
        return '<p class="muted">No samples recorded yet.</p>'
    metric = analysis.primary_metric(run, samples)
    higher = analysis.higher_is_better(run, metric) if metric else True
    ordered = analysis.failures_first(samples, metric, higher)
    shown = ordered[: max(0, max_samples)]
    metrics = list(analysis.metric_estimates(run)) or []
    for s in samples:
        metrics += [k for k in (s.get("scores") or {}) if k not in metrics]
    directions = {
        m: (higher if m == metric else analysis.higher_is_better(run, m)) for m in metrics
    }
    binary = analysis.is_binary(analysis.score_values(samples, metric)) if metric else False
    mc = run.config.get("kind") == "multiple_choice"
    has = {
        k: any(s.get(k) not in (None, "", []) for s in samples)
        for k in ("category", "output", "extracted", "target", "confidence")
    }
    statuses = {id(s): analysis.status_of(s, metric, binary) for s in samples}
    with_result = any(v != "scored" for v in statuses.values())
    cols: list[tuple[str, str, bool]] = [("#", "n", True)]
    if with_result:
        cols.append(("result", "", True))
    if has["category"]:
        cols.append(("category", "", True))
    cols.append(("input", "", False))
    if mc:
        cols += [("chosen", "", True), ("gold", "", True)]
    else:
        if has["output"]:
            cols.append(("output", "", False))
        if has["extracted"] and run.config.get("extract"):
            cols.append(("extracted", "", True))
        if has["target"]:
            cols.append(("target", "", True))
    cols += [(m, "n", True) for m in metrics]
    if has["confidence"]:
        cols.append(("confidence", "n", True))
    head = "".join(
        f'<th class="{c}"' + (" data-sort" if sortable else "") + f">{esc(name)}</th>"
        for name, c, sortable in cols
    )
    body = []
    for s in shown:
        status = statuses[id(s)]
        badge = (
            f'<span class="badge {status}">{STATUS_LABEL[status]}</span>'
            if status != "scored"
            else ""
        )
        if status == "failed":
            reason = s.get("extraction_error") or "no answer could be read from the output"
            badge += f'<div class="reason">{esc(reason)}</div>'
        cells = [
            f'<td class="n" data-v="{int(s.get("idx", 0))}">{int(s.get("idx", 0))}'
            f'<div class="id">{esc(s.get("id"))}</div></td>'
        ]
        if with_result:
            cells.append(f'<td data-v="{STATUS_RANK[status]}">{badge}</td>')
        if has["category"]:
            cells.append(f'<td class="short">{esc(s.get("category"))}</td>')
        cells.append(f'<td class="text">{_thumbnails(s)}{_clip(s.get("input"), tail=True)}</td>')
        if mc:
            chosen = analysis.chosen_index(s)
            cells.append(
                f'<td class="short">{esc(analysis.choice_text(s, chosen))}'
                f"{_options_list(s, chosen)}</td>"
            )
            cells.append(f'<td class="short">{esc(analysis.choice_text(s, s.get("target")))}</td>')
        else:
            if has["output"]:
                cells.append(f'<td class="text">{_clip(s.get("output"))}</td>')
            if has["extracted"] and run.config.get("extract"):
                got = s.get("extracted") if s.get("extraction_ok", True) else None
                cells.append(f'<td class="short">{_clip(got, limit=80)}</td>')
            if has["target"]:
                cells.append(
                    f'<td class="short">{_clip(_target_text(s.get("target")), limit=120)}</td>'
                )
        for m in metrics:
            cells.append(_score_cell((s.get("scores") or {}).get(m), directions[m]))
        if has["confidence"]:
            c = s.get("confidence")
            cells.append(
                f'<td class="n" data-v="{float(c)!r}">{float(c):.3f}</td>'
                if isinstance(c, (int, float))
                else '<td class="n" data-v="">-</td>'
            )
        body.append(f'<tr class="{status}" data-status="{status}">{"".join(cells)}</tr>')
    order = (
        f"Sorted worst first: by {esc(metric)} ({'lowest' if higher else 'highest'} first), "
        "outputs with no readable answer before others of the same score."
        if metric
        else ""
    )
    more = ""
    if len(shown) < len(samples):
        more = (
            f" Showing the worst {len(shown):,} of {len(samples):,} samples; every record: "
            f"<code>assay runs export {esc(run.id)} -o samples.jsonl</code>."
        )
    n_failed = sum(1 for s in samples if not s.get("extraction_ok", True))
    n_wrong = sum(1 for v in statuses.values() if v == "wrong")
    options = [("all", f"all ({len(shown):,})")]
    if n_failed or n_wrong:
        options.append(("failures", "failures (wrong or no answer)"))
    if n_failed:
        options.append(("failed", f"no answer read ({n_failed:,})"))
    if binary:
        options += [("wrong", "wrong"), ("correct", "correct")]
    select = "".join(f'<option value="{v}">{esc(label)}</option>' for v, label in options)
    return (
        f'<p class="muted">{order}{more} Click a column header to sort.</p>'
        '<div class="controls">'
        '<input id="sample-filter" type="search" placeholder="Filter samples by text…" '
        'aria-label="Filter samples by text">'
        f'<select id="sample-status" aria-label="Show">{select}</select>'
        f'<span id="sample-count" class="muted">{len(shown):,} shown</span></div>'
        f'<div class="scroll"><table class="samples" id="samples-table"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _target_text(target: Any) -> str:
    if isinstance(target, (list, dict)):
        return json.dumps(target, ensure_ascii=False)
    return "" if target is None else str(target)


# -- provenance ----------------------------------------------------------------------------------


def _kv(title: str, rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows if v not in (None, "", "-")
    )
    return f"<div><h3>{esc(title)}</h3><table class='kv'>{body}</table></div>" if body else ""


def _code(value: Any) -> str:
    if value in (None, ""):
        return ""
    return f'<code class="hash">{esc(value)}</code>'


def _compact(value: Any) -> str:
    if value in (None, "", [], {}):
        return ""
    return f"<code>{esc(json.dumps(value, ensure_ascii=False, default=str))}</code>"


def _spec(spec: Any) -> str:
    """A scorer's or extractor's recorded spec as ``name(k=v, ...)``."""
    if not isinstance(spec, Mapping):
        return _compact(spec)
    if "strategy" in spec:  # an extractor: {"strategy": ..., **args}
        name, opts = spec["strategy"], {k: v for k, v in spec.items() if k != "strategy"}
    else:  # a scorer: {"name": ..., "options": {...}}
        name, opts = spec.get("name"), spec.get("options") or {}
    if not name or not isinstance(opts, Mapping):
        return _compact(spec)
    args = ", ".join(
        f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
        for k, v in opts.items()
        if v not in (None, False, [], {})
    )
    return f"<code>{esc(name)}{esc(f'({args})' if args else '')}</code>"


def _generation(gen: Mapping[str, Any]) -> str:
    parts = [f"{k} {gen[k]}" for k in ("max_tokens", "temperature", "top_p") if k in gen]
    if gen.get("stop"):
        parts.append("stop " + json.dumps(gen["stop"], ensure_ascii=False))
    return esc(" · ".join(parts))


def _chat(value: Any) -> str:
    return "task default" if value is None else ("yes" if value else "no")


def provenance_section(run: RunRow) -> str:
    prov, cfg = run.provenance, run.config
    ds = prov.get("dataset") or {}
    dcfg = cfg.get("dataset") or {}
    if dcfg.get("builtin"):
        source: Any = f"builtin: {dcfg['builtin']}"
    else:
        source = dcfg.get("source") or ds.get("source")
    rows_n = ds.get("n_rows")
    if rows_n is not None and ds.get("n_source_rows") not in (None, rows_n):
        rows_n = f"{rows_n:,} of {ds['n_source_rows']:,} in the source"
    selection = ""
    if ds.get("limit") is not None:
        selection = f"{ds['limit']} rows" + (
            f", shuffled with seed {ds.get('seed')}" if ds.get("shuffle") else ""
        )
    data = _kv(
        "Data",
        [
            ("source", esc(source)),
            ("path", _code(ds.get("path"))),
            ("format", esc(ds.get("format"))),
            ("split", esc(ds.get("split"))),
            ("rows", esc(rows_n)),
            ("selection", esc(selection)),
            ("skipped rows", esc(prov.get("skipped_rows") or "")),
            ("source sha256", _code(ds.get("sha256"))),
            ("rows sha256", _code(ds.get("rows_sha256"))),
            ("licence", esc(ds.get("licence"))),
            ("citation", esc(ds.get("citation"))),
            ("url", esc(ds.get("url"))),
            ("note", esc(ds.get("note"))),
        ],
    )
    gen = cfg.get("generation") or {}
    fewshot = cfg.get("fewshot") or {}
    prompt = _kv(
        "Prompt and scoring",
        [
            ("template sha256", _code(prov.get("template_sha256"))),
            ("seed", esc(prov.get("seed", cfg.get("seed")))),
            ("chat template", esc(_chat(cfg.get("chat")))),
            (
                "few-shot",
                esc(f"{fewshot.get('k')} ({fewshot.get('method')})") if fewshot.get("k") else "0",
            ),
            ("chain of thought", esc(cfg.get("cot"))),
            (
                "generation",
                _generation(gen) if cfg.get("kind", "generate") == "generate" else "",
            ),
            ("extraction", _spec(prov.get("extraction"))),
            ("scorers", "<br>".join(_spec(x) for x in prov.get("scorers") or [])),
        ],
    )
    model = prov.get("model") or {}
    git = prov.get("git") or {}
    if git.get("repo"):
        state = (
            '<span class="badge dirty">dirty</span>'
            if git.get("dirty")
            else '<span class="badge clean">clean</span>'
        )
        git_rows = [
            ("commit", _code(git.get("commit")) + " " + state),
            ("branch", esc(git.get("branch"))),
            ("repository", _code(git.get("root"))),
        ]
    else:
        git_rows = [("git", "not run inside a git repository")]
    code = _kv(
        "Model and code",
        [
            ("model", _code(model.get("address", run.model))),
            ("fingerprint", _code(model.get("fingerprint", run.fingerprint))),
            *git_rows,
        ],
    )
    mach = prov.get("machine") or {}
    machine = _kv(
        "Machine",
        [
            ("platform", esc(mach.get("platform"))),
            ("processor", esc(mach.get("processor"))),
            ("CPUs", esc(mach.get("cpus"))),
            ("memory", esc(f"{mach['ram_gb']} GiB") if mach.get("ram_gb") else ""),
            ("hostname", esc(mach.get("hostname"))),
        ]
        + [
            (k, esc(v))
            for k, v in mach.items()
            if k not in {"platform", "processor", "cpus", "ram_gb", "hostname"}
            and not isinstance(v, (dict, list))
        ],
    )
    packages = _kv(
        "Packages", [(k, f"<code>{esc(v)}</code>") for k, v in (prov.get("packages") or {}).items()]
    )
    raw = (
        '<details class="raw"><summary>Resolved task configuration (JSON)</summary>'
        f"<pre>{esc(json.dumps(cfg, indent=2, ensure_ascii=False, default=str))}</pre></details>"
        '<details class="raw"><summary>Full provenance record (JSON)</summary>'
        f"<pre>{esc(json.dumps(prov, indent=2, ensure_ascii=False, default=str))}</pre></details>"
    )
    return f'<div class="prov">{data}{prompt}{code}{machine}{packages}</div>{raw}'


# -- assembling ----------------------------------------------------------------------------------


def render_report(
    run: RunRow,
    samples: Sequence[Mapping[str, Any]],
    *,
    max_samples: int = MAX_SAMPLES,
    with_figures: bool = True,
    checks: Mapping[str, Any] | None = None,
) -> str:
    """The report of ``run`` as one HTML document (a string).

    ``checks`` are the responsible-use checks recorded for the run, by kind (see
    :mod:`assay.checks.record`); kinds not among them are reported as not checked.
    """
    from assay.reports.checks import responsible_use_section
    from assay.version import __version__

    figs_html = ""
    if with_figures:
        from assay.reports.figures import run_figures

        figs = run_figures(run, samples)
        if figs:
            figs_html = (
                '<section id="figures"><h2>Figures</h2><div class="grid">'
                + "".join(figure_html(f) for f in figs)
                + "</div></section>"
            )
    toc = [("metrics", "Metrics")]
    if figs_html:
        toc.append(("figures", "Figures"))
    toc += [
        ("responsible-use", "Responsible use"),
        ("samples", "Samples"),
        ("provenance", "Provenance"),
    ]
    nav = "".join(f'<a href="#{k}">{v}</a>' for k, v in toc)
    title = f"{run.task} · {run.model} · assay report"
    written = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="assay">'
        f"<title>{esc(title)}</title><style>{PAGE_CSS}{CSS}</style></head>"
        '<body><main class="assay page">'
        + _header(run)
        + summary_cards(run)
        + f'<nav class="toc">{nav}</nav>'
        + '<section id="metrics"><h2>Metrics</h2>'
        + metrics_table(run)
        + metric_notes(run)
        + category_table(run)
        + "</section>"
        + figs_html
        + '<section id="responsible-use"><h2>Responsible use</h2>'
        + responsible_use_section(checks or {})
        + "</section>"
        + f'<section id="samples"><h2>Samples</h2>{samples_section(run, samples, max_samples)}'
        "</section>"
        + f'<section id="provenance"><h2>Provenance</h2>{provenance_section(run)}</section>'
        + f"<footer>Written by assay {esc(__version__)} on {esc(written)} from run "
        f"<code>{esc(run.id)}</code>. Per-sample records as CSV or JSONL: "
        f"<code>assay runs export {esc(run.id)} -o samples.csv</code>.</footer>"
        + f"</main><script>{SCRIPT}</script></body></html>\n"
    )


def default_path(store: RunStore, run_id: str) -> Path:
    return store.ws.root / "reports" / f"{run_id}.html"


def write_report(
    store: RunStore,
    run_id: str,
    path: str | Path | None = None,
    *,
    max_samples: int = MAX_SAMPLES,
) -> Path:
    """Write the report of run ``run_id`` (an id or a unique prefix) to ``path``; return the path.

    Without ``path`` the file goes to ``<workspace>/reports/<run id>.html``.
    """
    run = store.get(run_id)
    run.require_finished("a report")
    samples = store.samples(run.id)
    out = Path(path) if path is not None else default_path(store, run.id)
    checks = CheckStore(store.ws).for_run(run.id, items=True)
    text = render_report(run, samples, max_samples=max_samples, checks=checks)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


__all__ = ["MAX_SAMPLES", "metrics_table", "render_report", "write_report"]
