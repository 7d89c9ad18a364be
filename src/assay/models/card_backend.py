"""The card of a model whose backend describes itself: ``fake:`` models, and any provider (a
plugin's) that builds no card of its own. The backend is loaded and asked for its ``info()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.models.card import ModelCard

if TYPE_CHECKING:
    from assay.models.card import CardRequest


def card(request: CardRequest) -> ModelCard:
    """What the loaded backend says about itself: name, context, chat template, capabilities."""
    from assay.models.capabilities import capabilities_of
    from assay.models.registry import BackendContext, load_backend

    backend = load_backend(
        request.resolved,
        lambda a: BackendContext(settings=request.settings, workspace=request.workspace, address=a),
    )
    info = backend.info()
    return ModelCard(
        address=request.address,
        resolved=request.resolved,
        provider=request.provider,
        path=request.name or None,
        name=info.name,
        format="backend",
        context_length=info.context_length,
        chat_template=info.chat_template,
        metadata={
            "fingerprint": info.fingerprint,
            "capabilities": capabilities_of(backend).names(),
            **info.details,
        },
        notes=[f"described by the {request.provider} backend itself: no files read"],
    )


def fake_card(request: CardRequest) -> ModelCard:
    """A scripted backend's card: what it says about itself, and that it needs nothing."""
    built = card(request)
    built.format = "fake"
    built.generative = True
    built.notes = ["a scripted backend for tests: no weights, no memory needed"]
    return built
