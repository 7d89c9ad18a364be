"""Faults as a suite: 1,000 evaluation items and a 1,000-row ``assay generate --input`` through
an OpenAI-compatible server that fails a third of the time in every way a real one does
(:mod:`faulty_api`). Every item ends answered exactly once and correctly, the tokens and cost
assay accounts equal the sum over the answers the server billed, and the retries show in the
call log."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from assay.workspace import Workspace
from cli_util import run_assay
from faulty_api import FAULTS, FaultyAPI

N = 1000
PRICE = {"prompt": 2.0, "completion": 10.0}  # dollars per million tokens


@pytest.fixture
def api() -> Iterator[FaultyAPI]:
    # Hung requests cost a whole timeout each: rarer than the other faults, so the suite is quick.
    faults = tuple(f for f in FAULTS if f != "hang") * 4 + ("hang",)
    server = FaultyAPI(fault_rate=0.3, seed=11, faults=faults, hang_s=3.0)
    yield server
    server.close()


@pytest.fixture
def ws() -> Workspace:
    ws = Workspace.find()
    ws.config_path.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "openai": {
            "timeout_s": 2.0,
            # Backoff short: the suite tests what is retried and counted, not how long it waits.
            "retry_base_delay_s": 0.02,
            "max_retries": 8,
            "retry_budget_s": 60,
            "max_concurrency": 8,
            "breaker_threshold": 6,
        },
        "prices": {"m": PRICE},
        "batch_size": 200,
    }
    ws.config_path.write_text(yaml.safe_dump(settings))
    return ws


def calls(ws: Workspace) -> dict[str, float]:
    row = ws.db.execute(
        "SELECT SUM(prompt_tokens), SUM(completion_tokens), SUM(cost), SUM(retries) FROM calls"
    ).fetchone()
    return {
        "prompt": row[0] or 0,
        "completion": row[1] or 0,
        "cost": row[2] or 0.0,
        "retries": row[3] or 0,
    }


def billed(api: FaultyAPI) -> dict[str, float]:
    prompt = sum(b.prompt_tokens for b in api.ledger)
    completion = sum(b.completion_tokens for b in api.ledger)
    return {
        "prompt": prompt,
        "completion": completion,
        "cost": (prompt * PRICE["prompt"] + completion * PRICE["completion"]) / 1e6,
    }


def check_accounts(ws: Workspace, api: FaultyAPI) -> None:
    ours, theirs = calls(ws), billed(api)
    assert ours["prompt"] == theirs["prompt"] and ours["completion"] == theirs["completion"]
    assert ours["cost"] == pytest.approx(theirs["cost"])
    faults = sum(o != "ok" for o in api.outcomes)
    assert faults > 200 and len(api.ledger) == len(api.outcomes) - faults
    assert ours["retries"] == faults  # each failed request was retried once, and logged


def test_an_evaluation_through_a_faulty_server(
    api: FaultyAPI, ws: Workspace, tmp_path: Path
) -> None:
    data = tmp_path / "items.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "q": f"Repeat the number {i}.", "a": str(i)}) + "\n"
            for i in range(N)
        )
    )
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: numbers\ndataset: {{source: {data}, id_field: id}}\ntemplate: '{{{{ q }}}}'\n"
        "target: a\nscorers: [exact_match]\n"
    )
    code, out, err = run_assay(["eval", str(task), "-m", f"openai:m@{api.base_url}", "--json"])
    assert code == 0, err[-2000:]
    [run] = json.loads(out)
    assert run["status"] == "done" and run["samples"] == f"{N}/{N}"
    assert (
        run["metrics"]["metrics"]["exact_match"]["value"] == 1.0
    )  # no answer went to another item
    samples = ws.db.execute("SELECT COUNT(*), COUNT(DISTINCT sample_id) FROM samples").fetchone()
    assert tuple(samples) == (N, N)
    assert len(api.ledger) == N  # each item billed once: nothing answered was asked again
    assert Counter(b.answer for b in api.ledger) == Counter(str(i) for i in range(N))
    check_accounts(ws, api)


def test_generate_over_rows_through_a_faulty_server(
    api: FaultyAPI, ws: Workspace, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(N)))
    template = tmp_path / "t.jinja"
    template.write_text("Say {{ n }}.")
    out = tmp_path / "out.jsonl"
    code, _, err = run_assay(
        [
            "generate",
            f"openai:m@{api.base_url}",
            "--template",
            str(template),
            "--input",
            str(rows),
            "--output",
            str(out),
        ]
    )
    assert code == 0, err[-2000:]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == N
    assert sorted(r["row"] for r in written) == list(range(1, N + 1))  # each row once
    assert all(r["vars"]["n"] == int(r["output"]) for r in written)
    assert len(api.ledger) == N
    check_accounts(ws, api)
