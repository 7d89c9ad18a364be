"""Run a prompt template over every row of a JSONL/CSV file, resumably.

Three steps, so that bad input is found before any model work:

1. :func:`plan_batch` renders every row. Rows that cannot be read or rendered are listed with
   their line numbers.
2. :meth:`BatchPlan.check` refuses the whole run when there are bad rows (``on_error="stop"``),
   or lets them be skipped (``"skip"``).
3. :func:`run_batch` sends the remaining rows to the model in batches and appends one record per
   input row to the output JSONL, which is the record of progress: rows already there are not
   computed again, so a killed run is resumed by running the same command again.

Each output record holds: ``row`` (the input line the row starts on), ``vars`` (the row's
values), ``output`` (the text; ``samples`` holds all texts when ``n > 1``), ``prompt_tokens``,
``completion_tokens``, ``latency_s``, ``cost``, ``finish_reason``, ``cached``,
``template_sha256``, ``model``, ``fingerprint``, ``sampling`` and ``error`` (None, or why the
row has no output, e.g. a prompt longer than the model's context). Skipped input rows are not
written; they are reported.

With a :class:`~assay.prompting.shaping.PromptShaping` (few-shot examples, chain of thought,
answer extraction) records also hold ``prompting`` (its settings), ``shots`` (the ids of the
examples shown to this row), ``answer`` (the extracted value, or None) and ``extraction``
(``ok``, ``strategy``, ``reason``: a failed extraction is recorded as such, never guessed);
with ``n > 1``, ``sample_answers`` holds each sample's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from assay.errors import ContextLengthError, UserError
from assay.models.types import Generation, Message, Sampling
from assay.prompting.outfile import OutputFile
from assay.prompting.prompt import make_prompt
from assay.prompting.rows import Row
from assay.prompting.shaping import PromptShaping, extraction_fields
from assay.prompting.templates import PromptTemplate, TemplateError

if TYPE_CHECKING:
    from assay.models.facade import Model

OnError = Literal["stop", "skip"]
MAX_LISTED = 10


@dataclass(frozen=True)
class BatchItem:
    row: Row
    prompt: str | list[Message]
    shots: tuple[str, ...] = ()
    """Ids of the few-shot examples in this row's prompt."""


@dataclass
class BatchPlan:
    template: PromptTemplate
    items: list[BatchItem]
    bad: list[tuple[int, str]]
    """(line, reason) for every input row that cannot be used."""
    shaping: PromptShaping | None = None

    def check(self, on_error: OnError, source: str = "input") -> None:
        if not self.bad or on_error == "skip":
            return
        listed = [f"  line {line}: {reason}" for line, reason in self.bad[:MAX_LISTED]]
        if len(self.bad) > MAX_LISTED:
            listed.append(f"  ... and {len(self.bad) - MAX_LISTED} more")
        rows = "row" if len(self.bad) == 1 else "rows"
        raise UserError(
            f"{len(self.bad)} {rows} of {source} cannot be used, so nothing was run:\n"
            + "\n".join(listed),
            hint="fix them, or pass --on-error skip to run the other rows",
        )


def plan_batch(
    template: PromptTemplate,
    rows: Sequence[Row],
    *,
    system: str | None = None,
    raw: bool = False,
    shaping: PromptShaping | None = None,
) -> BatchPlan:
    """Render every row; with ``shaping``, add its few-shot examples (never the row itself,
    matched by the row's ``id`` field or its text) and chain-of-thought instruction."""
    items: list[BatchItem] = []
    bad: list[tuple[int, str]] = []
    for row in rows:
        if row.values is None:
            bad.append((row.line, row.error or "cannot be read"))
            continue
        try:
            prompt = make_prompt(template.render(row.values), system=system, raw=raw)
        except TemplateError as exc:
            bad.append((row.line, exc.message))
            continue
        shots: list[str] = []
        if shaping is not None and shaping.active:
            row_id = row.values.get("id")
            prompt, shots = shaping.apply(prompt, None if row_id is None else str(row_id))
        items.append(BatchItem(row, prompt, tuple(shots)))
    return BatchPlan(template, items, bad, shaping if shaping and shaping.active else None)


@dataclass
class BatchReport:
    total: int
    """Usable input rows."""
    already_done: int
    written: int = 0
    failed: int = 0
    """Rows written with an error instead of an output."""
    skipped: list[int] = field(default_factory=list)
    """Line numbers of input rows that could not be used."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    extracted: int = 0
    """Rows written now whose answer was extracted."""
    extraction_failed: int = 0
    """Rows written now with an output but no answer that could be extracted."""


def _record(
    item: BatchItem,
    gens: list[Generation],
    base: dict[str, Any],
    error: str | None = None,
    shaping: PromptShaping | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {"row": item.row.line, "vars": item.row.values}
    if gens:
        record.update(
            output=gens[0].text,
            prompt_tokens=gens[0].prompt_tokens,
            completion_tokens=sum(g.completion_tokens for g in gens),
            latency_s=round(sum(g.latency_s for g in gens), 6),
            cost=sum(g.cost for g in gens),
            finish_reason=gens[0].finish_reason,
            cached=all(g.cached for g in gens),
        )
        if len(gens) > 1:
            record["samples"] = [g.text for g in gens]
    else:
        record.update(
            output=None,
            prompt_tokens=0,
            completion_tokens=0,
            latency_s=0.0,
            cost=0.0,
            finish_reason=None,
            cached=False,
        )
    record.update(base)
    if shaping is not None:
        record["shots"] = list(item.shots)
        record.update(extraction_fields(shaping.extract(gens[0].text) if gens else None))
        if len(gens) > 1:
            record["sample_answers"] = [
                e.value if (e := shaping.extract(g.text)) is not None else None for g in gens
            ]
    record["error"] = error
    return record


def _generate_chunk(
    model: Model, chunk: list[BatchItem], sampling: Sampling
) -> list[tuple[list[Generation], str | None]]:
    """Generations per item; a prompt that does not fit gets its error, the others still run."""
    try:
        gens = model.generate([item.prompt for item in chunk], sampling)
    except ContextLengthError as first:
        if len(chunk) == 1:
            return [([], first.message)]
        out: list[tuple[list[Generation], str | None]] = []
        for item in chunk:
            try:
                out.append((model.generate([item.prompt], sampling), None))
            except ContextLengthError as exc:
                out.append(([], exc.message))
        return out
    grouped: list[list[Generation]] = [[] for _ in chunk]
    for g in gens:
        grouped[g.prompt_index].append(g)
    return [(g, None) for g in grouped]


def _check_same_prompting(out: OutputFile, expected: dict[str, Any] | None) -> None:
    # Unlike check_same, a record *without* the field differs from one with it.
    for record in out.records.values():
        if record.get("prompting") != expected:
            raise UserError(
                f"{out.path} holds rows made with other few-shot, chain-of-thought or extraction "
                f"settings ({record.get('prompting')!r}, this run: {expected!r}); they cannot be "
                "resumed together",
                hint="use another --output, or delete the file to start over",
            )


def run_batch(
    model: Model,
    plan: BatchPlan,
    output: str | Path | OutputFile,
    sampling: Sampling,
    *,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> BatchReport:
    """Generate for every planned row not yet in ``output``; append one record per row.

    ``progress=None`` shows progress: a bar on a terminal, a line now and then elsewhere.
    """
    out = output if isinstance(output, OutputFile) else OutputFile(output)
    base: dict[str, Any] = {
        "template_sha256": plan.template.sha256,
        "model": model.address,
        "fingerprint": model.fingerprint,
        "sampling": sampling.model_dump(mode="json"),
    }
    if plan.shaping is not None:
        base["prompting"] = plan.shaping.spec()
    out.check_same("template_sha256", base["template_sha256"], "template")
    _check_same_prompting(out, base.get("prompting"))
    out.check_same("model", base["model"], "model")
    out.check_same("fingerprint", base["fingerprint"], "model version (fingerprint)")
    out.check_same("sampling", base["sampling"], "set of sampling settings")
    for item in plan.items:
        done = out.records.get(item.row.line)
        if done is not None and done.get("vars") != item.row.values:
            raise UserError(
                f"{out.path} row {item.row.line} was made from other input values than the input "
                "has now; the input changed since that output was written",
                hint="use another --output, or delete the file to start over",
            )
    todo = [item for item in plan.items if item.row.line not in out.records]
    report = BatchReport(
        total=len(plan.items),
        already_done=len(plan.items) - len(todo),
        skipped=[line for line, _ in plan.bad],
    )
    size = max(1, batch_size or model.settings.batch_size)
    from assay.progress import progress_bar

    bar = progress_bar(
        report.total,
        "generate",
        "row",
        initial=report.already_done,
        enabled=progress is not False and bool(todo),
    )
    try:
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            for item, (gens, error) in zip(
                chunk, _generate_chunk(model, chunk, sampling), strict=True
            ):
                record = _record(item, gens, base, error, plan.shaping)
                out.write(record)
                report.written += 1
                report.failed += error is not None
                report.prompt_tokens += record["prompt_tokens"]
                report.completion_tokens += record["completion_tokens"]
                report.latency_s += record["latency_s"]
                report.cost += record["cost"]
                if record.get("extraction") is not None:
                    ok = record["extraction"]["ok"]
                    report.extracted += ok
                    report.extraction_failed += not ok
            bar.update(len(chunk))
    finally:
        bar.close()
        if not isinstance(output, OutputFile):
            out.close()
    return report


__all__ = ["BatchItem", "BatchPlan", "BatchReport", "OnError", "plan_batch", "run_batch"]
