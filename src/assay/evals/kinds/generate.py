"""The ``generate`` kind: the model writes an answer, the extraction step reads it, and the
scorers compare it with the target (default: exact match)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.evals.kinds.base import (
    Batch,
    KindContext,
    Record,
    SampleRecord,
    TaskKind,
    image_fields,
    sampling,
    show,
)

if TYPE_CHECKING:
    from assay.evals.task import TaskConfig


class Generate(TaskKind):
    name = "generate"

    def default_scorers(self, task: TaskConfig) -> list[str]:
        return ["exact_match"]

    def solve(self, ctx: KindContext, batch: Batch) -> list[Record]:
        from assay.evals.steps import extract

        task = ctx.task
        # A trained classifier (run:<id> of the classifier recipe) reads the raw input field,
        # as in training, not the instruction prompt.
        raw = ctx.model.capabilities.classifies_raw_input
        prompts = [
            str(row[task.input]) if raw else ctx.prompts.prompt(row, rid) for rid, row in batch
        ]
        gens = ctx.model.generate(prompts, sampling(task))
        out = []
        for (_, row), prompt, gen in zip(batch, prompts, gens, strict=True):
            got = extract(ctx.extractor, gen.text)
            out.append(
                SampleRecord(
                    input=show(prompt),
                    output=gen.text,
                    extracted=got.value,
                    extraction_ok=got.ok,
                    extraction_error=got.reason or None,
                    # A failed extraction scores as wrong but is flagged and counted apart.
                    prediction=got.value if got.ok else "",
                    target=row[task.target],
                    prompt_tokens=gen.prompt_tokens,
                    completion_tokens=gen.completion_tokens,
                    latency_s=gen.latency_s,
                    **image_fields(prompt),
                )
            )
        return out


KIND = Generate()
