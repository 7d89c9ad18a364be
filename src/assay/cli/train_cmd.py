"""``assay train CONFIG.yaml [key=value ...]``: finetune with a recipe."""

from __future__ import annotations

import click

from assay.cli.vocabulary import override_arguments


@click.command("train")
@click.argument("config", type=click.Path(dir_okay=False))
@override_arguments
@click.option(
    "--fresh", is_flag=True, help="Discard this run's checkpoints and outputs; start over."
)
@click.option(
    "--show-config", is_flag=True, help="Print the resolved config (with overrides) and exit."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or data summaries.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON at the end.")
def train(
    config: str,
    overrides: tuple[str, ...],
    sets: tuple[str, ...],
    fresh: bool,
    show_config: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Finetune a model with the recipe named in CONFIG (a YAML file).

    \b
    Overrides use dotted keys, values are YAML (KEY=VALUE, or --set KEY=VALUE as in eval):
      assay train examples/finetune/classifier-bbc.yaml optim.epochs=1 data.limit=200
    Recipes: classifier, causal_lm, sft, dpo (see docs/finetuning.md).

    The run is written to <workspace>/models/<run_id>/ (run_id defaults to the config file's
    name) and can be loaded as run:<run_id>. Running the same command again after an
    interruption resumes from the latest checkpoint; a changed config is refused with the
    differences. A run that fails before its first checkpoint leaves no folder behind.

    \b
    Several GPUs, processes or machines (data parallel, FSDP, DeepSpeed):
      accelerate launch --multi_gpu --num_processes N -m assay.cli.main train CONFIG.yaml
      accelerate launch --config_file examples/finetune/accelerate/fsdp.yaml \\
          -m assay.cli.main train CONFIG.yaml eval.restore_best=false
    """
    from assay.finetune import load_config
    from assay.finetune import train as run_training

    overrides = overrides + sets

    if show_config:
        import yaml

        cfg = load_config(config, list(overrides))
        click.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).rstrip())
        return
    result = run_training(config, list(overrides), fresh=fresh, quiet=quiet)
    if as_json:
        from assay.cli.common import echo_json

        echo_json(result.record)
    elif quiet:
        click.echo(result.address)
