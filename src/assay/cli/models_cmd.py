"""``assay models``: list the models on this machine and show a model's card."""

from __future__ import annotations

import click

from assay.cli.common import echo_json, settings, workspace
from assay.cli.vocabulary import Command, Renamed, model_option, pick_model


@click.group("models")
def models() -> None:
    """List models, show model cards (read from file headers; no weights are loaded), and
    convert a GGUF model to a transformers folder for other tools."""


@models.command(
    "info",
    cls=Command,
    # --context is the text before a continuation in `assay score`; --batch-size as in generate.
    renamed=(Renamed("--context", "--context-tokens"), Renamed("--batch", "--batch-size")),
)
@click.argument("model", required=False)
@model_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole card as JSON.")
@click.option(
    "--context-tokens",
    "context",
    type=click.IntRange(min=1),
    default=None,
    help="Context length for the KV-cache estimate (default: the model's).",
)
@click.option(
    "--batch-size",
    "batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Sequences at once, for the KV-cache estimate.",
)
def info(
    model: str | None, model_option: str | None, as_json: bool, context: int | None, batch: int
) -> None:
    """Show the card of MODEL (an alias, a path, or provider:name; default: the bundled model).

    \b
    Parameters counted from the stored tensors, shape, context, on-disk format and
    quantisation, licence, chat template, instruction-tuned or base (with the evidence),
    memory per dtype with the KV cache, and whether it fits this machine.

    \b
    Examples:
      assay models info default --context-tokens 4096 --batch-size 8
      assay models info hf:HuggingFaceTB/SmolLM2-360M-Instruct@main   # from the HF cache
      assay models info run:my-lora --json                            # a trained model
    """
    from assay.models.card import model_card, render_card

    model = pick_model(model, model_option, default="default")
    ws = workspace()
    card = model_card(model, context=context, batch=batch, settings=settings(ws), workspace=ws)
    if as_json:
        echo_json(card.model_dump(mode="json"))
    else:
        click.echo(render_card(card))


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_(as_json: bool) -> None:
    """List aliases, models shipped in installed packages, GGUF conversions, models in the
    Hugging Face cache and trained models (run:ID), with what to run for those not usable."""
    from assay.models.catalog import list_models, render_list

    ws = workspace()
    entries = list_models(settings(ws), ws)
    if as_json:
        echo_json([e.model_dump(mode="json") for e in entries])
    else:
        click.echo(render_list(entries))


@models.command("convert")
@click.argument("model", required=False)
@model_option
def convert(model: str | None, model_option: str | None) -> None:
    """Convert a GGUF model to a transformers (safetensors) folder once; print where it is.

    \b
    The folder is the one assay itself loads for hf: addresses (in the workspace's
    conversions/), so other transformers-based tools can use the same weights:
      assay models convert default
      lm_eval --model hf --model_args pretrained=$(assay models convert default) ...
    A model that already is a transformers folder is printed as it is.
    """
    from assay.models.gguf_convert import transformers_folder

    model = pick_model(model, model_option, default="default")
    ws = workspace()
    click.echo(str(transformers_folder(model, settings(ws), ws)))
