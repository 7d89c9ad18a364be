"""One evaluated sample, as a task kind produces it and the run store keeps it.

The fields every kind fills are typed, and so are those of the built-in kinds (multiple
choice's ``choices``, ``continuations``, ``loglikelihoods``, ``is_greedy``; structured output's
``attempts``, ``validation_errors``, ``constrained``; perplexity's ``loglikelihood`` and
``n_tokens``); what a registered kind adds is kept as extra fields. Only fields that were set
are stored, so a record is stored as the same JSON object a plain dict of the same entries
would be, and records stored before this class existed read back unchanged.

It reads like a mapping too (``record["scores"]``, ``record.get("choices")``) for code that
handles stored records as dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SampleRecord(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=False)

    idx: int | None = None
    """The row's position in the run (set when read back from the store)."""
    id: str | None = None
    """The row's id (set when read back from the store)."""
    input: str = ""
    """The prompt as sent (a chat as ``[role] text`` turns)."""
    output: str = ""
    """What the model answered (multiple choice: the most likely choice)."""
    prediction: Any = None
    """What the scorers compare with ``target``."""
    target: Any = None
    extracted: Any = None
    extraction_ok: bool = True
    """False when no answer could be read from the output (scored wrong, counted apart)."""
    extraction_error: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    category: Any = None
    confidence: float | None = None
    """Probability of the chosen answer among the options (for calibration)."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    retrieval: dict[str, Any] | None = None
    """What the retrieval step showed the model for this sample."""
    # multiple choice
    choices: list[str] | None = None
    continuations: list[str] | None = None
    """How each choice continued the prompt (as scored)."""
    loglikelihoods: list[float] | None = None
    is_greedy: list[bool] | None = None
    # structured output
    attempts: int | None = None
    validation_errors: list[str] | None = None
    constrained: bool | None = None
    # perplexity
    loglikelihood: float | None = None
    n_tokens: int | None = None

    @classmethod
    def of(cls, value: SampleRecord | Mapping[str, Any]) -> SampleRecord:
        """A record from a record or a mapping of its fields (a stored record, a kind's dict)."""
        return value if isinstance(value, SampleRecord) else cls.model_validate(dict(value))

    def stored(self) -> dict[str, Any]:
        """The entries that were set, without ``idx`` and ``id`` (the store keeps those in
        columns of their own)."""
        out = self.model_dump(exclude_unset=True)
        out.pop("idx", None)
        out.pop("id", None)
        return out

    def to_json(self) -> str:
        return json.dumps(self.stored(), default=str)

    def as_dict(self) -> dict[str, Any]:
        """Every entry that was set (``idx`` and ``id`` included), as a plain dict."""
        return self.model_dump(exclude_unset=True)

    # -- read as a mapping ---------------------------------------------------------------------
    def _has(self, key: str) -> bool:
        return key in self.model_fields_set or key in (self.model_extra or {})

    def __getitem__(self, key: str) -> Any:
        if not self._has(key):
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._has(key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if self._has(key) else default

    def keys(self) -> list[str]:
        return list(self.as_dict())


__all__ = ["SampleRecord"]
