"""Numbers as GSM8K answers are written: ``1,000``, ``$18``, ``18.``, ``-3.50``.

The GSM8K convention (the upstream ``dataset.py`` and lm-evaluation-harness's ``gsm8k`` task)
strips commas, dollar signs and a trailing full stop before comparing. :func:`numeric_match`
does that and then compares the two values as numbers, with a tolerance, so ``18``, ``18.0`` and
``$18.00`` all match ``18``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_STRIP = re.compile(r"[,$\s]")
_FRACTION = re.compile(r"^([-+]?\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)$")


def _clean(text: str) -> str:
    s = _STRIP.sub("", str(text))
    s = s.rstrip(".")
    return s


def parse_number(text: object) -> Decimal | None:
    """The number written in ``text`` (commas, ``$``, spaces and a trailing ``.`` ignored).

    Accepts integers, decimals, scientific notation and simple fractions (``3/4``); anything
    else, including ``nan`` and ``inf``, gives ``None``.
    """
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, (int, float)):
        text = repr(text)
    s = _clean(str(text))
    if not s:
        return None
    m = _FRACTION.match(s)
    try:
        if m:
            den = Decimal(m.group(2))
            if den == 0:
                return None
            value = Decimal(m.group(1)) / den
        else:
            value = Decimal(s)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return value


def normalize_number(text: object) -> str | None:
    """A canonical string for the number in ``text``: ``"1,000"`` → ``"1000"``, ``"18.50"`` →
    ``"18.5"``, ``"$-3."`` → ``"-3"``; ``None`` when ``text`` is not a number."""
    value = parse_number(text)
    if value is None:
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def numeric_match(
    prediction: object, reference: object, *, rel_tol: float = 0.0, abs_tol: float = 1e-6
) -> float:
    """1.0 when both are numbers within tolerance, else 0.0.

    The tolerance is ``math.isclose``'s: ``|a - b| <= max(rel_tol * max(|a|, |b|), abs_tol)``.

    When either side is not a number, the cleaned strings are compared exactly instead (so a
    non-numeric gold answer can still be matched, and an unparseable prediction scores 0).
    """
    a, b = parse_number(prediction), parse_number(reference)
    if a is None or b is None:
        if prediction is None or reference is None:
            return 0.0
        ca, cb = _clean(str(prediction)), _clean(str(reference))
        return float(bool(ca) and ca == cb)
    # math.isclose's rule, computed in Decimal so large integers are compared exactly.
    diff = abs(a - b)
    bound = max(Decimal(repr(rel_tol)) * max(abs(a), abs(b)), Decimal(repr(abs_tol)))
    return float(diff <= bound)


__all__ = ["normalize_number", "numeric_match", "parse_number"]
