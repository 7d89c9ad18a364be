"""``/docs`` for ``assay serve``: Swagger UI served from this machine, never from a CDN.

FastAPI's own ``/docs`` page loads Swagger UI's script and stylesheet from a CDN, so it is blank
on a machine without internet (the usual place for a local model). Here the same files come
from the ``swagger-ui-bundle-v2`` package (Swagger UI 5: version 4 cannot read the OpenAPI 3.1
that FastAPI writes) and are served under ``/docs/assets/``; the page refers to no other host
(Swagger UI's online spec validator is switched off too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.errors import MissingExtraError

if TYPE_CHECKING:
    from fastapi import FastAPI

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"


def add_offline_docs(app: FastAPI, title: str) -> None:
    """Serve Swagger UI for ``app.openapi_url`` at ``/docs`` from local files.

    ``app`` must be created with ``docs_url=None`` so that FastAPI's CDN page is not registered.
    """
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError as exc:
        raise MissingExtraError(
            "the /docs page of assay serve", "swagger_ui_bundle", "pip install swagger-ui-bundle-v2"
        ) from exc

    app.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - docs",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )


__all__ = ["ASSETS_PATH", "DOCS_PATH", "add_offline_docs"]
