"""``assay generate --schema FILE``: print a validated JSON answer (or write one per input row).

Kept apart from ``generate.py`` so that command only needs to hand over its options.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assay.cli import common

if TYPE_CHECKING:
    from assay.models.types import Sampling


def run_with_schema(
    *,
    model: str,
    prompt: str | None,
    schema_path: Path,
    sampling: Sampling,
    system: str | None,
    raw: bool,
    as_json: bool,
    template: Path | None,
    var: tuple[str, ...],
    input_path: Path | None,
    output: Path | None,
    on_error: str,
    overrides: dict[str, Any],
) -> None:
    from assay.prompting.structured import load_schema

    schema = load_schema(schema_path)  # a bad file fails before the model loads
    if raw:
        raise click.UsageError(
            "--schema sends a chat (the schema goes in its system turn); drop --raw"
        )
    if sampling.n != 1:
        raise click.UsageError("--schema makes one answer per prompt; drop -n")
    if input_path is not None:
        _run_file(
            model,
            schema,
            template,
            input_path,
            output,
            prompt,
            var,
            as_json,
            sampling,
            system,
            on_error,
            overrides,
        )
        return
    if output is not None:
        raise click.UsageError("--output goes with --input (run a template over a file)")
    _run_one(model, schema, prompt, template, var, sampling, system, as_json, overrides)


def _run_one(
    model: str,
    schema: Any,
    prompt: str | None,
    template: Path | None,
    var: tuple[str, ...],
    sampling: Sampling,
    system: str | None,
    as_json: bool,
    overrides: dict[str, Any],
) -> None:
    from assay.cli.generate import parse_vars
    from assay.models.types import Message
    from assay.prompting.prompt import make_prompt
    from assay.prompting.structured import generate_structured
    from assay.prompting.templates import load_template

    source: str | list[Message]
    if template is not None:
        if prompt is not None:
            raise click.UsageError("give either PROMPT or --template, not both")
        source = load_template(template).render(parse_vars(var))
    else:
        if var:
            raise click.UsageError("--var sets template variables; it needs --template")
        source = common.read_prompt(prompt)
    chat = make_prompt(source, system=system)
    loaded = common.load_model(model, overrides)
    start = time.perf_counter()
    [result] = generate_structured(loaded, [chat], schema, sampling=sampling)
    wall = time.perf_counter() - start
    if as_json:
        common.echo_json(
            {
                "model": loaded.address,
                "fingerprint": loaded.fingerprint,
                "schema": schema.source,
                **result.model_dump(mode="json", exclude={"value"}),
                "value": result.json_value(),
            }
        )
    elif result.valid:
        click.echo(json.dumps(result.json_value(), indent=2, ensure_ascii=False))
    else:
        click.echo(result.raw)
    note = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
    note += ", constrained" if result.constrained else ""
    click.secho(
        f"{result.prompt_tokens} tokens in, {result.completion_tokens} out | {wall:.2f} s | {note}",
        err=True,
        dim=True,
    )
    if not result.valid:
        from assay.errors import BackendError

        raise BackendError(
            f"no answer valid against {schema.source} after {result.attempts} attempts; "
            f"last problem: {result.errors[-1] if result.errors else 'unknown'}"
            + (f" (no more re-asks: {result.gave_up})" if result.gave_up else ""),
            hint="raise --max-tokens if it was cut off, or simplify the schema",
        )


def _run_file(
    model: str,
    schema: Any,
    template: Path | None,
    input_path: Path,
    output: Path | None,
    prompt: str | None,
    var: tuple[str, ...],
    as_json: bool,
    sampling: Sampling,
    system: str | None,
    on_error: str,
    overrides: dict[str, Any],
) -> None:
    from assay.cli.generate import _check_file_mode
    from assay.prompting.batch import plan_batch
    from assay.prompting.outfile import OutputFile
    from assay.prompting.rows import read_rows
    from assay.prompting.structured_batch import run_structured_batch
    from assay.prompting.templates import load_template

    _check_file_mode(prompt, template, output, as_json, var)
    assert template is not None and output is not None
    tpl = load_template(template)
    plan = plan_batch(tpl, read_rows(input_path), system=system)
    plan.check("skip" if on_error == "skip" else "stop", source=str(input_path))
    with OutputFile(output) as out:
        out.check_same("template_sha256", tpl.sha256, "template")
        loaded = common.load_model(model, overrides)
        start = time.perf_counter()
        report = run_structured_batch(loaded, plan, out, schema, sampling)
        wall = time.perf_counter() - start
    parts = [f"wrote {report.written} rows to {output}"]
    if report.already_done:
        parts.append(f"{report.already_done} were already there")
    parts.append(f"{report.valid} valid, {report.invalid} invalid, {report.retries} re-asks")
    if report.failed:
        parts.append(f"{report.failed} with an error (see their 'error' field)")
    click.echo("; ".join(parts), err=True)
    if plan.bad:
        click.echo(f"skipped {len(plan.bad)} unusable input rows", err=True)
    click.secho(
        f"{report.prompt_tokens} tokens in, {report.completion_tokens} out | {wall:.2f} s",
        err=True,
        dim=True,
    )


__all__ = ["run_with_schema"]
