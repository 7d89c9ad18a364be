"""``assay log``: what was called, how many tokens, how long, how much."""

from __future__ import annotations

import click


@click.command()
@click.option("-n", "--limit", default=20, show_default=True, help="How many recent calls.")
@click.option("-m", "--model", default=None, help="Only calls to models containing this text.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def log(limit: int, model: str | None, as_json: bool) -> None:
    """Show recent model calls: model, operation, tokens, latency, cost, cache hits.

    \b
    Every call through assay (generate, chat, serve, evaluation) writes one row.
      assay log -n 50
      assay log -m openai --json
    """
    from assay.cli.common import echo_json, workspace
    from assay.cli.formatting import format_cost, short_model_name

    ws = workspace()
    query = "SELECT * FROM calls"
    args: list[object] = []
    if model:
        query += " WHERE model LIKE ?"
        args.append(f"%{model}%")
    query += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    rows = [dict(r) for r in ws.db.execute(query, args)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"no calls logged yet in {ws.root}")
        return
    header = f"{'time':19}  {'model':38}  {'op':13}  {'req':>4}  {'in':>6}  {'out':>6}  {'sec':>7}  {'cost $':>8}  cached"
    click.echo(header)
    totals = [0, 0, 0.0, 0.0]
    for r in reversed(rows):
        status = "ERROR" if r["error"] else str(r["cached"])
        if r.get("retries"):
            status += f" ({r['retries']} retries)"
        click.echo(
            f"{r['ts'][:19].replace('T', ' '):19}  {short_model_name(r['model'], 38):38}  {r['op']:13}  "
            f"{r['n_requests']:>4}  {r['prompt_tokens']:>6}  {r['completion_tokens']:>6}  "
            f"{r['latency_s']:>7.2f}  {format_cost(r['cost']):>8}  {status}"
        )
        totals[0] += r["prompt_tokens"]
        totals[1] += r["completion_tokens"]
        totals[2] += r["latency_s"]
        totals[3] += r["cost"]
    click.echo(
        f"{len(rows)} calls: {totals[0]} tokens in, {totals[1]} out, "
        f"{totals[2]:.1f} s, ${format_cost(totals[3])}"
    )
