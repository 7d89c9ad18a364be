"""Multiple choice from per-choice log-likelihoods, as lm-evaluation-harness scores it.

For each choice the model gives ``log P(" " + choice | context)`` summed over the choice's tokens.
lm-evaluation-harness (``ConfigurableTask.process_results``, ``output_type: multiple_choice``):

- ``acc``: the prediction is ``argmax(loglikelihoods)``;
- ``acc_norm``: the prediction is ``argmax(loglikelihoods / len(choice))`` where ``len`` is the
  length of the choice string in characters (Python ``len``, code points; the leading space the
  harness puts before each choice is not counted).

Ties go to the first choice (``numpy.argmax``). A gold answer may be an index, a letter
(``"B"``), the text of a choice, or a list of acceptable indices (correct when the prediction is
any of them). ``length="bytes"`` normalises by UTF-8 bytes instead, which differs from
characters only for non-ASCII choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from assay.errors import UserError

Length = Literal["chars", "bytes"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def as_logprobs(prediction: Any) -> list[float]:
    """Per-choice log-likelihoods from floats, or objects / dicts with a ``logprob``."""
    if isinstance(prediction, (str, bytes)) or not isinstance(prediction, Sequence):
        raise UserError(
            f"a multiple-choice scorer needs one log-likelihood per choice, got {prediction!r:.80}"
        )
    out: list[float] = []
    for p in prediction:
        if isinstance(p, (int, float)):
            out.append(float(p))
        elif isinstance(p, dict) and "logprob" in p:
            out.append(float(p["logprob"]))
        elif hasattr(p, "logprob"):
            out.append(float(p.logprob))
        else:
            raise UserError(f"not a log-likelihood: {p!r:.80}")
    if not out:
        raise UserError("a multiple-choice scorer got no log-likelihoods")
    return out


def _argmax(values: Sequence[float]) -> int:
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def choice_length(choice: str, length: Length = "chars") -> int:
    return len(choice.encode("utf-8")) if length == "bytes" else len(choice)


def predict_choice(
    logprobs: Sequence[float],
    choices: Sequence[str] | None = None,
    *,
    normalize: bool = False,
    length: Length = "chars",
) -> int:
    """Index of the chosen answer: argmax of log-likelihood, or of log-likelihood per length."""
    lls = [float(x) for x in logprobs]
    if not normalize:
        return _argmax(lls)
    if choices is None:
        raise UserError("length-normalised accuracy (acc_norm) needs the choices' text")
    if len(choices) != len(lls):
        raise UserError(f"{len(lls)} log-likelihoods for {len(choices)} choices")
    lengths = [choice_length(str(c), length) for c in choices]
    if any(n == 0 for n in lengths):
        raise UserError("a choice is empty, so acc_norm (log-likelihood / length) is undefined")
    return _argmax([ll / n for ll, n in zip(lls, lengths, strict=True)])


def gold_indices(reference: Any, choices: Sequence[str] | None = None) -> set[int]:
    """The acceptable answer indices for an index, letter, choice text, or a list of those."""
    if isinstance(reference, bool):
        raise UserError(f"not a gold answer for a multiple-choice item: {reference!r}")
    if isinstance(reference, int):
        return {reference}
    if isinstance(reference, str):
        ref = reference.strip()
        if choices is not None and ref in [str(c) for c in choices]:
            return {[str(c) for c in choices].index(ref)}
        if len(ref) == 1 and ref.upper() in LETTERS:
            return {LETTERS.index(ref.upper())}
        if ref.isdigit():
            return {int(ref)}
        raise UserError(f"gold answer {reference!r} is not an index, a letter or a choice")
    if isinstance(reference, Sequence):
        out: set[int] = set()
        for r in reference:
            out |= gold_indices(r, choices)
        return out
    raise UserError(f"not a gold answer for a multiple-choice item: {reference!r:.80}")


def mc_accuracy(
    logprobs: Any,
    reference: Any,
    choices: Sequence[str] | None = None,
    *,
    normalize: bool = False,
    length: Length = "chars",
) -> float:
    """1.0 when the (length-normalised) argmax choice is the gold one; lm-eval's acc/acc_norm."""
    lls = as_logprobs(logprobs)
    if choices is not None and len(choices) != len(lls):
        raise UserError(f"{len(lls)} log-likelihoods for {len(choices)} choices")
    pred = predict_choice(lls, choices, normalize=normalize, length=length)
    return float(pred in gold_indices(reference, choices))


__all__ = [
    "as_logprobs",
    "choice_length",
    "gold_indices",
    "mc_accuracy",
    "predict_choice",
]
