"""``assay init``: make a per-project workspace so results travel with the paper's repository."""

from __future__ import annotations

from pathlib import Path

import click

CONFIG_TEMPLATE = """\
# assay settings for this workspace. Layers: built-in defaults < this file < environment < CLI.
# Uncomment what you need; unknown keys are errors (with a suggestion).

# aliases:                      # short names for models, added to the built-in ones (default, smollm2)
#   mine: hf:/path/to/finetuned-model
#   gpt: openai:gpt-4o-mini
# prices:                       # US$ per million tokens, for cost accounting in `assay log`
#   gpt-4o-mini: {prompt: 0.15, completion: 0.60}
# openai:                       # openai:MODEL[@URL] models (OpenAI, vLLM, Ollama, `assay serve`)
#   base_url: http://127.0.0.1:8000/v1
#   api_key_env: OPENAI_API_KEY  # the environment variable that holds the key
#   timeout_s: 60               # wait this long for a generation (or each streamed piece)
#   connect_timeout_s: 10       # to connect, and for quick requests: a silent server fails fast
#   max_retries: 5              # retries of a timed-out, rate-limited (429) or 5xx request,
#                               # with exponential backoff; 0 fails on the first error
#   retry_budget_s: 120         # tries and waits of one request, all together
#   retry_base_delay_s: 0.5     # first wait before a retry; doubles each time
#   breaker_threshold: 3        # requests in a row with no answer at all before failing fast
#   max_concurrency: 8          # requests in flight at once for a batch
# device: auto                  # auto | cpu | cuda | mps
# dtype: auto                   # auto | float32 | bfloat16 | float16
# batch_size: 8
# cache: true                   # reuse identical model calls (keyed by model, request and sample)
"""


@click.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(folder: Path) -> None:
    """Create a workspace (.assay/) in FOLDER (default: here).

    Commands run anywhere below FOLDER find it, like git finds .git. It holds the database
    (call log, cache, runs), model conversions and artifacts. $ASSAY_HOME overrides it.
    """
    from assay.workspace import WORKSPACE_DIR, Workspace

    existed = (folder / WORKSPACE_DIR).is_dir()
    ws = Workspace.init(folder)
    if not ws.config_path.exists():
        ws.config_path.write_text(CONFIG_TEMPLATE)
    verb = "already a workspace" if existed else "created workspace"
    click.echo(f"{verb}: {ws.root}")
    click.echo(f"settings: {ws.config_path}")
