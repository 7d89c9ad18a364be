"""Structured output over a whole file: ``assay generate --schema --template --input --output``.

The same plan and output file as :mod:`assay.prompting.batch` (render every row first; one JSONL
record per row; rows already in the output are not run again), with a validated JSON answer per
row from :func:`assay.prompting.structured.generate_structured`. Each record holds ``row``,
``vars``, ``output`` (the last raw text), ``value`` (the validated JSON, or null), ``valid``,
``attempts``, ``errors`` (one per failed attempt), ``gave_up`` (why re-asking stopped early,
or null), ``constrained``, tokens, latency, cost, ``template_sha256``, ``model``,
``fingerprint``, ``sampling`` (with the schema) and ``error`` (why a row has no answer at all,
e.g. a prompt longer than the context).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ContextLengthError
from assay.models.types import Sampling
from assay.prompting.outfile import OutputFile
from assay.prompting.structured import (
    JsonSchema,
    StructuredResult,
    generate_structured,
    load_schema,
    structured_sampling,
)

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.prompting.batch import BatchItem, BatchPlan


@dataclass
class StructuredBatchReport:
    total: int
    already_done: int
    written: int = 0
    valid: int = 0
    invalid: int = 0
    """Rows written now with no valid answer after every attempt."""
    retries: int = 0
    failed: int = 0
    """Rows written now with an error instead of any answer."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


def _chunk_results(
    model: Model,
    chunk: list[BatchItem],
    schema: JsonSchema,
    sampling: Sampling,
    max_attempts: int,
) -> list[tuple[StructuredResult | None, str | None]]:
    """Results per item; a prompt that does not fit gets its error, the others still run."""

    def run(items: list[BatchItem]) -> list[StructuredResult]:
        return generate_structured(
            model, [i.prompt for i in items], schema, sampling=sampling, max_attempts=max_attempts
        )

    try:
        return [(r, None) for r in run(chunk)]
    except ContextLengthError as first:
        if len(chunk) == 1:
            return [(None, first.message)]
    out: list[tuple[StructuredResult | None, str | None]] = []
    for item in chunk:
        try:
            out.append((run([item])[0], None))
        except ContextLengthError as exc:
            out.append((None, exc.message))
    return out


def _record(
    item: BatchItem, result: StructuredResult | None, base: dict[str, Any], error: str | None
) -> dict[str, Any]:
    record: dict[str, Any] = {"row": item.row.line, "vars": item.row.values}
    if result is None:
        result = StructuredResult()
    record.update(
        output=result.raw if result.attempts else None,
        value=result.json_value(),
        valid=result.valid,
        attempts=result.attempts,
        errors=result.errors,
        gave_up=result.gave_up,
        constrained=result.constrained,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        latency_s=round(result.latency_s, 6),
    )
    record.update(base)
    record["error"] = error
    return record


def run_structured_batch(
    model: Model,
    plan: BatchPlan,
    output: str | Path | OutputFile,
    schema: Any,
    sampling: Sampling | None = None,
    *,
    max_attempts: int = 3,
    batch_size: int | None = None,
) -> StructuredBatchReport:
    """A validated JSON answer for every planned row not yet in ``output``."""
    checked = load_schema(schema)
    settings = structured_sampling(sampling, checked)
    out = output if isinstance(output, OutputFile) else OutputFile(output)
    base = {
        "template_sha256": plan.template.sha256,
        "model": model.address,
        "fingerprint": model.fingerprint,
        "sampling": settings.model_dump(mode="json"),
    }
    out.check_same("template_sha256", base["template_sha256"], "template")
    out.check_same("model", base["model"], "model")
    out.check_same("fingerprint", base["fingerprint"], "model version (fingerprint)")
    out.check_same("sampling", base["sampling"], "set of sampling settings and schema")
    todo = [item for item in plan.items if item.row.line not in out.records]
    report = StructuredBatchReport(total=len(plan.items), already_done=len(plan.items) - len(todo))
    size = max(1, batch_size or model.settings.batch_size)
    try:
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            for item, (result, error) in zip(
                chunk, _chunk_results(model, chunk, checked, settings, max_attempts), strict=True
            ):
                record = _record(item, result, {**base, "cost": 0.0}, error)
                record["cost"] = model.cost(record["prompt_tokens"], record["completion_tokens"])
                out.write(record)
                report.written += 1
                report.failed += error is not None
                report.valid += bool(record["valid"])
                report.invalid += error is None and not record["valid"]
                report.retries += max(0, record["attempts"] - 1)
                report.prompt_tokens += record["prompt_tokens"]
                report.completion_tokens += record["completion_tokens"]
                report.cost += record["cost"]
    finally:
        if not isinstance(output, OutputFile):
            out.close()
    return report


__all__ = ["StructuredBatchReport", "run_structured_batch"]
