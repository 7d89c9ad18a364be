"""Tasks: a dataset, how each sample is put to the model, and how the answer is scored.

Written as YAML (or built in Python as :class:`TaskConfig`). Built-in tasks are YAML files in
``assay/evals/tasks/``. A minimal generate task::

    name: my-task
    kind: generate                     # generate | multiple_choice | structured | perplexity
    dataset: {source: data.jsonl}      # or {builtin: gsm8k, options: {...}}
    template: "Question: {{ question }}"
    target: answer
    extract: {strategy: last_number}
    scorers: [numeric_match]

Unknown keys are errors that suggest the nearest valid key. A ``structured`` task answers in
JSON against a schema and scores fields (see :mod:`assay.evals.structured_kind`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from assay.config_file import apply_overrides, did_you_mean, read_yaml_mapping, validate
from assay.errors import ConfigError
from assay.evals.kinds.base import TaskKind, get_kind, kind_names
from assay.evals.retrieval_step import RetrievalConfig
from assay.evals.structured_kind import StructuredConfig, inline_schema
from assay.plugins import PluginError, Registry

TASKS_DIR = Path(__file__).with_name("tasks")

Kind = str
"""A registered task kind: generate, multiple_choice, structured, perplexity, or one added with
:func:`assay.evals.kinds.register_kind`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetConfig(_Strict):
    builtin: str | None = None
    """A built-in dataset (``assay tasks list`` shows them); ``options`` go to its loader."""
    source: str | None = None
    """A JSONL/CSV/Parquet file, a datasets folder, or ``package:<module>/<path>``."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Options for a built-in dataset's loader (e.g. ``path``, ``subjects``)."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Task field -> source field (``{question: prompt}``); a dotted source path reads into
    nested objects. Unnamed fields are kept as they are."""
    id_field: str | None = None
    """The row field that is its id; default: ``id`` when unique, else the row's position."""
    split: str | None = None
    """The split to read from a folder or a ``datasets`` dataset (``train``, ``test``, ...)."""

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        if (self.builtin is None) == (self.source is None):
            raise ValueError("give exactly one of 'builtin' or 'source'")
        return self


class FewShotConfig(_Strict):
    k: Annotated[int, Field(ge=0)] = 0
    """Examples per prompt; 0 for none."""
    method: Literal["first", "ids", "random", "similar"] = "random"
    """How examples are picked: the first k, the listed ``ids``, a seeded draw per item, or the
    k most similar to the item (by embedding)."""
    ids: list[str] = Field(default_factory=list)
    """The example rows for ``method: ids``."""
    layout: Literal["turns", "inline"] = "turns"
    """Examples as user/assistant turns, or as Question/Answer blocks in one user turn."""
    pool: DatasetConfig | None = None
    """Where examples come from; default: the task's own dataset (the item itself excluded)."""
    output: str | None = None
    """The row field shown as an example's answer; default: the task's target."""


class ExtractConfig(_Strict):
    strategy: str = "answer_line"
    """How the answer is read from a reply (``answer_line``, ``last_number``, ``choice``,
    ``regex``, ``json``), as ``--extract`` in ``assay generate``."""
    args: dict[str, Any] = Field(default_factory=dict)
    """The strategy's options."""


class GenerationConfig(_Strict):
    max_tokens: int = 256
    """New tokens at most per answer."""
    temperature: float = 0.0
    """0 is greedy."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    stop: list[str] = Field(default_factory=list)
    """Sequences that end an answer."""
    json_schema: dict[str, Any] | None = None
    """Hold the output to a JSON Schema (e.g. ``{enum: [a, b]}`` for a label set): local models
    decode under it, so a small model always answers with a valid label."""


class ScorerConfig(_Strict):
    name: str
    """A built-in scorer or ``module:function``."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Keyword options passed to the scorer."""


class ContaminationConfig(_Strict):
    against: list[str] = Field(default_factory=list)
    """Training data to check the task's items against before every run: files or folders
    (text, JSONL, CSV), relative to the task file. Overlapping items are reported, not
    dropped (``--no-contamination-check`` skips the check)."""
    ngram: int = Field(default=13, ge=1)
    """Words per n-gram."""


class TaskConfig(_Strict):
    name: str
    """The task's name (default: the file's name); runs and reports show it."""
    description: str = ""
    """What the task measures, shown by ``assay tasks list``."""
    kind: Kind = "generate"
    """generate: the reply is scored; multiple_choice: each choice is scored by log-likelihood;
    structured: JSON against a schema, scored per field; perplexity: of each row's text."""
    dataset: DatasetConfig
    """Where the rows come from: a built-in dataset or a file."""
    template: str | None = None
    """Jinja with optional role markers; default: the ``input`` field as one user turn."""
    system: str | None = None
    """A system turn put before the template's turns."""
    input: str = "question"
    """The row field that is the question when there is no template (and for few-shot search)."""
    target: str = "target"
    """The row field that holds the reference answer."""
    chat: bool | None = None
    """Send the prompt as a chat (chat template applied). Default: yes for generate, no for
    multiple choice and perplexity, which score raw text as lm-evaluation-harness does."""
    choices: str | list[str] = "choices"
    """Multiple choice: the row field holding the answer texts, or one fixed list for all rows."""
    choice_format: str = " {{ choice }}"
    """Multiple choice: how each choice continues the prompt (``choice``, ``letter``, ``index``)."""
    category: str | None = None
    """A row field to break metrics down by (e.g. subject)."""
    image: str | None = None
    """A row field holding an image shown with the question (a path, relative to the dataset
    file, or a base64 ``data:`` URL); needs a chat task and a model that accepts images."""
    fewshot: FewShotConfig = Field(default_factory=FewShotConfig)
    cot: Literal["off", "step_by_step", "reason_then_answer"] = "off"
    """Chain of thought (``--cot step`` or ``reason-then-answer`` on the command line)."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Sampling for generate and structured tasks."""
    extract: ExtractConfig | None = None
    """How to read the answer from a reply; default: the whole reply (the ``Answer:`` line
    with ``cot: reason_then_answer``)."""
    scorers: list[str | ScorerConfig] = Field(default_factory=list)
    """Scorers by name, or with options; default: exact match (generate), accuracy by
    log-likelihood (multiple choice), perplexity."""
    retrieval: RetrievalConfig | None = None
    """Search a collection per row and render the passages into a template variable."""
    structured: StructuredConfig | None = None
    """``kind: structured``: the JSON Schema and how each answer field is scored."""
    limit: int | None = None
    """Evaluate a seeded sample of this many rows (``--limit`` overrides it)."""
    seed: int = 0
    """Seed for the ``limit`` sample, few-shot draws and sampling."""
    contamination: ContaminationConfig | None = None
    """Check the items against training data before each run (as for ``run:`` models)."""
    source_file: str | None = Field(default=None, exclude=True)

    @model_serializer(mode="wrap")
    def _drop_no_image(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # A task without images dumps as before the field existed: run keys stay the same, so
        # runs started earlier still resume.
        data: dict[str, Any] = handler(self)
        if data.get("image") is None:
            data.pop("image", None)
        return data

    @property
    def task_kind(self) -> TaskKind:
        """The kind's implementation (how rows are answered and scored)."""
        return get_kind(self.kind)

    @property
    def use_chat(self) -> bool:
        return self.chat if self.chat is not None else self.task_kind.chat_default

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        get_kind(value)  # ValueError naming the kinds there are
        return value

    @model_validator(mode="after")
    def _kind_blocks(self) -> TaskConfig:
        kind = self.task_kind
        for other in [get_kind(name) for name in kind_names()]:
            for block in other.blocks:
                if (block in kind.blocks) != (getattr(self, block, None) is not None):
                    raise ValueError(
                        f"a '{block}' block goes with kind: {other.name}, and only with it"
                    )
        kind.check_config(self)
        return self

    def scorer_configs(self) -> list[ScorerConfig]:
        """The task's scorers, else its kind's defaults (structured tasks: none, they are
        scored per field)."""
        out = [ScorerConfig(name=s) if isinstance(s, str) else s for s in self.scorers]
        return out or [ScorerConfig(name=n) for n in self.task_kind.default_scorers(self)]

    def with_overrides(self, **changes: Any) -> TaskConfig:
        data = self.model_dump()
        apply_overrides(data, {k: v for k, v in changes.items() if v is not None}, self.name)
        return _validate(data, self.source_file or self.name)


def _validate(data: dict[str, Any], where: str, lines: dict[str, int] | None = None) -> TaskConfig:
    return validate(TaskConfig, data, where, lines=lines, hidden=["source_file"])


def _plugin_task(name: str, obj: Any) -> Path | TaskConfig:
    """A plugin's task: a task YAML file (a path or a package resource), a :class:`TaskConfig`,
    or a function returning one of those."""
    if callable(obj) and not isinstance(obj, TaskConfig | Path):
        obj = obj()
    if isinstance(obj, TaskConfig):
        return obj
    if isinstance(obj, str | Path) or hasattr(obj, "read_text"):
        path = Path(str(obj))
        if not path.is_file():
            raise PluginError(f"the task file {path} does not exist")
        return path
    raise PluginError(f"{type(obj).__name__} is not a task file or a TaskConfig")


TASKS: Registry[Path | TaskConfig] = Registry(
    "task", group="assay.tasks", convert=_plugin_task, hint="see `assay tasks list`"
)
"""Task name → its YAML file (or a :class:`TaskConfig`); plugins add theirs (``assay.tasks``)."""
for _file in sorted(TASKS_DIR.glob("*.yaml")):
    TASKS.register(_file.stem, _file)


def builtin_tasks() -> dict[str, Path | TaskConfig]:
    """Every named task: the built-in files, then installed plugins' tasks (any that fails to
    load is left out; ``assay plugins`` says why)."""
    return dict(TASKS.items())


def load_task(name_or_path: str) -> TaskConfig:
    """A built-in task by name, or a task YAML file."""
    path = Path(name_or_path)
    named = TASKS.find(name_or_path)
    if named is not None:
        found = TASKS.load(named)
        if isinstance(found, TaskConfig):
            return found.model_copy(deep=True)
        path = found
    elif not path.exists():
        raise ConfigError(
            f"no task '{name_or_path}': not a built-in task and no such file",
            hint=did_you_mean(name_or_path, TASKS.names(), n=3) + "see `assay tasks list`",
        )
    if path.is_dir():
        raise ConfigError(
            f"{path} is a folder; a task is a built-in task name or a task YAML file",
            hint="give the .yaml file inside it, or see `assay tasks list`",
        )
    loaded = read_yaml_mapping(
        path,
        what="task file",
        shape="task settings (name, kind, dataset, ...)",
        empty="a task needs at least dataset: and target:",
    )
    data = loaded.data
    data.setdefault("name", path.stem)
    data = inline_schema(data, path)
    task = _validate(data, str(path), loaded.lines)
    task.source_file = str(path)
    return task


__all__ = [
    "TASKS",
    "DatasetConfig",
    "ExtractConfig",
    "FewShotConfig",
    "GenerationConfig",
    "ScorerConfig",
    "TaskConfig",
    "builtin_tasks",
    "load_task",
]
