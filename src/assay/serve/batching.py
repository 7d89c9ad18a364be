"""Requests that arrive together decode together, as inference servers do.

Each plain generation request (one prompt, no stream, no tools) is queued; one worker thread
takes what is waiting (up to ``max_batch``, after waiting ``wait_s`` for more to arrive once the
first is there), groups it by sampling settings and sends each group to the model as one
``Model.generate`` call, which the backend decodes as one batch. While a batch decodes, the next
requests queue, so under load batches fill by themselves; a lone request waits only ``wait_s``.

Each answer goes back to its own request by position. If a batch fails (say one prompt is too
long for the context), its requests are run one by one so only the one at fault fails.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from assay.models.types import Generation, Message, Sampling
from assay.serve.served import ServedModel

Prompt = str | list[Message]


@dataclass
class _Item:
    prompt: Prompt
    sampling: Sampling
    future: Future[list[Generation]] = field(default_factory=Future)


class Batcher:
    def __init__(self, served: ServedModel, max_batch: int = 16, wait_s: float = 0.02) -> None:
        self.served = served
        self.max_batch = max(1, max_batch)
        self.wait_s = wait_s
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batch_sizes: list[int] = []
        """The size of every ``generate`` call made so far (for tests and ``/health``)."""

    async def generate(self, prompt: Prompt, sampling: Sampling) -> list[Generation]:
        """The generations for one prompt, decoded with whatever else is waiting."""
        item = _Item(prompt, sampling)
        self._ensure_started()
        self._queue.put(item)
        return await asyncio.wrap_future(item.future)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    # -- the worker ----------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="assay-batcher", daemon=True)
                self._thread.start()

    def _take(self) -> list[_Item] | None:
        first = self._queue.get()
        if first is None:
            return None
        items = [first]
        deadline = time.monotonic() + self.wait_s
        while len(items) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            items.append(item)
        return items

    def _run(self) -> None:
        while (items := self._take()) is not None:
            groups: dict[str, list[_Item]] = {}
            for item in items:
                groups.setdefault(item.sampling.model_dump_json(), []).append(item)
            for group in groups.values():
                self._decode(group)

    def _decode(self, group: list[_Item]) -> None:
        model = self.served.model
        sampling = group[0].sampling
        try:
            gens = self.served.locked(lambda: model.generate([i.prompt for i in group], sampling))
        except BaseException as exc:
            if len(group) == 1:
                group[0].future.set_exception(exc)
            else:
                for item in group:
                    self._decode([item])
            return
        self.batch_sizes.append(len(group))
        for k, item in enumerate(group):
            mine = [g.model_copy(update={"prompt_index": 0}) for g in gens if g.prompt_index == k]
            item.future.set_result(mine)


__all__ = ["Batcher"]
