"""Which share of an evaluation this process computes, under ``accelerate launch`` (or torchrun).

``accelerate launch -m assay.cli.main eval TASK ...`` starts N copies of the command. Each copy
reads the same task and data, so each computes the same item list; the main process creates (or
resumes) the run, every process commits the items ``k`` with ``k % N == its index`` into that
run in the shared workspace, and the main process computes the metrics over all of them once
every process is done. A run resumes with any number of processes: the split is over the items
not yet committed. Without a launcher there is one process and nothing changes.

On GPUs, accelerate makes each process's current CUDA device its own (``cuda:LOCAL_RANK``), and
local models load on the current device, so :func:`current_shard` must run before the model
loads: ``assay eval`` does so; a script calling :func:`assay.evals.runner.evaluate` under a
launcher calls it first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from assay.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int
    state: Any = None  # accelerate's PartialState when there is more than one process

    @property
    def main(self) -> bool:
        return self.index == 0

    @property
    def label(self) -> str:
        return f"process {self.index + 1}/{self.count}: " if self.count > 1 else ""

    def take(self, items: Sequence[T]) -> list[T]:
        """This process's items: every ``count``-th from ``index`` (balanced, deterministic)."""
        return list(items[self.index :: self.count])

    def wait(self) -> None:
        """Block until every process gets here (nothing to wait for alone)."""
        if self.state is not None:
            self.state.wait_for_everyone()


def launched_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``, set by accelerate and torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def current_shard() -> Shard:
    if launched_processes() == 1:
        return Shard(0, 1)
    import torch
    from accelerate import PartialState

    n = launched_processes()
    if os.environ.get("LOCAL_WORLD_SIZE", str(n)) != str(n):
        raise UserError(
            "an evaluation is shared out across the processes of one machine only: they commit "
            "into one workspace database",
            hint="for several machines, serve the model (vLLM, TGI) and evaluate from one process "
            "with -m openai:MODEL@URL",
        )
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if 0 < gpus < n:
        raise UserError(
            f"launched as {n} processes, but there are only {gpus} GPU(s): one process per GPU",
            hint=f"launch with --num_processes {gpus}, or run CPU processes with "
            "CUDA_VISIBLE_DEVICES=",
        )
    # The process group: nccl across GPUs; gloo on CPUs, which accelerate sets up only when told
    # (else each process would think itself alone and run every item).
    state = PartialState(cpu=gpus == 0)
    if state.num_processes != n:
        raise UserError(
            f"launched as {n} processes, but accelerate sees {state.num_processes}",
            hint="launch with: accelerate launch --num_processes N -m assay.cli.main eval ...",
        )
    return Shard(state.process_index, state.num_processes, state)


__all__ = ["Shard", "current_shard", "launched_processes"]
