"""``assay serve MODEL``: serve a model over an OpenAI-compatible HTTP API."""

from __future__ import annotations

import click

from assay.cli.vocabulary import model_option, pick_model


@click.command("serve")
@click.argument("model", required=False)
@model_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--api-key",
    envvar="ASSAY_SERVE_API_KEY",
    default=None,
    help="Require 'Authorization: Bearer KEY' on every request (or set ASSAY_SERVE_API_KEY).",
)
@click.option(
    "--name",
    "served_name",
    default=None,
    help="The model id clients send (default: MODEL as given; its resolved address works too).",
)
@click.option(
    "--embedder",
    default="default",
    show_default=True,
    help="What answers /v1/embeddings: default (all-MiniLM-L6-v2), st:PATH, or none.",
)
@click.option(
    "--max-batch",
    default=16,
    show_default=True,
    type=click.IntRange(1),
    help="Requests decoded together at most (requests that arrive together share a batch).",
)
@click.option(
    "--max-concurrent",
    default=64,
    show_default=True,
    type=click.IntRange(1),
    help="Requests in progress at once; more are answered 429 with Retry-After.",
)
@click.option(
    "--max-tokens-limit",
    default=4096,
    show_default=True,
    type=click.IntRange(1),
    help="The largest max_tokens a request may ask for (400 beyond).",
)
@click.option(
    "--max-request-mb",
    default=4.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="The largest request body (413 beyond).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve(
    model: str | None,
    model_option: str | None,
    host: str,
    port: int,
    api_key: str | None,
    served_name: str | None,
    embedder: str,
    max_batch: int,
    max_concurrent: int,
    max_tokens_limit: int,
    max_request_mb: float,
    log_level: str,
) -> None:
    """Serve MODEL (any address or alias) over an OpenAI-compatible HTTP API.

    \b
    Endpoints: /v1/models, /v1/chat/completions, /v1/completions (echo + logprobs
    for log-likelihood), /v1/embeddings (--embedder), /tokenize, /health, and
    interactive API docs at /docs (offline). Calls are cached and logged in the
    workspace like any other. Listens on 127.0.0.1 unless --host says otherwise;
    set --api-key when other machines can reach it. Clients ask for the model by
    the name MODEL was given here (or --name).

    Requests that arrive together are decoded together (up to --max-batch);
    beyond --max-concurrent requests at once the server answers 429 and clients
    retry. Ctrl-C or SIGTERM stops it gracefully: requests in progress are
    answered first.

    \b
    Examples:
      assay serve default --port 8000
      assay generate openai:default@http://127.0.0.1:8000/v1 "Hello"
      assay serve hf:./my-model --port 8080 --api-key secret --name my-model
    """
    from assay.serve.app import serve as run
    from assay.serve.limits import ServeLimits

    model = pick_model(model, model_option)

    run(
        model,
        host=host,
        port=port,
        api_key=api_key,
        served_name=served_name,
        log_level=log_level,
        embedder=None if embedder.lower() == "none" else embedder,
        limits=ServeLimits(
            max_concurrent=max_concurrent,
            max_request_bytes=int(max_request_mb * 1024 * 1024),
            max_tokens=max_tokens_limit,
            max_batch=max_batch,
        ),
    )
