"""How the command line shows values in tables and summaries: model addresses and costs."""

from __future__ import annotations

import math


def short_model_name(address: str, width: int) -> str:
    """A model address cut to ``width`` characters without losing what tells models apart.

    The kind prefix (``hf:``, ``openai:``) and the end of the name (the file or checkpoint) are
    kept and the middle is elided; for ``openai:name@endpoint`` the endpoint goes first.
    """
    if len(address) <= width:
        return address
    name, at, _endpoint = address.partition("@")
    if at and len(name) + 2 <= width:
        return name + "@…"
    kind, colon, _rest = name.partition(":")
    head = kind + colon if colon and len(kind) <= 8 else ""
    keep = width - len(head) - 1
    if keep < 8:  # too narrow for a prefix as well: keep the end only
        head, keep = "", width - 1
    return head + "…" + name[-keep:]


def format_cost(dollars: float) -> str:
    """US dollars with cents to four places, and two significant digits below a cent, so a
    call costing $0.000012 does not show as 0.0000."""
    if dollars == 0 or not math.isfinite(dollars):
        return f"{dollars:.4f}"
    if abs(dollars) >= 0.01:
        return f"{dollars:.4f}"
    places = 1 - math.floor(math.log10(abs(dollars)))
    return f"{dollars:.{places}f}"
