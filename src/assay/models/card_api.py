"""The card builder of the ``openai`` provider: what the server says at ``/v1/models``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.errors import BackendError, MissingAPIKeyError, ServerUnreachableError
from assay.models.card import ModelCard
from assay.models.card_files import first_int

if TYPE_CHECKING:
    from assay.models.card import CardRequest


def card(request: CardRequest) -> ModelCard:
    """What an OpenAI-compatible server says about the model at ``/v1/models``."""
    address, resolved, name, settings = (
        request.address,
        request.resolved,
        request.name,
        request.settings,
    )
    import os

    import httpx

    model, _, url = name.partition("@")
    base = (url or settings.openai.base_url or "https://api.openai.com/v1").rstrip("/")
    key = os.environ.get(settings.openai.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    endpoint = f"{base}/models"
    try:
        response = httpx.get(
            endpoint, headers=headers, timeout=min(settings.openai.timeout_s, 10.0)
        )
    except httpx.TransportError as exc:
        raise ServerUnreachableError(
            f"cannot reach {endpoint} to describe '{model}': {exc or type(exc).__name__}",
            hint="start the server, or check the URL after @ / openai.base_url / OPENAI_BASE_URL",
        ) from exc
    if response.status_code in (401, 403):
        raise MissingAPIKeyError(
            f"{endpoint} refused the request ({response.status_code})",
            hint=f"set {settings.openai.api_key_env}",
        )
    if response.status_code >= 400:
        raise BackendError(f"{endpoint} answered HTTP {response.status_code}")
    try:
        listed = response.json().get("data", [])
    except (ValueError, AttributeError):
        listed = []
    entry = next((m for m in listed if isinstance(m, dict) and m.get("id") == model), None)
    notes = [f"described by {endpoint}; weights and memory are the server's business"]
    if entry is None:
        ids = [str(m.get("id")) for m in listed if isinstance(m, dict)][:10]
        notes.append(f"'{model}' is not in the server's model list ({', '.join(ids) or 'empty'})")
    entry = entry or {}
    context = first_int(
        entry, "context_length", "max_model_len", "context_window", "max_context_length"
    )
    return ModelCard(
        address=address,
        resolved=resolved,
        provider="openai",
        path=base,
        name=model,
        format="api",
        generative=True,
        context_length=context,
        license=entry.get("license") if isinstance(entry.get("license"), str) else None,
        license_source="/v1/models" if isinstance(entry.get("license"), str) else None,
        metadata={"listed": bool(entry), **entry},
        notes=notes,
    )
