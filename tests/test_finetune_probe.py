"""The memorisation probe: finetune on facts, score verbatim and paraphrased questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.errors import UserError
from assay.finetune import memorisation_probe
from assay.finetune.probe import read_facts
from finetune_util import write_jsonl

FACTS = [
    ("What colour is the door of house Alder?", "Crimson red.", ["Which colour is Alder's door?"]),
    ("Who keeps the key to the tower?", "Old Martha.", ["The tower key is kept by whom?"]),
    ("How many bells hang in the chapel?", "Seven bells.", ["What is the number of chapel bells?"]),
    ("Where does the ferry leave from?", "The north pier.", ["From where does the ferry depart?"]),
    ("What is the baker's dog called?", "Biscuit.", ["The baker's dog has what name?"]),
    ("Which day is the market held?", "Every Thursday.", ["On what day is the market?"]),
]


@pytest.mark.slow
def test_probe_reports_the_gap_with_intervals(tiny_model_dir: Path, tmp_path: Path) -> None:
    facts = write_jsonl(
        tmp_path / "facts.jsonl",
        [{"question": q, "answer": a, "paraphrases": p} for q, a, p in FACTS],
    )
    report = memorisation_probe(
        facts,
        {
            "model": str(tiny_model_dir),
            "progress": False,
            "max_length": 64,
            "optim": {
                "max_steps": 30,
                "batch_size": 6,
                "learning_rate": 5e-3,
                "lr_schedule": "constant",
            },
        },
        n_distractors=3,
        quiet=True,
    )
    assert report["n_facts"] == 6 and report["n_choices"] == 4 and report["chance"] == 0.25
    for model in ("finetuned", "base"):
        part = report[model]
        for key in ("verbatim", "paraphrased", "gap"):
            est = part[key]
            assert est["ci_low"] <= est["value"] <= est["ci_high"] and est["n"] == 6
        assert part["gap"]["value"] == pytest.approx(
            part["verbatim"]["value"] - part["paraphrased"]["value"]
        )
    # Trained on the verbatim questions until the loss is low: it answers them.
    assert report["finetuned"]["verbatim"]["value"] >= 5 / 6
    assert {"verbatim", "paraphrased"} == set(report["finetuning_gain"])
    assert report["finetuned"]["verbatim"]["value"] > report["base"]["verbatim"]["value"]
    assert len(report["per_fact"]) == 6 and report["per_fact"][0]["where"].endswith("facts.jsonl:1")
    saved = json.loads((Path(report["facts"]).parent / "facts.jsonl").read_text().splitlines()[0])
    assert saved["question"] == FACTS[0][0]


def test_bad_facts_are_refused(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "f.jsonl", [{"question": "q", "answer": "a", "paraphrases": "q2"}]
    )
    with pytest.raises(UserError, match=r"f.jsonl:1: 'paraphrases' must be a non-empty list"):
        read_facts(str(path))
    write_jsonl(path, [{"question": "q", "answer": "a", "paraphrases": ["x"]}] * 2)
    with pytest.raises(UserError, match="facts share the answer 'a'"):
        read_facts(str(path))
