"""``assay log`` and the cost figures the command line prints."""

from __future__ import annotations

from assay.cli.formatting import format_cost
from assay.workspace import Workspace
from cli_util import run_assay


def test_costs_below_a_cent_keep_two_significant_digits() -> None:
    assert format_cost(0.000012) == "0.000012"
    assert format_cost(0.0034) == "0.0034"
    assert format_cost(0.00001234) == "0.000012"
    assert format_cost(1.5) == "1.5000"
    assert format_cost(0.0) == "0.0000"


def test_log_shows_small_costs_and_their_total() -> None:
    ws = Workspace.find()
    with ws.transaction() as db:
        db.executemany(
            "INSERT INTO calls(model, fingerprint, op, n_requests, prompt_tokens,"
            " completion_tokens, cost) VALUES (?,?,?,?,?,?,?)",
            [("openai:gpt-4o-mini", "f", "generate", 1, 80, 20, 0.000012)] * 3,
        )
    code, out, _ = run_assay(["log"])
    assert code == 0
    assert out.count("0.000012") == 3
    assert "$0.000036" in out.splitlines()[-1]
