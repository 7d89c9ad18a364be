"""Retry with exponential backoff and jitter, honouring a server's Retry-After.

One policy for every backend: the facade wraps each backend call in it, and backends that fan a
batch out into concurrent HTTP requests wrap each request in it, so one 429 does not redo a batch.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from assay.errors import TransientBackendError

T = TypeVar("T")
log = logging.getLogger("assay.retry")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        backoff = min(self.base_delay_s * 2**attempt, self.max_delay_s)
        # "Full jitter": spread clients out so they do not retry in lockstep.
        return rng.uniform(backoff / 2, backoff)


def with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    rng = rng or random.Random()
    attempt = 0
    while True:
        try:
            return fn()
        except TransientBackendError as exc:
            if attempt >= policy.max_retries:
                raise
            wait = policy.delay(attempt, exc.retry_after, rng)
            log.warning(
                "%s; retry %d/%d in %.2fs", exc.message, attempt + 1, policy.max_retries, wait
            )
            sleep(wait)
            attempt += 1


__all__ = ["RetryPolicy", "with_retries"]
