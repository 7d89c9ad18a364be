"""``assay plan``: how many items an evaluation needs before it is run."""

from __future__ import annotations

import click


def _fraction(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not 0.0 < value < 1.0:
        raise click.BadParameter(f"must be between 0 and 1 (exclusive), got {value}")
    return value


@click.command()
@click.option(
    "--metric",
    type=click.Choice(["accuracy", "score"]),
    default="accuracy",
    show_default=True,
    help="accuracy: 0/1 per item; score: a continuous per-item score (needs --sd-diff).",
)
@click.option("--effect", type=float, required=True, help="Smallest difference worth detecting.")
@click.option(
    "--baseline", type=float, callback=_fraction, help="Expected accuracy of the baseline run."
)
@click.option(
    "--paired-agreement",
    type=float,
    callback=_fraction,
    help="Share of items two runs on the same items score alike (e.g. 0.8): a paired design.",
)
@click.option(
    "--sd-diff",
    type=float,
    help="Standard deviation of per-item score differences (--metric score).",
)
@click.option("--margin", is_flag=True, help="Estimate one accuracy to within ± --effect instead.")
@click.option("--alpha", type=float, default=0.05, show_default=True, callback=_fraction)
@click.option("--power", type=float, default=0.8, show_default=True, callback=_fraction)
@click.option("--json", "as_json", is_flag=True)
def plan(
    metric: str,
    effect: float,
    baseline: float | None,
    paired_agreement: float | None,
    sd_diff: float | None,
    margin: bool,
    alpha: float,
    power: float,
    as_json: bool,
) -> None:
    """How many items an evaluation needs to detect a difference you care about.

    \b
    Two models or prompts on the SAME items (paired, what `assay compare` tests):
      assay plan --baseline 0.62 --effect 0.05 --paired-agreement 0.8
    Two runs on different items:
      assay plan --baseline 0.62 --effect 0.05
    A continuous score (e.g. ROUGE), paired:
      assay plan --metric score --effect 0.02 --sd-diff 0.15
    One accuracy to within ±0.03:
      assay plan --baseline 0.7 --effect 0.03 --margin

    Paired agreement is the share of items both runs get right or both get wrong; from a pilot
    run pair, `assay compare` shows it. Paired designs need far fewer items when two runs agree
    often. The paired accuracy plan is checked against the exact McNemar test assay runs.
    """
    from assay.cli.common import echo_json
    from assay.errors import UserError
    from assay.stats.power import SamplePlan, plan_sample_size

    if metric == "score" and sd_diff is None:
        raise UserError("--metric score needs --sd-diff (sd of per-item score differences)")
    if metric == "accuracy" and sd_diff is not None:
        raise UserError("--sd-diff is for --metric score")

    def planned(size: float) -> SamplePlan:
        return plan_sample_size(
            effect=size,
            baseline=baseline,
            paired_agreement=paired_agreement,
            sd_diff=sd_diff,
            margin=margin,
            alpha=alpha,
            power=power,
        )

    result = planned(effect)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(result.explain())
    if result.design != "margin":
        click.echo("for other effects:")
        for other in (effect * 0.5, effect * 2.0):
            try:
                click.echo(f"  {other:g}: {planned(other).total_items} items")
            except UserError:
                continue
