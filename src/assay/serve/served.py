"""The one model a server serves: its names, its ``/v1/models`` entry, and the lock that runs one
request at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from assay.models.facade import Model
from assay.serve.schemas import OpenAIHTTPError


class ServedModel:
    """The model behind the app, its public name, and the lock that serialises its use."""

    def __init__(self, model: Model, served_name: str | None) -> None:
        self.model = model
        self.name = served_name or model.address
        self.lock = threading.Lock()
        self.created = int(time.time())

    def check_name(self, requested: str | None) -> None:
        if requested and requested not in (self.name, self.model.address):
            raise OpenAIHTTPError(
                404,
                f"The model '{requested}' does not exist; this server serves '{self.name}'",
                code="model_not_found",
                param="model",
            )

    def entry(self) -> dict[str, Any]:
        ctx = self.model.context_length
        return {
            "id": self.name,
            "object": "model",
            "created": self.created,
            "owned_by": "assay",
            "context_length": ctx,
            "max_model_len": ctx,
            "assay_fingerprint": self.model.fingerprint,
            "assay_address": self.model.address,
        }

    def locked(self, fn: Callable[[], Any]) -> Any:
        with self.lock:
            return fn()
