"""The "Responsible use" section of a report: every known check, run or not.

Each area (contamination, bias, hallucination, human review) lists every registered check kind.
A check that ran shows its status, headline and figures with their intervals, and its per-item
rows (flagged first; see :mod:`assay.checks.display`); one that did not says "not checked" and
the command that runs it. A check that was not run is never shown as passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.checks.display import check_block, esc
from assay.checks.record import AREAS, KINDS, CheckResult

NOT_CHECKED = "not checked"


def not_checked_reasons(provenance: Mapping[str, Any]) -> dict[str, str]:
    """Why a check was not run, where the run's provenance says (kind -> reason)."""
    from assay.checks.preflight import NOTE, OFF

    if provenance.get(NOTE) == OFF:
        return {
            "contamination": "the contamination pre-flight was turned off for this run "
            "(--no-contamination-check)"
        }
    return {}


def _not_checked(kind: str, reason: str | None = None) -> str:
    k = KINDS[kind]
    why = f" {esc(reason[:1].upper() + reason[1:])}." if reason else ""
    return (
        f'<div class="check"><p><span class="badge unchecked">{NOT_CHECKED}</span> '
        f"<b>{esc(k.title)}</b>: {NOT_CHECKED}.{why} Nothing is known about this, good or bad. "
        f"To check: <code>{esc(k.how)}</code></p></div>"
    )


def responsible_use_section(
    checks: Mapping[str, CheckResult], reasons: Mapping[str, str] | None = None
) -> str:
    """The section's body: every area, every kind, in registration order."""
    parts = [
        '<p class="muted">Each check below ran on this run (status, figures with 95% '
        "intervals, items) or says <b>not checked</b>: a check that was not run says nothing "
        "about the model. <code>assay check all RUN</code> runs every check that applies.</p>"
    ]
    for area, title in AREAS.items():
        kinds = [k for k in KINDS.values() if k.area == area]
        blocks = [
            check_block(checks[k.name])
            if k.name in checks
            else _not_checked(k.name, (reasons or {}).get(k.name))
            for k in kinds
        ]
        parts.append(f"<h3>{esc(title)}</h3>{''.join(blocks)}")
    others = [c for kind, c in checks.items() if kind not in KINDS]
    if others:
        parts.append("<h3>Other checks</h3>" + "".join(check_block(c) for c in others))
    return "".join(parts)


def checks_text(
    checks: Mapping[str, CheckResult], reasons: Mapping[str, str] | None = None
) -> list[str]:
    """The same as plain lines, for the terminal."""
    lines = []
    for area in AREAS:
        for k in (k for k in KINDS.values() if k.area == area):
            c = checks.get(k.name)
            if c is None:
                why = (reasons or {}).get(k.name)
                lines.append(f"{k.name:15} {NOT_CHECKED:13} ({why or k.how})")
                continue
            lines.append(f"{k.name:15} {c.status:13} {c.headline}")
            lines += [f"{'':29}{name} {est.format()}" for name, est in c.figures.items()]
    return lines


__all__ = ["NOT_CHECKED", "checks_text", "not_checked_reasons", "responsible_use_section"]
