"""``assay generate``: one prompt, one template call, or a template over a whole file."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assay.cli import common
from assay.cli.prompt_opts import EPILOG, given_options, prompt_options, report_extraction
from assay.cli.vocabulary import Command, Renamed, model_option, pick_model

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.models.types import Generation, Message, Sampling
    from assay.prompting.shaping import PromptShaping
    from assay.prompting.templates import PromptTemplate

_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    r"""``\n``, ``\t``, ``\r`` and ``\\`` typed on the command line become the characters."""
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    """``k=v`` pairs; ``k=@file`` reads the file (trailing newlines dropped, as ``$(cat file)``
    does), ``k=@@text`` is the literal ``@text``."""
    from assay.errors import UserError

    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--var")
        if value.startswith("@@"):
            value = value[1:]
        elif value.startswith("@"):
            path = Path(value[1:]).expanduser()
            try:
                value = path.read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise UserError(
                    f"--var {key}: cannot read {path}: {exc.strerror or exc}",
                    hint="write k=@@text for a value that starts with a literal @",
                ) from None
        values[key] = value
    return values


# `-m N` was the token limit; `-m` is the model in every command now.
RENAMED = (Renamed("-m", "--max-tokens", when=str.isdigit, why="-m is the model now"),)


@click.command("generate", epilog=EPILOG, cls=Command, renamed=RENAMED)
@click.argument("model", required=False)
@click.argument("prompt", required=False)
@model_option
@click.option("-s", "--system", help="System prompt (replaces a template's system turn).")
@click.option(
    "-t", "--temperature", type=float, default=0.0, show_default=True, help="0 is greedy."
)
@click.option("--top-p", type=float, default=1.0, show_default=True, help="Nucleus sampling mass.")
@click.option("--max-tokens", type=int, default=256, show_default=True, help="New tokens at most.")
@click.option("--seed", type=int, help="Sampling seed (sample i of -n uses seed + i).")
@click.option("--stop", multiple=True, help=r"Stop sequence; repeatable. '\n' means a newline.")
@click.option("-n", "n", type=int, default=1, show_default=True, help="Samples per prompt.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print generations, tokens, latency and cost as JSON."
)
@click.option("--raw", is_flag=True, help="Send the text as-is, without the chat template.")
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Jinja2 prompt file (see 'Templates' below).",
)
@click.option(
    "--var",
    "var",
    multiple=True,
    metavar="KEY=VALUE",
    help="Template variable; KEY=@file reads a file.",
)
@click.option(
    "-i",
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run the template over each row of a .jsonl or .csv file.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL file for --input results.",
)
@click.option(
    "--on-error",
    type=click.Choice(["stop", "skip"]),
    default="stop",
    show_default=True,
    help="Bad --input rows: refuse to start, or skip them.",
)
@click.option(
    "--batch-size", type=int, help="Rows per model call with --input (default: settings)."
)
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON Schema file: print JSON valid against it (constrained decoding on local "
    "models; invalid answers are re-asked, 3 attempts in all).",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="PATH",
    help="Show the model an image with the prompt (PNG, JPEG, ...; a PDF's first page); "
    "repeatable. Needs a model that accepts images.",
)
@click.option(
    "--image-detail",
    type=click.Choice(["auto", "low", "high"]),
    default="auto",
    show_default=True,
    help="How closely an API model looks at the images (OpenAI's detail).",
)
@prompt_options
def generate(
    model: str | None,
    prompt: str | None,
    model_option: str | None,
    system: str | None,
    temperature: float,
    top_p: float,
    max_tokens: int,
    seed: int | None,
    stop: tuple[str, ...],
    n: int,
    as_json: bool,
    raw: bool,
    template: Path | None,
    var: tuple[str, ...],
    input_path: Path | None,
    output: Path | None,
    on_error: str,
    batch_size: int | None,
    schema_path: Path | None = None,
    images: tuple[str, ...] = (),
    image_detail: str = "auto",
    **prompting: Any,
) -> None:
    """Generate text from MODEL for PROMPT (or standard input).

    MODEL comes first, or as -m MODEL anywhere on the line.

    By default the prompt is sent as a chat, [system?, user], through the model's own chat
    template; --raw sends the text exactly as typed. A single completion streams to the terminal;
    a one-line summary (tokens in/out, latency, tokens/s, cost) goes to stderr. Every call is
    logged in the workspace (see 'assay log').

    \b
    Examples:
      assay generate default "Why is the sky blue?"
      echo "Summarise: ..." | assay generate -m default --max-tokens 100
      assay generate default "Name a colour." -n 3 -t 0.8 --seed 1
      assay generate default "2 + 2 =" --raw --stop '\\n'
      assay generate default "Hi" --system "Answer in French." --json
      assay generate default "Ada Lovelace, 36, mathematician" --schema person.json
      assay generate hf:./smolvlm "What does this plot show?" --image fig.png

    \b
    Templates (Jinja2; role markers start chat turns; no marker = one user turn):
      {# role: system #}
      You are a careful tutor.
      {# role: user #}
      Question: {{ question }}

    \b
      assay generate default --template qa.jinja --var question="What is 2+2?"
      assay generate default --template qa.jinja --var question=@q.txt
    A template shows an image with {{ image(path) }} (over --input rows, {{ image(figure) }}
    reads each row's 'figure' column).

    \b
    Over a file (one output row per input row; rerun the same command to resume):
      assay generate default --template qa.jinja \\
          --input questions.jsonl --output answers.jsonl
    Each output row holds the row number, its variables, the output, tokens, latency,
    cost, the template's sha256, the model and its fingerprint, and an error (or null).
    Rows that cannot be read or rendered stop the run before it starts (each one
    listed by line); --on-error skip runs the others.
    """
    from assay.models.types import Sampling

    if model_option is not None:
        # `-m MODEL "prompt"`: the one argument given is the prompt.
        if prompt is not None:
            raise click.UsageError(
                f"-m {model_option} gives the model, so one argument (the PROMPT) at most; "
                f"got '{model}' and '{prompt}'"
            )
        model, prompt = model_option, model
    model = pick_model(model, None)
    sampling = Sampling(
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        stop=tuple(unescape(s) for s in stop),
        n=n,
    )
    overrides: dict[str, Any] = {}
    if batch_size is not None:
        if batch_size < 1:
            raise click.BadParameter("must be at least 1", param_hint="--batch-size")
        overrides["batch_size"] = batch_size
    if images and (schema_path is not None or input_path is not None):
        flag = "--schema" if schema_path is not None else "--input"
        raise click.UsageError(f"--image goes with one prompt; it does not combine with {flag}")
    from assay.models.images import load_image

    # Read and checked before the model loads: a bad file fails at once.
    shown = [load_image(p, detail=image_detail) for p in images]  # type: ignore[arg-type]
    if schema_path is not None and given_options(prompting):
        flags = ", ".join(given_options(prompting))
        raise click.UsageError(f"--schema does not combine with {flags}")
    if schema_path is not None:
        from assay.cli.structured_opts import run_with_schema

        run_with_schema(
            model=model, prompt=prompt, schema_path=schema_path, sampling=sampling,
            system=system, raw=raw, as_json=as_json, template=template, var=var,
            input_path=input_path, output=output, on_error=on_error, overrides=overrides,
        )  # fmt: skip
        return

    if input_path is not None:
        _check_file_mode(prompt, template, output, as_json, var)
        assert template is not None and output is not None
        _run_file(
            model,
            template,
            input_path,
            output,
            sampling,
            system,
            raw,
            on_error,
            overrides,
            prompting,
        )
        return
    if output is not None:
        raise click.UsageError("--output goes with --input (run a template over a file)")

    from assay.prompting.prompt import make_prompt, with_images
    from assay.prompting.templates import load_template

    tpl: PromptTemplate | None = None
    values: dict[str, str] = {}
    source: str | list[Message]
    if template is not None:
        if prompt is not None:
            raise click.UsageError("give either PROMPT or --template, not both")
        tpl = load_template(template)
        values = parse_vars(var)
        source = tpl.render(values)
    else:
        if var:
            raise click.UsageError("--var sets template variables; it needs --template")
        source = common.read_prompt(prompt)
    from assay.cli.prompt_opts import shaping_from_options

    shaping = shaping_from_options(prompting, tpl)
    final, _ = shaping.apply(make_prompt(source, system=system, raw=raw))
    final = with_images(final, shown)
    loaded = common.load_model(model, overrides)
    # A cached answer is printed whole, with the summary saying it came from the cache; so is
    # an answer about images, whose token count only the model's own reply tells.
    if as_json or n > 1 or shown or loaded.cached(final, sampling) is not None:
        _generate(loaded, final, sampling, as_json, tpl, values, shaping)
    else:
        report_extraction(shaping.extract(_stream(loaded, final, sampling)))


def _check_file_mode(
    prompt: str | None,
    template: Path | None,
    output: Path | None,
    as_json: bool,
    var: tuple[str, ...],
) -> None:
    if template is None:
        raise click.UsageError("--input needs --template: the template is rendered for each row")
    if output is None:
        raise click.UsageError("--input needs --output, the JSONL file that records each row")
    if prompt is not None:
        raise click.UsageError("with --input the rows give the prompts; drop PROMPT")
    if as_json:
        raise click.UsageError("--json prints one call; with --input the output file is JSON")
    if var:
        raise click.UsageError("with --input the variables come from the rows; drop --var")


def _stream(model: Model, prompt: str | list[Message], sampling: Sampling) -> str:

    start = time.perf_counter()
    pieces: list[str] = []
    for piece in model.stream(prompt, sampling):
        pieces.append(piece)
        click.echo(piece, nl=False)
    latency = time.perf_counter() - start
    text = "".join(pieces)
    click.echo("" if text.endswith("\n") else "\n", nl=False)
    prompt_tokens = model.count_tokens(model.render_chat(prompt))
    completion_tokens = model.count_tokens(text) if text else 0
    common.usage_line(
        prompt_tokens, completion_tokens, latency, model.cost(prompt_tokens, completion_tokens)
    )
    return text


def _generate(
    model: Model,
    prompt: str | list[Message],
    sampling: Sampling,
    as_json: bool,
    template: PromptTemplate | None,
    values: dict[str, str],
    shaping: PromptShaping | None = None,
) -> None:
    from assay.prompting.prompt import prompt_json

    start = time.perf_counter()
    gens: list[Generation] = model.generate([prompt], sampling)
    latency = time.perf_counter() - start
    prompt_tokens = gens[0].prompt_tokens if gens else 0
    completion_tokens = sum(g.completion_tokens for g in gens)
    cost = sum(g.cost for g in gens)
    if as_json:
        data: dict[str, Any] = {
            "model": model.address,
            "fingerprint": model.fingerprint,
            "prompt": prompt_json(prompt),
            "sampling": sampling.model_dump(mode="json"),
        }
        if template is not None:
            data.update(template=template.name, template_sha256=template.sha256, vars=values)
        if len(gens) == 1:
            data["text"] = gens[0].text
        data.update(
            generations=[g.model_dump(mode="json") for g in gens],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=latency,
            cost=cost,
        )
        if shaping is not None and shaping.active:
            from assay.prompting.shaping import extraction_fields

            data["prompting"] = shaping.spec()
            data["extractions"] = [extraction_fields(shaping.extract(g.text)) for g in gens]
        common.echo_json(data)
        return
    for i, g in enumerate(gens):
        if len(gens) > 1:
            click.echo(f"--- sample {i + 1} of {len(gens)} ---")
        click.echo(g.text)
        if shaping is not None:
            report_extraction(shaping.extract(g.text), f"sample {i + 1}" if len(gens) > 1 else "")
    note = "cached" if gens and all(g.cached for g in gens) else ""
    common.usage_line(prompt_tokens, completion_tokens, latency, cost, note)


def _run_file(
    model: str,
    template: Path,
    input_path: Path,
    output: Path,
    sampling: Sampling,
    system: str | None,
    raw: bool,
    on_error: str,
    overrides: dict[str, Any],
    prompting: dict[str, Any] | None = None,
) -> None:
    from assay.cli.prompt_opts import shaping_from_options
    from assay.prompting.batch import plan_batch, run_batch
    from assay.prompting.outfile import OutputFile
    from assay.prompting.rows import read_rows
    from assay.prompting.templates import load_template

    tpl = load_template(template)
    shaping = shaping_from_options(prompting or {}, tpl)
    plan = plan_batch(tpl, read_rows(input_path), system=system, raw=raw, shaping=shaping)
    plan.check("skip" if on_error == "skip" else "stop", source=str(input_path))
    with OutputFile(output) as out:
        # Checked before the model loads, so a wrong --output fails fast.
        out.check_same("template_sha256", tpl.sha256, "template")
        if out.repaired:
            click.secho(
                f"{output}: removed a cut-off last line; that row runs again", err=True, dim=True
            )
        loaded = common.load_model(model, overrides)
        start = time.perf_counter()
        report = run_batch(loaded, plan, out, sampling)
        out.ensure()
        wall = time.perf_counter() - start
    parts = [f"wrote {report.written} rows to {output}"]
    if not plan.items and not plan.bad:
        parts.append(f"{input_path} has no rows")
    if report.already_done:
        parts.append(f"{report.already_done} were already there")
    if report.failed:
        parts.append(f"{report.failed} with an error (see their 'error' field)")
    click.echo("; ".join(parts), err=True)
    if report.skipped:
        lines = ", ".join(map(str, report.skipped[:20])) + (
            " ..." if len(report.skipped) > 20 else ""
        )
        click.echo(f"skipped {len(report.skipped)} unusable input rows (lines {lines})", err=True)
    if report.extracted or report.extraction_failed:
        click.echo(
            f"answers extracted from {report.extracted} rows; extraction failed on "
            f"{report.extraction_failed} (their 'extraction' field says why)",
            err=True,
        )
    common.usage_line(report.prompt_tokens, report.completion_tokens, wall, report.cost)


__all__ = ["generate", "parse_vars", "unescape"]
