"""A generation batch interrupted part-way keeps the sequences it finished: each is cached as it
is done, so the resumed run takes them from the cache and says so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.config import load_settings
from assay.evals.runner import EvalOptions, evaluate
from assay.models.facade import Model
from assay.models.fake import scripted
from assay.workspace import Workspace
from test_eval_runner import qa_task, write_jsonl


class Interrupted(BaseException):
    """Stands for a kill: not an Exception, so nothing on the way catches it."""


def test_resumed_eval_reuses_the_sequences_finished_before_the_kill(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "question": f"{i} + {i}", "answer": str(2 * i)} for i in range(8)]
    task = qa_task(write_jsonl(tmp_path / "qa.jsonl", rows))
    decoded: list[int] = []

    def reply(prompt: str) -> str:
        n = int(re.findall(r"(\d+) \+", prompt)[0])
        decoded.append(n)
        if decoded == [0, 1, 2, 3]:  # the kill comes while the 4th sequence is decoded
            raise Interrupted
        return f"It is {2 * n}."

    model = scripted([reply])
    messages: list[str] = []
    # One batch of 8: nothing is committed when the kill comes.
    options = EvalOptions(progress=False, batch_size=8)
    with pytest.raises(Interrupted):
        evaluate(task, model, options, on_status=messages.append)
    decoded.clear()

    resumed = scripted([reply])
    run = evaluate(task, resumed, options, on_status=messages.append)
    assert run.status == "done" and run.n_done == 8
    assert run.metrics is not None and run.metrics["metrics"]["numeric_match"]["value"] == 1.0
    # The three sequences finished before the kill are not decoded again.
    assert decoded == [3, 4, 5, 6, 7]
    assert messages == [
        f"resuming run {run.id}: 0/8 samples already committed",
        f"run {run.id}: 3 model answers came from the response cache, not recomputed",
    ]


def test_hf_rows_are_cached_as_each_finishes(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The tiny model repeats a prompt's last word: the "dog" row hits its stop string at the
    first token, the "cat" row decodes on to max_tokens."""
    ws = Workspace.init(tmp_path / "ws")
    settings = load_settings(overrides={"device": "cpu", "batch_size": 8})
    prompts = ["I like my cat", "I like my dog"]
    sampling: dict[str, Any] = {"max_tokens": 12, "stop": ["dog"]}
    reference = assay.load(f"hf:{tiny_model_dir}", settings=settings, workspace=ws)
    reference.settings = reference.settings.model_copy(update={"cache": False})
    want = [g.text for g in reference.generate(prompts, **sampling)]
    assert not want[1].strip() and len(want[0]) > 10

    model = assay.load(f"hf:{tiny_model_dir}", settings=settings, workspace=ws)
    original = Model._cache_put
    puts: list[int] = []

    def cache_then_die(self: Model, op: str, rows: list[tuple[str, str]]) -> None:
        original(self, op, rows)
        puts.append(len(rows))
        raise Interrupted  # killed right after the first finished row was cached

    model._cache_put = cache_then_die.__get__(model)  # type: ignore[method-assign]
    with pytest.raises(Interrupted):
        model.generate(prompts, **sampling)
    assert puts == [1], "the finished row was cached on its own, while the other decoded"

    again = assay.load(f"hf:{tiny_model_dir}", settings=settings, workspace=ws)
    gens = again.generate(prompts, **sampling)
    assert [g.text for g in gens] == want
    assert [g.cached for g in gens] == [False, True]
