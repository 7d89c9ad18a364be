"""Who may use the app: whoever holds the token printed at start (as Jupyter does).

- Every request needs the token: ``?token=`` in the URL (which also sets a cookie, so links
  work after the first visit), the ``X-Assay-Token`` header, or that cookie.
- A request that changes state (POST) needs the token in the header or the form, not only the
  cookie, so another site cannot make the browser post on the user's behalf.
- Bound to a loopback address, the app answers only requests addressed to ``localhost`` or
  ``127.0.0.1`` (a DNS-rebinding page cannot reach it under another name).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

COOKIE = "assay_token"
HEADER = "x-assay-token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _same(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given), token)


def _refuse(status: int, message: str) -> Response:
    body = (
        "<!doctype html><meta charset='utf-8'><title>assay</title>"
        f"<body style='font-family:system-ui;margin:3em'><h1>{status}</h1><p>{message}</p></body>"
    )
    return HTMLResponse(body, status_code=status)


def token_guard(
    token: str, host: str
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """The middleware that enforces the rules of the module docstring."""
    loopback = host in LOOPBACK

    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if loopback:
            name = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
            if name not in LOOPBACK and name != "testserver":
                return _refuse(403, "This app answers only at localhost or 127.0.0.1.")
        in_url = request.query_params.get("token")
        in_header = request.headers.get(HEADER)
        in_cookie = request.cookies.get(COOKIE)
        if request.method not in SAFE_METHODS:
            form_token = None
            if request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                form_token = (await request.form()).get("token")
            if not (_same(in_header, token) or _same(str(form_token or ""), token)):
                return _refuse(403, "A change needs the app's token (the X-Assay-Token header).")
        elif not (_same(in_url, token) or _same(in_header, token) or _same(in_cookie, token)):
            return _refuse(
                403,
                "Open the address that <code>assay ui</code> printed: it carries the token "
                "(…/?token=…).",
            )
        response = await call_next(request)
        if _same(in_url, token) and not _same(in_cookie, token):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    return guard


__all__ = ["COOKIE", "HEADER", "new_token", "token_guard"]
