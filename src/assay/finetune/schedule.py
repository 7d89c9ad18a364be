"""What a run does at each optimizer step: which examples it trains on, and at which learning rate.

**Data order.** Epoch ``e`` visits the training examples in the order of a permutation drawn from
``numpy.random.default_rng([seed, e])``, padded (by repeating its start) to a multiple of the
number of processes; micro-batch ``k`` of the run is slice ``k`` of that order and process ``r``
takes every ``world``-th example of it. An optimizer step consumes ``gradient_accumulation_steps``
micro-batches, so the data position is a function of the step alone: a resumed run sees exactly
the batches the uninterrupted run would have seen. Dropout draws from torch's global RNG, which
checkpoints save and restore per process.

The learning rate is the optimizer's times :func:`lr_factor`: linear warmup, then constant, linear
or cosine decay to the last step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class BatchPlan:
    """Which examples each micro-batch holds, for any step (see the module docstring)."""

    n: int
    batch_size: int
    accumulation: int
    seed: int
    world: int = 1
    rank: int = 0
    total_steps: int = 0
    shuffle: bool = True
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def per_epoch(self) -> int:
        """Micro-batches in one epoch (the last one may be smaller)."""
        padded = -(-self.n // self.world) * self.world
        return -(-padded // (self.batch_size * self.world))

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            order = (
                np.random.default_rng([self.seed, epoch]).permutation(self.n)
                if self.shuffle
                else np.arange(self.n)
            )
            pad = -len(order) % self.world
            if pad:
                order = np.concatenate([order, np.resize(order, pad)])
            self._cache = {epoch: order}
        return self._cache[epoch]

    def micro_batch(self, position: int) -> list[int]:
        epoch, offset = divmod(position, self.per_epoch)
        size = self.batch_size * self.world
        chunk = self._order(epoch)[offset * size : (offset + 1) * size]
        return [int(i) for i in chunk[self.rank :: self.world]]

    def step(self, step: int) -> list[list[int]]:
        """The micro-batches (example indices for this process) of optimizer step ``step``."""
        first = step * self.accumulation
        return [self.micro_batch(first + k) for k in range(self.accumulation)]

    def epoch_at(self, steps_done: int) -> float:
        return steps_done * self.accumulation / self.per_epoch


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The learning-rate multiplier at ``step`` (0-based) of ``total``."""
    if warmup and step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)


__all__ = ["BatchPlan", "lr_factor"]
