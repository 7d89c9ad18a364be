"""``assay runs list``: long model addresses are shortened in the middle, never lost in --json."""

from __future__ import annotations

import json

from assay.cli.formatting import short_model_name
from assay.evals.runs import RunStore
from assay.workspace import Workspace
from cli_util import run_assay

LONG = "hf:/home/someone/projects/thesis/runs/lora-smollm2-press-2026/checkpoint-1500"


def test_short_names_are_left_alone() -> None:
    assert short_model_name("hf:default", 40) == "hf:default"


def test_long_names_keep_their_kind_and_end() -> None:
    short = short_model_name(LONG, 40)
    assert len(short) == 40
    assert short.startswith("hf:…") and short.endswith("press-2026/checkpoint-1500")


def test_an_api_model_keeps_its_name_before_the_endpoint() -> None:
    address = "openai:Qwen2.5-7B-Instruct@http://gpu-node-17.cluster.example.org:8000/v1"
    assert short_model_name(address, 40) == "openai:Qwen2.5-7B-Instruct@…"


def test_runs_list_shortens_in_the_middle_and_json_keeps_the_whole_name() -> None:
    store = RunStore(Workspace.find())
    store.create(
        key="k", task="demo", model=LONG, fingerprint="f", config={}, provenance={}, n_total=3
    )
    code, out, _ = run_assay(["runs", "list"])
    assert code == 0
    assert "hf:…" in out and "checkpoint-1500" in out
    code, out, _ = run_assay(["runs", "list", "--json"])
    assert code == 0 and json.loads(out)[0]["model"] == LONG
