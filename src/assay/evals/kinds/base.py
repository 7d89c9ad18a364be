"""What a task kind is: the row fields it needs, how it turns a batch of rows into sample
records, and how those are scored by default. The runner and the task config only call these
methods, so a new kind is one class registered with :func:`register_kind`, with no change to
either.

    class Echo(TaskKind):
        name = "echo"
        def solve(self, ctx, batch):
            return [SampleRecord(input=row["question"], output=row["question"],
                                 prediction=row["question"], target=row[ctx.task.target])
                    for _, row in batch]
        def default_scorers(self, task):
            return ["exact_match"]

    register_kind(Echo())
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.evals.record import SampleRecord

if TYPE_CHECKING:
    from assay.evals.scorers import Scorer
    from assay.evals.steps import PromptBuilder
    from assay.evals.task import TaskConfig
    from assay.models.facade import Model
    from assay.models.types import Message, Sampling
    from assay.prompting.extract import Extractor

Batch = Sequence[tuple[str, dict[str, Any]]]
"""(row id, row) pairs: what a kind answers in one go."""
Record = SampleRecord


@dataclass
class KindContext:
    """What a kind works with for one run: the task, the model and the prompt steps."""

    task: TaskConfig
    model: Model
    prompts: PromptBuilder
    extractor: Extractor | None


class TaskKind:
    """A task kind; subclasses set ``name`` and implement :meth:`solve` and usually
    :meth:`default_scorers`. The defaults suit a kind that renders the template and reads the
    target field."""

    name: str = ""
    chat_default: bool = True
    """Whether the prompt goes as a chat when the task does not say (``chat:``)."""
    renders_template: bool = True
    """Whether rows are put through the template (so every row is rendered once as a check
    before the run starts)."""
    blocks: tuple[str, ...] = ()
    """Task config sections that belong to this kind (given with it, and only with it)."""

    def needed_fields(self, task: TaskConfig) -> set[str]:
        """Row fields every sample must have (blank counts as missing)."""
        return {task.target} | ({task.input} if task.template is None else set())

    def check_prompts(self, task: TaskConfig) -> bool:
        """Whether every row can be rendered before the run (to refuse bad rows up front)."""
        return self.renders_template

    def check_config(self, task: TaskConfig) -> None:
        """Refuse a task config this kind cannot run (raise ValueError)."""

    def default_scorers(self, task: TaskConfig) -> list[str]:
        """Scorer names used when the task lists none."""
        return []

    def scorers(self, task: TaskConfig) -> list[Scorer]:
        """The scorers of a run: the task's, else the kind's defaults."""
        from assay.evals.scorers import get_scorer

        return [get_scorer(s.name, **s.options) for s in task.scorer_configs()]

    def scoring_row(self, row: dict[str, Any], record: Record) -> dict[str, Any]:
        """The row as scorers see it (its ``sample`` argument)."""
        return row

    def prepare(self, batch: Batch) -> Batch:
        """The rows as the kind and the scorers see them (a wrapping step adds to them)."""
        return batch

    def solve(self, ctx: KindContext, batch: Batch) -> list[Record] | list[dict[str, Any]]:
        """One record per row, in order: ``input``, ``output``, ``prediction``, ``target``,
        ``extraction_ok`` and whatever else the kind records (a :class:`SampleRecord`, or a
        dict of its fields)."""
        raise NotImplementedError


_KINDS: dict[str, TaskKind] = {}
_BUILTIN = {
    "generate": "assay.evals.kinds.generate",
    "multiple_choice": "assay.evals.kinds.multiple_choice",
    "perplexity": "assay.evals.kinds.perplexity",
    "structured": "assay.evals.kinds.structured",
}


def register_kind(kind: TaskKind, *, replace: bool = False) -> TaskKind:
    """Make ``kind`` usable as ``kind: <name>`` in task configs."""
    if not kind.name:
        raise ValueError("a task kind needs a name")
    if not replace and kind.name in kind_names() and get_kind(kind.name) is not kind:
        raise ValueError(f"a task kind named '{kind.name}' is already registered")
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    _KINDS.pop(name, None)


def kind_names() -> list[str]:
    return list(dict.fromkeys([*_BUILTIN, *_KINDS]))


def get_kind(name: str) -> TaskKind:
    """The kind registered under ``name`` (built-in kinds are imported on first use)."""
    if name not in _KINDS and name in _BUILTIN:
        module = importlib.import_module(_BUILTIN[name])
        _KINDS.setdefault(name, module.KIND)
    kind = _KINDS.get(name)
    if kind is None:
        from assay.config_file import did_you_mean

        raise ValueError(
            f"unknown task kind {name!r}; {did_you_mean(name, kind_names())}"
            f"kinds: {', '.join(kind_names())}"
        )
    return kind


# -- helpers the built-in kinds share ------------------------------------------------------------
def sampling(task: TaskConfig, *, json_schema: bool = True) -> Sampling:
    """The task's generation settings as a model call's sampling."""
    from assay.models.types import Sampling, canonical_schema

    g = task.generation
    schema = g.json_schema if json_schema else None
    return Sampling(
        max_tokens=g.max_tokens,
        temperature=g.temperature,
        top_p=g.top_p,
        stop=tuple(g.stop),
        seed=task.seed,
        json_schema=None if schema is None else canonical_schema(schema),
    )


def image_fields(prompt: str | Sequence[Message]) -> dict[str, Any]:
    """For a sample record: the prompt's images (sha256 and a thumbnail for the report)."""
    if isinstance(prompt, str):
        return {}
    images = [image for m in prompt for image in m.images]
    if not images:
        return {}
    return {"images": [{"sha256": i.sha256, "thumbnail": i.thumbnail_url()} for i in images]}


def show(prompt: str | Sequence[Message]) -> str:
    """A prompt as stored in a sample record: the text, or a chat's turns as ``[role] text``."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(f"[{m.role}] {m.content}" for m in prompt)


__all__ = [
    "Batch",
    "KindContext",
    "Record",
    "SampleRecord",
    "TaskKind",
    "get_kind",
    "image_fields",
    "kind_names",
    "register_kind",
    "sampling",
    "show",
    "unregister_kind",
]
