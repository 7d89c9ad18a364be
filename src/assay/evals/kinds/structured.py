"""The ``structured`` kind: a JSON answer against a schema, scored field by field (the config,
generation and field scoring are in :mod:`assay.evals.structured_kind`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.evals.kinds.base import Batch, KindContext, Record, TaskKind

if TYPE_CHECKING:
    from assay.evals.scorers import Scorer
    from assay.evals.task import TaskConfig


class Structured(TaskKind):
    name = "structured"
    blocks = ("structured",)

    def needed_fields(self, task: TaskConfig) -> set[str]:
        from assay.evals.structured_kind import gold_fields

        return gold_fields(task) | ({task.input} if task.template is None else set())

    def scorers(self, task: TaskConfig) -> list[Scorer]:
        from assay.evals.structured_kind import structured_scorers

        return structured_scorers(task)

    def solve(self, ctx: KindContext, batch: Batch) -> list[Record]:
        from assay.evals.structured_kind import solve_structured

        return solve_structured(ctx.task, ctx.model, ctx.prompts, batch)


KIND = Structured()
