"""The ``multiple_choice`` kind: each choice is scored as a continuation of the prompt by
log-likelihood, as lm-evaluation-harness does; the most likely one is the answer (default
scorers: ``mc_acc`` and ``mc_acc_norm``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.evals.kinds.base import Batch, KindContext, Record, SampleRecord, TaskKind

if TYPE_CHECKING:
    from assay.evals.task import TaskConfig


class MultipleChoice(TaskKind):
    name = "multiple_choice"
    chat_default = False

    def needed_fields(self, task: TaskConfig) -> set[str]:
        fields = super().needed_fields(task)
        return fields | ({task.choices} if isinstance(task.choices, str) else set())

    def default_scorers(self, task: TaskConfig) -> list[str]:
        return ["mc_acc", "mc_acc_norm"]

    def scoring_row(self, row: dict[str, Any], record: Record) -> dict[str, Any]:
        # acc_norm divides by the answer's length without the delimiter, as
        # lm-evaluation-harness does (" A" -> "A").
        return {**row, "choices": [c.removeprefix(" ") for c in record.continuations or []]}

    def solve(self, ctx: KindContext, batch: Batch) -> list[Record]:
        from assay.evals.steps import ChoiceBuilder, softmax_confidence

        builder = ChoiceBuilder(ctx.task)
        pairs: list[tuple[str, str]] = []
        spans = []
        rendered = []
        for rid, row in batch:
            prompt = ctx.prompts.prompt(row, rid)
            context = prompt if isinstance(prompt, str) else ctx.model.render_chat(prompt)
            choices = builder.choices(row, rid)
            gold = builder.gold(row[ctx.task.target], choices, rid)
            conts = builder.continuations(choices)
            spans.append((len(pairs), conts, choices, gold))
            rendered.append(context)
            pairs.extend((context, c) for c in conts)
        results = ctx.model.loglikelihood(pairs)
        out = []
        for (start, conts, choices, gold), context in zip(spans, rendered, strict=True):
            n = len(conts)
            lls = [r.logprob for r in results[start : start + n]]
            best = max(range(n), key=lambda i: (lls[i], -i))
            # What the model read to score the choices (0 when the backend does not count).
            read = sum(r.prompt_tokens for r in results[start : start + n])
            out.append(
                SampleRecord(
                    input=context,
                    choices=choices,
                    continuations=conts,
                    loglikelihoods=lls,
                    is_greedy=[r.is_greedy for r in results[start : start + n]],
                    output=choices[best],
                    extracted=choices[best],
                    extraction_ok=True,
                    prediction=lls,
                    target=gold,
                    # Calibration compares confidence with a right/wrong outcome: one gold only.
                    confidence=softmax_confidence(lls) if isinstance(gold, int) else None,
                    prompt_tokens=read or None,
                    completion_tokens=0 if read else None,
                )
            )
        return out


KIND = MultipleChoice()
