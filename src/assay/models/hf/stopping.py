"""Ending each row of a batch on its own: EOS, one of its stop strings, or its token cap."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import StoppingCriteria

from assay.models.protocol import OnFinished, apply_stop


@dataclass
class _RowState:
    cap: int
    stops: tuple[str, ...]
    finished_at: int | None = None
    reason: str = ""


class _RowStopper(StoppingCriteria):
    """Finishes each row on EOS, on one of its stop strings, or at its own token cap."""

    def __init__(
        self,
        tokenizer: Any,
        prompt_width: int,
        rows: list[_RowState],
        eos_ids: set[int],
        cancel: threading.Event | None = None,
        on_finished: Callable[[int, list[int]], None] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.rows = rows
        self.eos_ids = eos_ids
        self.cancel = cancel
        self.on_finished = on_finished
        """Called with a row and its tokens when the row finishes (not when cancelled)."""

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        n = input_ids.shape[1] - self.prompt_width
        cancelled = self.cancel is not None and self.cancel.is_set()
        done = []
        for i, row in enumerate(self.rows):
            if row.finished_at is None:
                new = input_ids[i, self.prompt_width :]
                if int(new[-1]) in self.eos_ids:
                    row.finished_at, row.reason = n, "eos"
                elif row.stops and apply_stop(self._text(new.tolist()), row.stops)[1]:
                    row.finished_at, row.reason = n, "stop"
                elif n >= row.cap:
                    row.finished_at, row.reason = n, "length"
                elif cancelled:
                    row.finished_at, row.reason = n, "cancelled"
                if self.on_finished is not None and row.reason not in ("", "cancelled"):
                    self.on_finished(i, new.tolist())
            done.append(row.finished_at is not None)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    def _text(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


def _mapped(on_finished: OnFinished | None, indices: Sequence[int]) -> OnFinished | None:
    """``on_finished`` for a sub-batch: its row ``k`` is row ``indices[k]`` of the caller's."""
    if on_finished is None:
        return None
    report = on_finished
    return lambda k, gen: report(indices[k], gen)
