"""The running summary of a conversation: a pydantic object that folds in turns as they leave
the context window.

Under the ``summary`` budget policy, turns that no longer fit the context are replaced in the
prompt by this summary (rendered by :func:`summary_text`). It is produced by structured output
(:func:`assay.prompting.structured.generate_structured`: constrained decoding on local models,
validate-and-re-ask on APIs), so it always parses into the schema; an update that still fails
keeps the previous summary and records why.

Any pydantic model can be the schema (``Conversation(summary_schema=MySummary)``); the default
is :class:`ConversationSummary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from assay.models.types import Message, Sampling

if TYPE_CHECKING:
    from assay.models.facade import Model


Short = Annotated[str, Field(max_length=100)]


# Lengths are bounded so that a summary decoded under the schema always ends and stays a
# summary: a small model left free tends to copy the whole conversation into it. Fields carry
# no JSON Schema descriptions: small models copy those into their answer; the prompt explains
# the fields in prose and with a worked example instead.
class ConversationSummary(BaseModel):
    """What a conversation has established so far."""

    topic: str = Field(max_length=60)
    facts: list[Short] = Field(default_factory=list, max_length=6)
    open_questions: list[Short] = Field(default_factory=list, max_length=3)


FIELD_HELP = {
    "topic": "what the conversation is about, in a few words",
    "facts": "facts stated or agreed so far, one short sentence each",
    "open_questions": "questions raised and not yet answered",
}

SUMMARY_SYSTEM = (
    "You keep a running summary of a conversation as JSON. Update the previous summary with the "
    "new exchange: keep facts that still hold, add new ones, drop questions that were answered. "
    "Reply with the JSON object only.\n\n"
    "Example. Previous summary: (none yet). New exchange: user: I grow tomatoes on my balcony; "
    "which fertiliser should I use? assistant: A balanced organic fertiliser every two weeks.\n"
    'Updated summary: {"topic": "balcony tomatoes", "facts": ["The user grows tomatoes on a '
    'balcony", "A balanced organic fertiliser every two weeks was suggested"], '
    '"open_questions": []}'
)

DEFAULT_SUMMARY_SAMPLING = Sampling(max_tokens=320, temperature=0.0)

EXCHANGE_CHARS = 600
"""How much of each message of the new exchange the update reads (about 150 tokens). A summary
keeps short facts, which a message states early; reading a long reply whole made the update's
prompt several times the reply's and, on CPU, its every decoding step slower."""


@dataclass
class SummaryUpdate:
    summary: BaseModel | None
    """The new summary (the previous one when the update failed)."""
    ok: bool
    attempts: int = 1
    errors: list[str] = field(default_factory=list)


def summary_prompt(
    previous: BaseModel | None, exchange: Sequence[Message], schema: type[BaseModel]
) -> str:
    """The request for one update: the previous summary, the new exchange, what each field
    holds (in prose: small models copy descriptions given as JSON into their answer)."""
    before = previous.model_dump_json() if previous is not None else "(none yet)"
    lines = "\n".join(f"{m.role}: {_clipped(m.content, EXCHANGE_CHARS)}" for m in exchange)
    fields = "\n".join(
        f"- {name}: {info.description or FIELD_HELP.get(name, name.replace('_', ' '))}"
        for name, info in schema.model_fields.items()
    )
    return (
        f"Previous summary:\n{before}\n\nNew exchange:\n{lines}\n\n"
        f"Write the updated summary of the whole conversation. Its fields:\n{fields}"
    )


def _clipped(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters at a word boundary, marked with "..." when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def update_summary(
    model: Model,
    previous: BaseModel | None,
    exchange: Sequence[Message],
    schema: type[BaseModel] = ConversationSummary,
    *,
    sampling: Sampling | None = None,
    max_attempts: int = 2,
) -> SummaryUpdate:
    """The summary updated with one exchange (usually a user turn and the reply).

    A backend that decodes under the schema gets one attempt: its reply fits the schema unless
    cut off at ``max_tokens``, and asking again only repeats the cut at twice the cost.
    """
    from assay.prompting.structured import generate_structured

    if getattr(model.backend, "constrains_json_schema", False):
        max_attempts = 1
    prompt = summary_prompt(previous, exchange, schema)
    result = generate_structured(
        model,
        [prompt],
        schema,
        sampling=sampling or DEFAULT_SUMMARY_SAMPLING,
        max_attempts=max_attempts,
        system=SUMMARY_SYSTEM,
    )[0]
    value = result.value
    if result.valid and value is not None:
        if not isinstance(value, BaseModel):
            value = schema.model_validate(value)
        return SummaryUpdate(_deduplicated(value), True, result.attempts, list(result.errors))
    return SummaryUpdate(previous, False, result.attempts, list(result.errors))


def _deduplicated(summary: BaseModel) -> BaseModel:
    """The summary with repeated list items removed (small models repeat a fact)."""
    updates = {}
    for name, value in summary:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            updates[name] = list(dict.fromkeys(value))
    return summary.model_copy(update=updates)


def summary_text(summary: BaseModel) -> str:
    """The summary as prompt text: one labelled line or bullet list per field."""
    parts = []
    for name, value in summary.model_dump().items():
        label = name.replace("_", " ").capitalize()
        if isinstance(value, list):
            if value:
                parts.append(f"{label}:\n" + "\n".join(f"- {v}" for v in value))
        elif value not in (None, ""):
            parts.append(f"{label}: {value}")
    return "\n".join(parts)


__all__ = [
    "ConversationSummary",
    "SummaryUpdate",
    "summary_prompt",
    "summary_text",
    "update_summary",
]
