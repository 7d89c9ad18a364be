"""Progress for long work: a tqdm bar on a terminal or in a notebook, plain lines elsewhere.

Output captured to a file or a CI log gets a bar's carriage-return redraws as one endless line,
or, where bars are switched off away from a terminal, nothing at all. There :func:`progress_bar`
writes a line now and then instead, at each tenth of the work and at least every
``PLAIN_EVERY_S`` seconds, with the count, the rate and the time left::

    gsm8k: 40/200 samples (20%), 3.1 samples/s, about 52 s left

Every long loop in assay (evaluation, ``generate --input``, cached model calls, ``docs add``,
synthetic questions, training) reports through it, so they all behave the same way.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol

PLAIN_EVERY_S = 10.0
"""Off a terminal, the longest wait between two progress lines."""


class Progress(Protocol):
    """What the loops use of a bar (a subset of tqdm's interface)."""

    total: Any
    n: int

    def update(self, n: int = 1) -> Any: ...

    def refresh(self) -> Any: ...

    def set_postfix(self, **values: Any) -> Any: ...

    def write(self, message: str, file: Any = None) -> Any: ...

    def close(self) -> Any: ...


def _interactive() -> bool:
    stream = sys.stderr
    if stream is not None and stream.isatty():
        return True
    # In a notebook tqdm.auto draws a widget. A running kernel, not an imported module, says so:
    # a process that only drives kernels (nbclient) imports ipykernel too.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def progress_bar(
    total: int | None,
    desc: str,
    unit: str,
    *,
    initial: int = 0,
    enabled: bool = True,
    leave: bool = True,
    position: int | None = None,
) -> Progress:
    """A progress reporter: tqdm where it can redraw, :class:`PlainProgress` lines where it
    cannot, nothing when ``enabled`` is false."""
    if not enabled:
        return NoProgress(total, initial)
    if _interactive():
        from tqdm.auto import tqdm

        bar: Progress = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            leave=leave,
            position=position,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        return bar
    return PlainProgress(total, desc, unit, initial=initial)


class NoProgress:
    """Counts, shows nothing."""

    def __init__(self, total: int | None, initial: int = 0) -> None:
        self.total = total
        self.n = initial

    def update(self, n: int = 1) -> None:
        self.n += n

    def refresh(self) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass

    def write(self, message: str, file: Any = None) -> None:
        print(message, file=file or sys.stderr, flush=True)

    def close(self) -> None:
        pass


class PlainProgress(NoProgress):
    """Progress as whole lines on stderr: at each tenth of the total, after ``every_s`` seconds
    without a line, and at the end if the last count was not shown."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        *,
        initial: int = 0,
        every_s: float = PLAIN_EVERY_S,
        clock: Any = time.monotonic,
    ) -> None:
        super().__init__(total, initial)
        self.desc, self.unit, self.every_s, self._clock = desc, unit, every_s, clock
        self._start = self._last = clock()
        self._initial = initial
        self._postfix = ""
        self._shown_tenth = self._tenth()
        self._shown_n = initial
        self._closed = False

    def _tenth(self) -> int:
        return (10 * self.n) // self.total if self.total else 0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self._clock()
        tenth = self._tenth()
        if tenth > self._shown_tenth or now - self._last >= self.every_s:
            self._shown_tenth = tenth
            self._emit(now)

    def set_postfix(self, **values: Any) -> None:
        self._postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n != self._shown_n:  # the last count not shown yet
                self._emit(self._clock())

    def line(self, now: float) -> str:
        """The text of one progress line at time ``now``."""
        units = self.unit if len(self.unit) <= 1 or self.unit.endswith("s") else self.unit + "s"
        done = self.n - self._initial
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        parts = [
            f"{self.desc}: {self.n}/{self.total} {units}"
            if self.total
            else f"{self.desc}: {self.n} {units}"
        ]
        if self.total:
            parts[0] += f" ({100 * self.n // self.total}%)"
        parts.append(f"{rate:.3g} {units}/s")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"about {format_duration((self.total - self.n) / rate)} left")
        elif self.total and self.n >= self.total:
            parts.append(f"done in {format_duration(elapsed)}")
        if self._postfix:
            parts.append(self._postfix)
        return ", ".join(parts)

    def _emit(self, now: float) -> None:
        self._last, self._shown_n = now, self.n
        stream = sys.stderr
        if stream is not None:
            print(self.line(now), file=stream, flush=True)


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


__all__ = [
    "PLAIN_EVERY_S",
    "NoProgress",
    "PlainProgress",
    "Progress",
    "format_duration",
    "progress_bar",
]
