"""Server-sent events: a blocking model stream run in a thread under the model lock, and the chunks
of chat and text completions (OpenAI's ``stream: true``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from assay.errors import AssayError
from assay.models.types import Message, Sampling
from assay.serve.schemas import ChatRequest, CompletionRequest, OpenAIHTTPError, from_assay_error
from assay.serve.served import ServedModel
from assay.serve.translate import _usage


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _pieces(
    served: ServedModel, make: Callable[[], Iterator[str]], after: Callable[[str], Any]
) -> AsyncGenerator[tuple[str, Any], None]:
    """Run a blocking piece iterator in a thread under the model lock; yield its events.

    Events are ``("piece", text)``, then ``("end", after(full_text))`` or ``("error", exc)``.
    Closing this generator (the client went away) stops the producer at its next piece.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def put(event: tuple[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def work() -> None:
        try:
            with served.lock:
                pieces: list[str] = []
                iterator = make()
                try:
                    for piece in iterator:
                        pieces.append(piece)
                        put(("piece", piece))
                        if stop.is_set():
                            break
                finally:
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                result = None if stop.is_set() else after("".join(pieces))
            put(("end", result))
        except Exception as exc:
            put(("error", exc))

    threading.Thread(target=work, name="assay-serve-stream", daemon=True).start()
    try:
        while True:
            event = await queue.get()
            yield event
            if event[0] != "piece":
                return
    finally:
        stop.set()


async def _first(events: AsyncIterator[tuple[str, Any]]) -> tuple[str, Any]:
    """The first event; an error before any output becomes a normal HTTP error response."""
    event = await events.__anext__()
    if event[0] == "error":
        raise event[1]
    return event


def _error_event(exc: BaseException) -> str:
    err = (
        from_assay_error(exc)
        if isinstance(exc, AssayError)
        else OpenAIHTTPError(500, str(exc), type="server_error")
    )
    return _sse(err.body())


async def _stream_chat(
    served: ServedModel,
    messages: list[Message],
    sampling: Sampling,
    body: ChatRequest,
    head: dict[str, Any],
    fp: str,
) -> Any:
    model = served.model
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk_head = {**head, "object": "chat.completion.chunk", "system_fingerprint": fp}

    def chunk(index: int, delta: dict[str, Any], finish: str | None) -> str:
        return _sse(
            {
                **chunk_head,
                "choices": [
                    {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
                ],
            }
        )

    if body.n > 1 or body.logprobs:
        # Several samples (or log-probabilities): generate, then send each as one chunk.
        gens = await run_in_threadpool(served.locked, lambda: model.generate([messages], sampling))

        async def replay() -> AsyncIterator[str]:
            for i, g in enumerate(gens):
                yield chunk(i, {"role": "assistant", "content": ""}, None)
                yield chunk(i, {"content": g.text}, None)
                yield chunk(i, {}, g.finish_reason)
            if include_usage:
                usage = _usage(gens[0].prompt_tokens, sum(g.completion_tokens for g in gens))
                yield _sse({**chunk_head, "choices": [], "usage": usage})
            yield "data: [DONE]\n\n"

        return StreamingResponse(replay(), media_type="text/event-stream")

    def after(text: str) -> tuple[int, int]:
        return model.count_tokens(model.render_chat(messages)), model.count_tokens(text)

    events = _pieces(served, lambda: model.stream(messages, sampling), after)
    first = await _first(events)

    async def stream() -> AsyncIterator[str]:
        yield chunk(0, {"role": "assistant", "content": ""}, None)
        event = first
        try:
            while event[0] == "piece":
                yield chunk(0, {"content": event[1]}, None)
                event = await events.__anext__()
        finally:
            await events.aclose()
        if event[0] == "error":
            yield _error_event(event[1])
            return
        prompt_tokens, completion_tokens = event[1]
        finish = "length" if completion_tokens >= sampling.max_tokens else "stop"
        yield chunk(0, {}, finish)
        if include_usage:
            yield _sse(
                {**chunk_head, "choices": [], "usage": _usage(prompt_tokens, completion_tokens)}
            )
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def _stream_completion(
    served: ServedModel,
    prompt: str,
    sampling: Sampling,
    body: CompletionRequest,
    head: dict[str, Any],
    fp: str,
) -> Any:
    model = served.model
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk_head = {**head, "object": "text_completion", "system_fingerprint": fp}

    def chunk(text: str, finish: str | None) -> str:
        return _sse(
            {
                **chunk_head,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            }
        )

    def after(text: str) -> tuple[int, int]:
        return model.count_tokens(prompt), model.count_tokens(text)

    events = _pieces(served, lambda: model.stream(prompt, sampling), after)
    first = await _first(events)

    async def stream() -> AsyncIterator[str]:
        if body.echo:
            yield chunk(prompt, None)
        event = first
        try:
            while event[0] == "piece":
                yield chunk(event[1], None)
                event = await events.__anext__()
        finally:
            await events.aclose()
        if event[0] == "error":
            yield _error_event(event[1])
            return
        prompt_tokens, completion_tokens = event[1]
        yield chunk("", "length" if completion_tokens >= sampling.max_tokens else "stop")
        if include_usage:
            yield _sse(
                {**chunk_head, "choices": [], "usage": _usage(prompt_tokens, completion_tokens)}
            )
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def _replay_completion(
    head: dict[str, Any],
    choices: list[dict[str, Any]],
    prompt_tokens: int,
    completion_tokens: int,
    body: CompletionRequest,
    fp: str,
) -> AsyncIterator[str]:
    """A finished completion sent as a stream: one chunk per choice."""
    chunk_head = {**head, "object": "text_completion", "system_fingerprint": fp}
    for choice in choices:
        yield _sse({**chunk_head, "choices": [choice]})
    if body.stream_options and body.stream_options.include_usage:
        yield _sse({**chunk_head, "choices": [], "usage": _usage(prompt_tokens, completion_tokens)})
    yield "data: [DONE]\n\n"
