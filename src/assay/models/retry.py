"""Retry with exponential backoff and jitter, honouring a server's Retry-After, within a time
budget, and a circuit breaker for a server that has stopped answering.

One policy for every backend: the facade wraps each backend call in it, and backends that fan a
batch out into concurrent HTTP requests wrap each request in it, so one 429 does not redo a batch.

Waiting is worth it when the server answered "not now" (429, 5xx): it is alive. It is not when
nothing came back at all (:class:`~assay.errors.NoAnswerError`: a timeout, a dropped connection):
each try costs a whole timeout. So a :class:`CircuitBreaker` counts such failures in a row, across
threads; after ``threshold`` of them (after the first, if the server never answered anything)
it opens, and every call fails at once with one clear error instead of waiting out the retries.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from assay.errors import AssayError, NoAnswerError, ServerUnreachableError, TransientBackendError

T = TypeVar("T")
log = logging.getLogger("assay.retry")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    budget_s: float | None = None
    """Seconds one call may take, tries and waits together: no retry starts past it."""

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        backoff = min(self.base_delay_s * 2**attempt, self.max_delay_s)
        # "Full jitter": spread clients out so they do not retry in lockstep.
        return rng.uniform(backoff / 2, backoff)


class CircuitBreaker:
    """Opens after ``threshold`` no-answer failures in a row (one while the server has never
    answered); while open (``cooldown_s``) calls fail at once, then one is let through again."""

    def __init__(
        self,
        server: str,
        threshold: int = 2,
        cooldown_s: float = 30.0,
        hint: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.hint = hint
        self._clock = clock
        self._lock = threading.Lock()
        self._answered = False
        self._answered_at: float | None = None
        self._failures = 0
        self._last: NoAnswerError | None = None
        self._opened_at: float | None = None

    def error(self) -> ServerUnreachableError:
        last = self._last.message if self._last else "no answer"
        if not self._answered:
            message = f"no answer from {self.server} ({last})"
        else:
            message = (
                f"{self.server} stopped answering: {self._failures} requests in a row got "
                f"no answer (last: {last})"
            )
        return ServerUnreachableError(message, hint=self.hint)

    def check(self) -> None:
        """Raise at once while open."""
        with self._lock:
            if self._opened_at is None:
                return
            if self._clock() - self._opened_at >= self.cooldown_s:
                self._opened_at = None  # half open: let one through; one more failure reopens
                return
            raise self.error()

    def now(self) -> float:
        return self._clock()

    def answered(self) -> None:
        with self._lock:
            self._answered, self._failures, self._opened_at = True, 0, None
            self._answered_at = self._clock()

    def no_answer(self, exc: NoAnswerError, sent_at: float | None = None) -> bool:
        """Count one; returns whether the breaker is (now) open. ``sent_at`` (:meth:`now` when
        the failed request went out): if another request was answered since, the server is
        alive and this one was unlucky (a dropped connection under load), so it is not
        counted: concurrent requests to a flaky server do not add up to "stopped answering"."""
        with self._lock:
            if (
                sent_at is not None
                and self._answered_at is not None
                and self._answered_at >= sent_at
            ):
                return self._opened_at is not None
            self._failures += 1
            self._last = exc
            if self._failures >= (self.threshold if self._answered else 1):
                if self._opened_at is None:
                    log.info("%s is not answering; failing fast", self.server)
                self._opened_at = self._clock()
            return self._opened_at is not None


def with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    *,
    breaker: CircuitBreaker | None = None,
    give_up: Callable[[TransientBackendError, str], Exception] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``fn()``, retried on :class:`~assay.errors.TransientBackendError`. An open ``breaker``
    raises its own error. Giving up re-raises the last error, or raises
    ``give_up(last error, "gave up after N retries in Ts[: why]")`` where given."""
    rng = rng or random.Random()
    start = clock()
    attempt = 0
    while True:
        if breaker is not None:
            breaker.check()
        sent_at = breaker.now() if breaker is not None else 0.0
        try:
            result = fn()
        except AssayError as exc:
            if breaker is not None:
                if isinstance(exc, NoAnswerError):
                    if breaker.no_answer(exc, sent_at):
                        raise breaker.error() from exc
                elif not isinstance(exc, ServerUnreachableError):
                    breaker.answered()  # an error status is still an answer
            if not isinstance(exc, TransientBackendError):
                raise
            elapsed = clock() - start
            wait = policy.delay(attempt, exc.retry_after, rng)
            why = None
            if attempt >= policy.max_retries:
                why = ""
            elif policy.budget_s is not None and elapsed + wait > policy.budget_s:
                why = f": the next try would pass the retry budget of {policy.budget_s:g}s"
            if why is not None:
                if give_up is None:
                    raise
                raise give_up(
                    exc, f"gave up after {attempt} retries in {elapsed:.0f}s{why}"
                ) from exc
            log.warning(
                "%s; retry %d/%d in %.2fs", exc.message, attempt + 1, policy.max_retries, wait
            )
            sleep(wait)
            attempt += 1
        else:
            if breaker is not None:
                breaker.answered()
            return result


__all__ = ["CircuitBreaker", "RetryPolicy", "with_retries"]
