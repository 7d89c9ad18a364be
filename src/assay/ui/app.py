"""The ``assay ui`` web app: pages over the workspace, rendered on the server with Jinja.

    >>> from assay.ui import create_app
    >>> app = create_app(Workspace.find(), token="...")   # an ASGI app; `assay ui` serves it

Pages read through the same stores as the CLI (runs, documents, the call log, finetuning run
folders); the only writes are review labels, through :class:`assay.review.ReviewStore`. See
``docs/design/web-app.md`` for the choices.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.errors import AssayError, WorkspaceError
from assay.reports.style import CSS
from assay.ui.security import new_token, token_guard
from assay.ui.views import SampleCache
from assay.workspace import Workspace, database_error


@dataclass
class UIState:
    """What the routes share: the workspace, the token, the template environment, caches."""

    workspace: Workspace
    token: str
    model: str = "default"
    samples: SampleCache = field(default_factory=SampleCache)
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    env: Environment = field(
        default_factory=lambda: Environment(
            loader=PackageLoader("assay.ui", "templates"),
            autoescape=select_autoescape(["html"]),
        )
    )

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(css=CSS, token=self.token, **context)
        return HTMLResponse(html, status_code=status)


class NotFound(Exception):
    """An id in the address that names nothing in the workspace."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def found(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(...)``, with a lookup that fails (unknown id) turned into a 404 page."""
    from assay.errors import UserError

    try:
        return fn(*args, **kwargs)
    except WorkspaceError:
        raise
    except UserError as exc:
        raise NotFound(exc.message, exc.hint) from None


def state_of(request: Request) -> UIState:
    state: UIState = request.app.state.ui
    return state


def _wants_json(request: Request) -> bool:
    return (
        "application/json" in request.headers.get("accept", "")
        or "application/json" in request.headers.get("content-type", "")
        or request.url.path.endswith(".json")
    )


def _error(request: Request, status: int, title: str, message: str, hint: str | None) -> Any:
    if _wants_json(request):
        return JSONResponse({"error": message, "hint": hint}, status_code=status)
    return state_of(request).page(
        "error.html", status=status, title=title, message=message, hint=hint
    )


def create_app(
    workspace: Workspace | None = None,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    model: str = "default",
) -> FastAPI:
    """The app over ``workspace``; requests need ``token`` (a new random one when None)."""
    from assay.ui import routes_docs, routes_models, routes_review, routes_runs

    state = UIState(workspace or Workspace.find(), token or new_token(), model=model)
    app = FastAPI(title="assay", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = state
    app.middleware("http")(token_guard(state.token, host))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Any:
        return _error(request, 404, "Not found", exc.message, exc.hint)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        title = "Not found" if exc.status_code == 404 else "Error"
        message = "No page at this address." if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, title, message, None)

    @app.exception_handler(WorkspaceError)
    async def workspace_error(request: Request, exc: WorkspaceError) -> Any:
        return _error(request, 503, "The workspace cannot be read", exc.message, exc.hint)

    @app.exception_handler(sqlite3.Error)
    async def database_failed(request: Request, exc: sqlite3.Error) -> Any:
        err = database_error(exc, state.workspace.db_path)
        return _error(request, 503, "The workspace cannot be read", err.message, err.hint)

    @app.exception_handler(AssayError)
    async def assay_error(request: Request, exc: AssayError) -> Any:
        return _error(request, 400, "That did not work", exc.message, exc.hint)

    for module in (routes_runs, routes_docs, routes_review, routes_models):
        app.include_router(module.router)
    return app


__all__ = ["NotFound", "UIState", "create_app", "found", "state_of"]
