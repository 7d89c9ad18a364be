"""Task kinds as objects: a kind registered from outside runs through the unchanged runner, the
built-in kinds keep their defaults, and retrieval wraps any kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.config_file import validate
from assay.errors import ConfigError, UserError
from assay.evals.kinds import Batch, KindContext, Record, TaskKind, register_kind, unregister_kind
from assay.evals.retrieval_step import HIDDEN_KEY, RetrievalStep
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.task import TaskConfig, load_task
from assay.models.fake import scripted
from assay.workspace import Workspace


class WordCount(TaskKind):
    """Asks the model to repeat a sentence and scores how many words came back."""

    name = "word_count"

    def needed_fields(self, task: TaskConfig) -> set[str]:
        return {task.input, task.target}

    def default_scorers(self, task: TaskConfig) -> list[str]:
        return ["numeric_match"]

    def solve(self, ctx: KindContext, batch: Batch) -> list[Record]:
        prompts = [ctx.prompts.prompt(row, rid) for rid, row in batch]
        replies = ctx.model.generate(prompts)
        return [
            {
                "input": str(row[ctx.task.input]),
                "output": reply.text,
                "extraction_ok": True,
                "prediction": len(reply.text.split()),
                "target": row[ctx.task.target],
                "words": reply.text.split(),
            }
            for (_, row), reply in zip(batch, replies, strict=True)
        ]


@pytest.fixture
def word_count() -> Iterator[WordCount]:
    kind = register_kind(WordCount())
    yield kind
    unregister_kind(kind.name)


def _rows(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "sentences.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _task(path: Path, **extra: Any) -> TaskConfig:
    return TaskConfig.model_validate(
        {
            "name": "words",
            "kind": "word_count",
            "dataset": {"source": str(path)},
            "input": "sentence",
            "target": "n",
            **extra,
        }
    )


def test_a_registered_kind_runs_through_the_runner(tmp_path: Path, word_count: WordCount) -> None:
    data = _rows(
        tmp_path,
        [{"sentence": s, "n": n} for s, n in [("a b c", 3), ("one two", 2), ("x", 5)]],
    )
    assert _task(data).task_kind is word_count and _task(data).use_chat  # the base default
    task = _task(data, chat=False)  # the scripted model repeats the raw prompt
    model = scripted([lambda prompt: prompt])
    run = evaluate(task, model, EvalOptions(progress=False), on_status=lambda _: None)
    assert run.status == "done" and run.n_done == 3
    assert run.metrics is not None
    assert run.metrics["metrics"]["numeric_match"]["value"] == pytest.approx(2 / 3)
    samples = RunStore(Workspace.find()).samples(run.id)
    assert [s["prediction"] for s in samples] == [3, 2, 1]
    assert samples[0]["words"] == ["a", "b", "c"]  # what the kind records is kept as it is
    assert run.provenance["scorers"][0]["name"] == "numeric_match"


def test_a_registered_kind_says_which_fields_rows_miss(
    tmp_path: Path, word_count: WordCount
) -> None:
    data = _rows(tmp_path, [{"sentence": "a b", "n": 2}, {"sentence": "", "n": 1}])
    with pytest.raises(UserError, match=r"1 row\(s\) miss one of the fields \['n', 'sentence'\]"):
        evaluate(_task(data), scripted(["a"]), EvalOptions(progress=False))


def test_unknown_kinds_are_refused_with_the_nearest_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        validate(TaskConfig, {"name": "t", "kind": "generat", "dataset": {"source": "x"}}, "t")
    assert "did you mean 'generate'?" in info.value.message
    assert "multiple_choice" in info.value.message


def test_builtin_kinds_keep_their_defaults() -> None:
    def task(kind: str, **extra: Any) -> TaskConfig:
        data = {"name": "t", "kind": kind, "dataset": {"source": "x"}, **extra}
        return validate(TaskConfig, data, "t.yaml")

    assert [s.name for s in task("generate").scorer_configs()] == ["exact_match"]
    assert [s.name for s in task("multiple_choice").scorer_configs()] == ["mc_acc", "mc_acc_norm"]
    assert [s.name for s in task("perplexity").scorer_configs()] == ["perplexity"]
    structured = {"json_schema": {"type": "object"}, "fields": {"a": "exact"}}
    assert task("structured", structured=structured).scorer_configs() == []
    assert task("generate").use_chat and task("structured", structured=structured).use_chat
    assert not task("multiple_choice").use_chat and not task("perplexity").use_chat
    with pytest.raises(ConfigError, match="a 'structured' block goes with kind: structured"):
        task("generate", structured=structured)
    with pytest.raises(ConfigError, match="a 'structured' block goes with kind: structured"):
        task("structured")


class _Passages:
    """A retriever stand-in: one passage per row, recorded as the real one records it."""

    def augment(self, batch: Batch) -> tuple[list[tuple[str, dict[str, Any]]], list[Record]]:
        rows = [
            (rid, {**row, "context": f"about {rid}", HIDDEN_KEY: {"ids": [rid]}})
            for rid, row in batch
        ]
        return rows, [row[HIDDEN_KEY] for _, row in rows]


def test_retrieval_wraps_any_kind(tmp_path: Path, word_count: WordCount) -> None:
    step = RetrievalStep(word_count, _Passages())  # type: ignore[arg-type]
    task = _task(_rows(tmp_path, [{"sentence": "a", "n": 1}]), template="{{ context }}", chat=False)
    assert step.needed_fields(task) == {"sentence", "n"}
    assert not step.check_prompts(task)  # rows render only once their passages are in
    batch = step.prepare([("r1", {"sentence": "a b", "n": 2})])
    assert batch[0][1]["context"] == "about r1"
    model = scripted([lambda prompt: prompt])
    ctx = KindContext(task, model, _prompts(task), None)
    (record,) = step.solve(ctx, batch)
    assert record["output"] == "about r1" and record["retrieval"] == {"ids": ["r1"]}


def _prompts(task: TaskConfig) -> Any:
    from assay.evals.steps import PromptBuilder, load_dataset

    return PromptBuilder(task, load_dataset(task.dataset))


class NeedsTemplate(WordCount):
    name = "needs_template"

    def check_config(self, task: TaskConfig) -> None:
        if task.template is None:
            raise ValueError("kind needs_template needs a template")


def test_a_kind_checks_its_task_config(tmp_path: Path) -> None:
    register_kind(NeedsTemplate())
    try:
        task = tmp_path / "t.yaml"
        task.write_text("kind: needs_template\ndataset: {source: x.jsonl}\n")
        with pytest.raises(ConfigError, match="needs_template needs a template"):
            load_task(str(task))
        task.write_text("kind: needs_template\ndataset: {source: x.jsonl}\ntemplate: '{{ a }}'\n")
        assert load_task(str(task)).kind == "needs_template"
        with pytest.raises(ValueError, match="already registered"):
            register_kind(NeedsTemplate())
    finally:
        unregister_kind("needs_template")
