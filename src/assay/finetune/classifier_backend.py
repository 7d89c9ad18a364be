"""A trained classifier run as a model backend: ``run:<id>`` of the ``classifier`` recipe.

It "generates" the predicted class name for a text, so ``assay generate run:bbc "..."`` labels a
text and ``assay eval bbc-news -m run:bbc`` scores it like a prompted model, on the same items,
with the same extraction and scorers (and so ``assay compare`` pairs the two runs).

A classifier was trained on the raw texts, not on an instruction prompt: it says so with
``classifies_raw_input`` among its capabilities, and the evaluation runner then hands it the
task's ``input`` field instead of the rendered template. Given a chat, it classifies the last user message. Texts
longer than the run's ``max_length`` are truncated, as in training. Regression runs return the
number as text. Log-likelihood scoring is not something a classifier does and is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import UnsupportedOperationError
from assay.models.capabilities import Capabilities
from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Message,
    ModelInfo,
    RollingLoglikelihood,
)

if TYPE_CHECKING:
    from assay.workspace import Workspace


class ClassifierBackend:
    provider = "run"
    capabilities = Capabilities(classifies_raw_input=True)
    """Evaluation gives this backend a task's raw ``input`` field, not the rendered prompt."""

    def __init__(self, folder: Path, workspace: Workspace | None = None, batch_size: int = 32):
        from assay.finetune.recipes.classifier import load_classifier

        self.folder = folder
        self.name = folder.name
        self.workspace = workspace
        self.batch_size = batch_size
        self.model, self.tokenizer, self.max_length = load_classifier(folder)
        self._fingerprint: str | None = None

    # -- identity ------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from assay.models.fingerprint import weights_fingerprint

            self._fingerprint = weights_fingerprint(self.folder, self.workspace)
        return self._fingerprint

    def context_length(self) -> int | None:
        return None  # longer texts are truncated to max_length, as in training

    def info(self) -> ModelInfo:
        config = self.model.config
        return ModelInfo(
            address=f"run:{self.name}",
            provider="run",
            name=self.name,
            fingerprint=self.fingerprint(),
            context_length=self.max_length,
            chat_template=False,
            supports_loglikelihood=self.capabilities.loglikelihood,
            details={
                "kind": "classifier",
                "problem_type": config.problem_type,
                "labels": [config.id2label[i] for i in range(config.num_labels)],
                "max_length": self.max_length,
            },
        )

    # -- text ----------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, truncation=False, verbose=False)["input_ids"])

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """What the classifier reads of a chat: its last user message."""
        users = [m.content for m in messages if m.role == "user"]
        return users[-1] if users else (messages[-1].content if messages else "")

    def _text(self, request: GenerateRequest) -> str:
        p = request.prompt
        return p if isinstance(p, str) else self.render_chat(p)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        from assay.finetune.recipes.classifier import classifier_logits, labels_from_logits

        texts = [self._text(r) for r in requests]
        logits, lengths = classifier_logits(
            self.model, self.tokenizer, texts, self.max_length, self.batch_size
        )
        labels = labels_from_logits(self.model, logits)
        return [
            Generation(text=str(label), prompt_tokens=n, completion_tokens=0)
            for label, n in zip(labels, lengths, strict=True)
        ]

    def stream(self, request: GenerateRequest) -> Iterator[str]:
        yield self.generate([request])[0].text

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        raise self._refuse("log-likelihood scoring")

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingLoglikelihood]:
        raise self._refuse("perplexity")

    def _refuse(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"run:{self.name} is a classifier: it predicts labels and does not do {what}",
            hint="evaluate it on a generate task whose answers are its class names",
        )


def load(folder: Path, workspace: Workspace | None = None, **options: Any) -> ClassifierBackend:
    return ClassifierBackend(folder, workspace, **options)


__all__ = ["ClassifierBackend", "load"]
