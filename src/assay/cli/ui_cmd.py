"""``assay ui``: the local web app over this workspace."""

from __future__ import annotations

import os

import click

from assay.ui.security import LOOPBACK


def ui_url(host: str, port: int, token: str, path: str = "/") -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}{path}?token={token}"


@click.command()
@click.option("--port", default=8765, show_default=True, help="Port to listen on.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; other than loopback, anyone who can reach it and holds the token can use it.",
)
@click.option(
    "--token",
    default=lambda: os.environ.get("ASSAY_UI_TOKEN"),
    help="The access token (default: a new random one; or $ASSAY_UI_TOKEN).",
)
@click.option(
    "-m",
    "--model",
    default="default",
    show_default=True,
    help="The model the document chat answers with.",
)
@click.option(
    "--open",
    "open_path",
    default="/runs",
    show_default=True,
    help="The page whose address is printed.",
)
def ui(port: int, host: str, token: str | None, model: str, open_path: str) -> None:
    """Start the web app: runs, comparisons, documents with chat, review, models and cost, training.

    It binds to 127.0.0.1 and prints an address with a random token (like Jupyter); every
    request needs the token. Stop it with Ctrl-C.

    \b
    Example:
      assay ui --port 8765
      assay ui --host 0.0.0.0 --token "$(openssl rand -hex 16)"   # reachable from other machines
    """
    import uvicorn

    from assay.cli.common import workspace
    from assay.errors import UserError
    from assay.ui.app import create_app
    from assay.ui.security import new_token

    ws = workspace()
    ws.connect()  # a damaged or locked database fails here, in one line, not in the first page
    if host not in LOOPBACK and not token:
        raise UserError(
            f"--host {host} makes the app reachable from other machines, so give the token too",
            hint="assay ui --host 0.0.0.0 --token SECRET (share SECRET only with your reviewers)",
        )
    token = token or new_token()
    app = create_app(ws, token=token, host=host, model=model)
    click.echo(f"assay ui over {ws.root}")
    click.echo(f"open {ui_url(host, port, token, open_path)}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
