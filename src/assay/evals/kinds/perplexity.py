"""The ``perplexity`` kind: the rolling log-likelihood of each row's ``input`` text, with no
template and no target (default scorer: token-weighted ``perplexity``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.evals.kinds.base import Batch, KindContext, Record, SampleRecord, TaskKind

if TYPE_CHECKING:
    from assay.evals.task import TaskConfig


class Perplexity(TaskKind):
    name = "perplexity"
    chat_default = False
    renders_template = False

    def needed_fields(self, task: TaskConfig) -> set[str]:
        return {task.input}

    def default_scorers(self, task: TaskConfig) -> list[str]:
        return ["perplexity"]

    def solve(self, ctx: KindContext, batch: Batch) -> list[Record]:
        texts = [str(row[ctx.task.input]) for _, row in batch]
        results = ctx.model.loglikelihood_rolling(texts)
        return [
            SampleRecord(
                input=text,
                output="",
                extraction_ok=True,
                prediction={"logprob": r.logprob, "n_tokens": r.n_tokens},
                target=None,
                loglikelihood=r.logprob,
                n_tokens=r.n_tokens,
            )
            for text, r in zip(texts, results, strict=True)
        ]


KIND = Perplexity()
