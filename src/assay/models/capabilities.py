"""What a backend can do beyond generating text, declared by the backend instead of probed.

A backend sets ``capabilities`` (a class attribute, or a property when it depends on the model
or the server) and callers ask :attr:`assay.models.facade.Model.capabilities`:

    class MyBackend:
        capabilities = Capabilities(loglikelihood=True, constrained_decoding=True)

A backend that declares nothing (one written before capabilities existed) is read once, here,
from the attributes such backends used to carry.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

NAMES = {
    "loglikelihood": "log-likelihood",
    "prompt_logprobs": "prompt log-probabilities",
    "constrained_decoding": "constrained decoding",
    "tools": "tool calls",
    "images": "accepts images",
    "embeddings": "embeddings",
    "reports_finished": "reports each finished request",
    "classifies_raw_input": "classifies raw input",
}


@dataclass(frozen=True)
class Capabilities:
    loglikelihood: bool = False
    """``loglikelihood``/``loglikelihood_rolling`` give real values (multiple choice, perplexity)."""
    prompt_logprobs: bool = False
    """``prompt_logprobs(texts, top)`` scores a prompt token by token (``assay score``, echo)."""
    constrained_decoding: bool = False
    """``generate`` decodes under a request's ``json_schema``: the reply fits unless cut off."""
    tools: bool = False
    """The backend's API takes tool definitions and returns tool calls (OpenAI function calling);
    others are driven through structured output."""
    images: bool = False
    """Messages may carry images (``Message.images``). Such a backend may also set
    ``max_images`` (per prompt) and ``max_image_side`` (see :mod:`assay.models.image_prompts`)."""
    embeddings: bool = False
    """The backend embeds texts (no built-in generation backend does; see ``assay.rag.embed``)."""
    reports_finished: bool = False
    """``generate(requests, on_finished=fn)`` calls ``fn`` as each request finishes."""
    classifies_raw_input: bool = False
    """A trained classifier: it reads a task's raw input field, not the instruction prompt."""

    def names(self) -> list[str]:
        """The capabilities it has, in words (for cards and ``assay plugins``)."""
        return [NAMES[f.name] for f in fields(self) if getattr(self, f.name)]


def capabilities_of(backend: object) -> Capabilities:
    """What ``backend`` declares; for one that declares nothing, what its attributes say."""
    declared = getattr(backend, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    info = getattr(backend, "info", None)
    return Capabilities(
        loglikelihood=bool(info().supports_loglikelihood) if callable(info) else False,
        prompt_logprobs=callable(getattr(backend, "prompt_logprobs", None)),
        constrained_decoding=bool(getattr(backend, "constrains_json_schema", False)),
        reports_finished=bool(getattr(backend, "reports_finished", False)),
        classifies_raw_input=bool(getattr(backend, "classifies_raw_input", False)),
    )


__all__ = ["Capabilities", "capabilities_of"]
