"""How one sample becomes model input and how the reply becomes a scored record.

Small steps, composed by the runner: render the template (with few-shot examples and the
chain-of-thought instruction), then — after the model call — extract the answer and score it.
Each step is a plain function of its inputs; the runner records their configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from assay.errors import ConfigError, UserError
from assay.evals.datasets import Dataset
from assay.evals.retrieval_step import example_row
from assay.evals.task import DatasetConfig, TaskConfig
from assay.models.images import Image, ImageError, load_image
from assay.models.types import Message
from assay.prompting.cot import apply_cot, cot_extractor
from assay.prompting.extract import Extraction, Extractor, get_extractor
from assay.prompting.fewshot import Example, FewShot, layout_chat
from assay.prompting.prompt import with_images
from assay.prompting.templates import PromptTemplate

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def load_dataset(config: DatasetConfig) -> Dataset:
    from assay.evals.builtin_data import load_builtin
    from assay.evals.datasets import load_rows

    if config.builtin is not None:
        options = {k: v for k, v in config.options.items() if v is not None}
        if config.builtin == "pubmedqa" and "path" not in options:
            raise ConfigError(
                "the pubmedqa task needs its data folder (ori_pqal.json, test_ground_truth.json)",
                hint="add --set dataset.options.path=/path/to/pubmedqa",
            )
        return load_builtin(config.builtin, **options)
    assert config.source is not None
    return load_rows(
        config.source, fields=config.fields or None, id_field=config.id_field, split=config.split
    )


@dataclass
class PromptBuilder:
    """Renders the model input for a row: a chat, or raw text for log-likelihood tasks."""

    task: TaskConfig
    dataset: Dataset
    _images: dict[str, Image] = field(default_factory=dict, repr=False)

    @cached_property
    def template(self) -> PromptTemplate:
        # An empty template is an empty context (sentence scoring, as CrowS-Pairs is), not none.
        source = (
            self.task.template
            if self.task.template is not None
            else "{{ " + self.task.input + " }}"
        )
        return PromptTemplate.from_string(source, name=f"{self.task.name}.template")

    @property
    def template_sha256(self) -> str:
        return self.template.sha256

    @cached_property
    def fewshot(self) -> FewShot | None:
        cfg = self.task.fewshot
        if cfg.k == 0 and cfg.method != "ids":
            return None
        pool_ds = load_dataset(cfg.pool) if cfg.pool is not None else self.dataset
        output_field = cfg.output or self.task.target
        examples = []
        for rid, row in zip(pool_ds.ids, pool_ds.rows, strict=True):
            if output_field not in row:
                raise ConfigError(
                    f"few-shot pool rows have no field '{output_field}'",
                    hint="set fewshot.output to the field that holds an example's answer",
                )
            examples.append(
                Example(
                    id=str(rid),
                    input=self._user_text(row),
                    output=str(row[output_field]),
                    fields=dict(row),
                )
            )
        return FewShot(pool=examples, k=cfg.k, method=cfg.method, ids=cfg.ids, seed=self.task.seed)

    def _user_text(self, row: Mapping[str, Any]) -> str:
        chat = self.template.render(example_row(self.task, row))
        users = [m.content for m in chat if m.role == "user"]
        return users[-1] if users else ""

    def row_images(self, row: Mapping[str, Any]) -> tuple[Image, ...]:
        """The row's image (the task's ``image`` field), read and checked; none without one."""
        name = self.task.image
        if name is None:
            return ()
        value = row.get(name)
        if value in (None, ""):
            raise ImageError(f"the row has no image in field '{name}'")
        key = str(value)
        if key not in self._images:
            source: Any = value
            if isinstance(value, str) and not value.startswith("data:"):
                path = Path(value).expanduser()
                if not path.is_absolute():
                    path = self._data_folder / path
                source = path
            self._images[key] = load_image(source)
        return (self._images[key],)

    @cached_property
    def _data_folder(self) -> Path:
        """Where relative image paths start: the dataset file's folder."""
        where = Path(self.dataset.provenance.path)
        return where if where.is_dir() else where.parent

    def chat(self, row: Mapping[str, Any], row_id: str) -> list[Message]:
        rendered = self._chat(row, row_id)
        images = self.row_images(row)
        return with_images(rendered, images) if images else rendered  # type: ignore[return-value]

    def _chat(self, row: Mapping[str, Any], row_id: str) -> list[Message]:
        rendered = self.template.render(dict(row))
        if self.task.system:
            rendered = [Message(role="system", content=self.task.system), *rendered]
        if self.fewshot is not None:
            system = "\n\n".join(m.content for m in rendered if m.role == "system") or None
            query = next((m.content for m in reversed(rendered) if m.role == "user"), "")
            examples = self.fewshot.select(query, row_id)
            rendered = layout_chat(examples, query, layout=self.task.fewshot.layout, system=system)
        with_cot = apply_cot(rendered, self.task.cot)
        assert not isinstance(with_cot, str)  # a chat in, a chat out
        return with_cot

    def render(self, row: Mapping[str, Any]) -> list[Message]:
        """The template's turns for a row; an empty template on a raw-text task is an empty
        context (each continuation scored on its own, as CrowS-Pairs is)."""
        if self.task.template == "" and not self.task.use_chat:
            return []
        return self.template.render(dict(row))

    def prompt(self, row: Mapping[str, Any], row_id: str) -> str | list[Message]:
        """A chat for chat tasks; for raw-text tasks, plain text laid out as
        lm-evaluation-harness does: each example's prompt, a space and its answer, examples
        separated by a blank line, then the item's prompt."""
        if self.task.use_chat:
            return self.chat(row, row_id)
        if self.task.image is not None:
            raise ConfigError(
                f"task '{self.task.name}': images go with a chat prompt",
                hint="set chat: true (or drop image:)",
            )
        rendered = self.render(row)
        if self.task.system:
            rendered = [Message(role="system", content=self.task.system), *rendered]
        query = "\n\n".join(m.content for m in rendered)
        blocks = []
        if self.fewshot is not None:
            blocks = [f"{ex.input} {ex.output}" for ex in self.fewshot.select(query, row_id)]
        text = "\n\n".join([*blocks, query])
        return str(apply_cot(text, self.task.cot))


@dataclass
class ChoiceBuilder:
    """Multiple choice: the answer texts of a row and how each continues the prompt."""

    task: TaskConfig

    @cached_property
    def _format(self) -> jinja2.Template:
        env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        try:
            return env.from_string(self.task.choice_format)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"choice_format: {exc.message}") from None

    def choices(self, row: Mapping[str, Any], row_id: str) -> list[str]:
        if isinstance(self.task.choices, list):
            return [str(c) for c in self.task.choices]
        value = row.get(self.task.choices)
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise UserError(
                f"row {row_id}: field '{self.task.choices}' is not a non-empty list of choices"
            )
        return [str(c) for c in value]

    def continuations(self, choices: Sequence[str]) -> list[str]:
        return [
            self._format.render(choice=c, letter=LETTERS[i], index=i) for i, c in enumerate(choices)
        ]

    def gold(self, target: Any, choices: Sequence[str], row_id: str) -> int | list[int]:
        """The gold answer's index; a list target (several true answers, as TruthfulQA's MC2
        has) gives the list of their indices."""
        if isinstance(target, (list, tuple)):
            if not target:
                raise UserError(f"row {row_id}: the list of gold answers is empty")
            return [self.gold_index(t, choices, row_id) for t in target]
        return self.gold_index(target, choices, row_id)

    def gold_index(self, target: Any, choices: Sequence[str], row_id: str) -> int:
        """The gold answer as an index: given as an index, a letter, or the choice's text."""
        text = str(target).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
        elif len(text) == 1 and text.upper() in LETTERS[: len(choices)]:
            index = LETTERS.index(text.upper())
        elif text in choices:
            index = list(choices).index(text)
        else:
            raise UserError(
                f"row {row_id}: gold label {target!r} is not among the choices {list(choices)}",
                hint="check the task's target field, or skip bad rows with --skip-invalid",
            )
        if not 0 <= index < len(choices):
            raise UserError(f"row {row_id}: gold index {index} is outside {len(choices)} choices")
        return index


def make_extractor(task: TaskConfig) -> Extractor | None:
    if task.extract is None:
        return None
    base = get_extractor(task.extract.strategy, **task.extract.args)
    wrapped = cot_extractor(task.cot, base)
    return wrapped if isinstance(wrapped, Extractor) else Extractor("cot", {}, fn=wrapped)


def extract(extractor: Extractor | None, text: str) -> Extraction:
    if extractor is None:
        return Extraction.found(text.strip(), "none")
    return extractor(text)


def softmax_confidence(logprobs: Sequence[float]) -> float:
    """Probability mass of the chosen option among the options (for calibration)."""
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    return max(weights) / sum(weights)


__all__ = [
    "ChoiceBuilder",
    "PromptBuilder",
    "extract",
    "load_dataset",
    "make_extractor",
    "softmax_confidence",
]
