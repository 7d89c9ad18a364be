"""Training data: errors that name file and line, dedup, seeded splits, statistics, leakage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.errors import UserError
from assay.finetune.data import (
    check_leakage,
    dedup,
    format_length_stats,
    label_kind,
    length_stats,
    read_examples,
    require_columns,
    sample,
    split,
)
from finetune_util import write_jsonl


def test_jsonl_rows_keep_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n\n{"text": "b", "label": "y"}\n')
    ex = read_examples(str(path))
    assert [e.where for e in ex.items] == [f"{path}:1", f"{path}:3"]
    assert ex.sha256 and ex.format == "jsonl"


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    for name, content in [("e.jsonl", ""), ("e.csv", "text,label\n"), ("e.txt", "  \n")]:
        (tmp_path / name).write_text(content)
        with pytest.raises(UserError, match=rf"{name} is empty \(no examples\)"):
            read_examples(str(tmp_path / name))
    with pytest.raises(UserError, match="no such file"):
        read_examples(str(tmp_path / "nope.jsonl"))
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n')
    with pytest.raises(UserError, match=r"bad.jsonl:2: not valid JSON"):
        read_examples(str(tmp_path / "bad.jsonl"))
    (tmp_path / "list.jsonl").write_text('{"text": "a"}\n["x"]\n')
    with pytest.raises(UserError, match=r"list.jsonl:2: expected a JSON object, got a list"):
        read_examples(str(tmp_path / "list.jsonl"))
    (tmp_path / "t.parquet").write_bytes(b"x")
    with pytest.raises(UserError, match="cannot tell the format"):
        read_examples(str(tmp_path / "t.parquet"))
    (tmp_path / "cols.csv").write_text("text,label\nhello,x\nhi,there,extra\n")
    with pytest.raises(UserError, match=r"cols.csv:3: 3 values for 2 columns"):
        read_examples(str(tmp_path / "cols.csv"))


def test_missing_columns_and_values_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("body,label\nhello,x\nworld,y\n")
    ex = read_examples(str(path))
    with pytest.raises(
        UserError, match=r"train.csv:2: no column 'text'; the columns are: body, label"
    ) as info:
        require_columns(ex, ["text", "label"], config_key="data.text_field")
    assert info.value.hint is not None and "data.text_field" in info.value.hint
    path.write_text("text,label\nhello,x\nworld,\nagain,\n")
    ex = read_examples(str(path))
    with pytest.raises(
        UserError, match=r"train.csv:3: no value for 'label' \(and 1 more rows: .*train.csv:4\)"
    ):
        require_columns(ex, ["text", "label"])
    jl = write_jsonl(tmp_path / "t.jsonl", [{"text": "a", "label": 1}, {"text": ["x"], "label": 2}])
    with pytest.raises(UserError, match=r"t.jsonl:2: 'text' must be text, got a list"):
        require_columns(read_examples(str(jl)), ["text"], text=["text"])
    near = write_jsonl(tmp_path / "n.jsonl", [{"texts": "a", "label": 1}])
    with pytest.raises(UserError) as info:
        require_columns(read_examples(str(near)), ["text"])
    assert info.value.hint is not None and "did you mean 'texts'" in info.value.hint


def test_labels_of_mixed_types_are_refused_with_both_lines(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            {"text": "a", "label": "sports"},
            {"text": "b", "label": "tech"},
            {"text": "c", "label": 3},
        ],
    )
    ex = read_examples(str(path))
    with pytest.raises(
        UserError, match=r"t.jsonl:3: the label is a number \(3\) but at .*t.jsonl:1 it is a string"
    ):
        label_kind(ex, "label")
    bad = write_jsonl(tmp_path / "b.jsonl", [{"text": "a", "label": True}])
    with pytest.raises(
        UserError, match=r"b.jsonl:1: the label 'label' must be a string or a number"
    ):
        label_kind(read_examples(str(bad)), "label")
    nums = write_jsonl(
        tmp_path / "n.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": 2.5}]
    )
    assert label_kind(read_examples(str(nums)), "label") == "number"


def test_dedup_sample_and_seeded_stratified_split(tmp_path: Path) -> None:
    rows = [{"text": f"t{i % 30}", "label": "ab"[i % 2]} for i in range(40)]
    ex = read_examples(str(write_jsonl(tmp_path / "t.jsonl", rows)))
    kept, dropped = dedup(ex, lambda e: [e["text"], e["label"]])
    assert len(kept) == 30 and len(dropped) == 10 and dropped[0].endswith(":31")
    assert kept.notes == ["removed 10 exact duplicates, 30 left"]
    train, val = split(kept, 0.2, seed=1, stratify=lambda e: e["label"])
    assert val is not None and len(val) == 6 and len(train) == 24
    assert sorted(e["label"] for e in val.items) == ["a"] * 3 + ["b"] * 3
    _, again_val = split(kept, 0.2, seed=1, stratify=lambda e: e["label"])
    assert again_val is not None and [e.where for e in again_val.items] == [
        e.where for e in val.items
    ]
    other = split(kept, 0.2, seed=2, stratify=lambda e: e["label"])[1]
    assert other is not None and [e.where for e in other.items] != [e.where for e in val.items]
    assert not {e.where for e in train.items} & {e.where for e in val.items}
    assert split(kept, 0.0, seed=1) == (kept, None)
    small = sample(kept, 5, seed=0)
    assert len(small) == 5 and small.items == sorted(
        small.items, key=lambda e: int(e.where.rsplit(":", 1)[1])
    )
    one = read_examples(str(write_jsonl(tmp_path / "one.jsonl", rows[:1])))
    assert split(one, 0.5, seed=0)[1] is None or len(split(one, 0.5, seed=0)[0]) == 1


def test_length_stats_count_truncation() -> None:
    stats = length_stats([10, 20, 30, 200, 300], max_length=128)
    assert stats["truncated"] == 2 and stats["tokens_cut"] == (200 - 128) + (300 - 128)
    assert stats["truncated_fraction"] == 0.4 and stats["max"] == 300
    assert sum(stats["histogram"]["counts"]) == 5
    text = format_length_stats("train", stats)
    assert "truncated at 128 tokens: 2 examples (40.0%)" in text and "#" in text


def test_leakage_finds_shared_13_grams(tmp_path: Path) -> None:
    shared = "the quick brown fox jumps over the lazy dog near the quiet river bank today"
    eval_rows = [
        {"id": "q1", "question": f"Consider this: {shared}. What jumps?", "target": "fox"},
        {
            "id": "q2",
            "question": "An entirely different question about chemistry and physics.",
            "target": "x",
        },
        {"id": "q3", "question": "eight words exactly in this short eval item", "target": "y"},
    ]
    eval_path = write_jsonl(tmp_path / "eval.jsonl", eval_rows)
    train = [
        ("train.jsonl:1", f"Story: {shared.upper()}!"),
        ("train.jsonl:2", "nothing in common here at all"),
        ("train.jsonl:3", "prefix eight words exactly in this short eval item suffix"),
    ]
    report = check_leakage(train, [str(eval_path)], n=13)
    hits = {h.eval_id: h for h in report.hits}
    assert set(hits) == {"q1", "q3"} and report.eval_items == 3
    assert hits["q1"].train_where == "train.jsonl:1"
    assert len(hits["q1"].ngram.split()) == 13
    message = report.message()
    assert (
        "2 of 3 evaluation items share a 13-gram" in message and "id q1 <- train.jsonl:1" in message
    )
    assert json.dumps(report.to_dict())
    assert not check_leakage(train[1:2], [str(eval_path)]).leaked


def test_builtin_sources(tmp_path: Path) -> None:
    ex = read_examples("builtin:bbc-news/train")
    assert len(ex) == 1777 and ex.format == "builtin"
    assert ex.items[0].where.startswith("builtin:bbc-news/train id ")
    require_columns(ex, ["text", "target"], text=["text"])
