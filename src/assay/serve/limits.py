"""What one ``assay serve`` accepts: request size, ``max_tokens``, requests at once, batch size.

Beyond the concurrent-request cap a request is answered 429 with ``Retry-After`` (clients such
as the openai SDK wait and retry); a body over the size limit 413; a ``max_tokens`` over the cap
400 naming the cap. All are OpenAI-format errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from assay.serve.schemas import OpenAIHTTPError


@dataclass(frozen=True)
class ServeLimits:
    max_concurrent: int = 64
    """Requests in progress at once (queued for the model included); more are answered 429."""
    max_request_bytes: int = 4 * 1024 * 1024
    """Largest request body."""
    max_tokens: int | None = 4096
    """Largest ``max_tokens`` a request may ask for (None: the model's context is the limit)."""
    max_batch: int = 16
    """Requests decoded together at most."""
    batch_wait_s: float = 0.02
    """How long the first waiting request waits for others to join its batch."""

    def default_max_tokens(self, default: int) -> int:
        """What a request that names no ``max_tokens`` gets: the default, within the cap."""
        return default if self.max_tokens is None else min(default, self.max_tokens)

    def check_max_tokens(self, value: int, param: str = "max_tokens") -> None:
        if self.max_tokens is not None and value > self.max_tokens:
            raise OpenAIHTTPError(
                400,
                f"{param} is {value}, more than this server allows ({self.max_tokens}); "
                "ask for fewer",
                param=param,
            )


# Paths that cost nothing to answer are never refused for load.
_LIGHT = ("/health", "/v1/models")


def add_limits(app: FastAPI, limits: ServeLimits) -> None:
    """The size and concurrency checks, as a middleware in front of every route."""
    state = {"in_flight": 0}

    @app.middleware("http")
    async def _limits(request: Request, call_next: Callable[[Request], Any]) -> Any:
        if request.method != "POST" or request.url.path.startswith(_LIGHT):
            return await call_next(request)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limits.max_request_bytes:
            err = OpenAIHTTPError(
                413,
                f"the request is {int(length)} bytes, more than this server accepts "
                f"({limits.max_request_bytes})",
                code="request_too_large",
            )
            return JSONResponse(err.body(), status_code=413)
        if state["in_flight"] >= limits.max_concurrent:
            err = OpenAIHTTPError(
                429,
                f"this server is busy ({limits.max_concurrent} requests in progress); "
                "retry shortly",
                type="rate_limit_error",
                code="too_many_requests",
            )
            return JSONResponse(err.body(), status_code=429, headers={"Retry-After": "1"})
        # The event loop runs one coroutine step at a time: the count needs no lock.
        state["in_flight"] += 1
        try:
            return await call_next(request)
        finally:
            state["in_flight"] -= 1

    app.state.in_flight = state


__all__ = ["ServeLimits", "add_limits"]
