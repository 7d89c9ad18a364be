"""The local web app (``assay ui``): runs, comparisons, documents, review, models and cost,
training. See :func:`assay.ui.app.create_app` and ``docs/design/web-app.md``."""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    from assay.ui.app import create_app as make

    return make(*args, **kwargs)


__all__ = ["create_app"]
