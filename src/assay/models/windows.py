"""Token windows for rolling log-likelihood, shared by the local backends."""

from __future__ import annotations

from collections.abc import Sequence


def rolling_windows(
    tokens: Sequence[int], prefix_token: int, max_len: int
) -> list[tuple[list[int], list[int]]]:
    """Disjoint (context, continuation) windows that predict every token of ``tokens`` once.

    The semantics of lm-eval's ``get_rolling_token_windows(..., context_len=1)`` followed by
    ``make_disjoint_window``: the first window predicts the first ``max_len`` tokens from the
    prefix token; each later one predicts up to ``max_len`` further tokens, preceded by as many
    earlier tokens as fit in a ``max_len`` input.
    """
    tokens = list(tokens)
    if not tokens:
        return []
    first = min(max_len, len(tokens))
    windows = [([prefix_token], tokens[:first])]
    done = first
    while done < len(tokens):
        n = min(len(tokens) - done, max_len)
        end = done + n
        inputs = tokens[end - max_len - 1 : end - 1]
        windows.append((inputs[: len(inputs) - (n - 1)], tokens[done:end]))
        done = end
    return windows


__all__ = ["rolling_windows"]
