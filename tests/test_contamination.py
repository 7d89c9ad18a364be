"""N-gram contamination checks: normalisation, the streamed index, per-item results, clean
subsets, the command, bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from assay.checks import corpus_index
from assay.checks.contamination import ItemText, check_items, clean_subset
from assay.checks.corpus_index import build_index
from assay.checks.ngrams import WordHasher, ngram_hashes, text_ngrams, words
from assay.errors import UserError
from cli_util import run_assay

VOCAB = [f"w{i}" for i in range(400)]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def test_normalisation_as_decontamination_studies_do() -> None:
    assert words("The Proof-of-work, don't!  Über\tNAÏVE") == [
        "the",
        "proofofwork",
        "dont",
        "über",
        "naïve",
    ]
    # Stable across processes and machines (blake2b, not Python's salted hash).
    assert int(text_ngrams("a b c", 3)[0]) == int(text_ngrams("A, b. C!", 3)[0])
    import hashlib

    expected = int.from_bytes(hashlib.blake2b(b"assay", digest_size=8).digest(), "little")
    assert int(WordHasher()(["assay"])[0]) == expected


def test_ngram_hashes_match_a_plain_set_of_ngrams() -> None:
    rng = random.Random(0)
    corpus = [sentence(rng, 200) for _ in range(50)]
    probe = sentence(rng, 30) + " " + corpus[7].split(" ", 20)[-1][:200]
    plain = {
        tuple(ws[i : i + 5]) for text in corpus for ws in [words(text)] for i in range(len(ws) - 4)
    }
    hasher = WordHasher()
    hashed = set(np.concatenate([text_ngrams(t, 5, hasher) for t in corpus]).tolist())
    pw = words(probe)
    expected = [tuple(pw[i : i + 5]) in plain for i in range(len(pw) - 4)]
    got = [int(h) in hashed for h in ngram_hashes(hasher(pw), 5)]
    assert got == expected and any(expected) and not all(expected)


@pytest.fixture
def planted(tmp_path: Path) -> tuple[list[ItemText], list[Path]]:
    rng = random.Random(1)
    items = [ItemText(f"q{i}", (sentence(rng, 40),), (sentence(rng, 20),)) for i in range(20)]
    lines = [sentence(rng, 30) for _ in range(300)]
    lines[120] = "copied question: " + items[3].inputs[0]
    lines[250] = "the answer was " + items[8].references[0] + " indeed"
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(lines) + "\n")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "\n".join(json.dumps({"text": sentence(rng, 30)}) for _ in range(40))
        + "\n"
        + json.dumps({"text": "x " + " ".join(words(items[11].inputs[0])[5:25])})
        + "\n"
    )
    return items, [text, rows]


def test_planted_items_are_found_where_they_are(planted, tmp_path: Path) -> None:
    items, files = planted
    index, built = build_index(files, tmp_path / "idx", n=13)
    assert built
    results = {r.id: r for r in check_items(items, index)}
    flagged = {i for i, r in results.items() if r.contaminated}
    assert flagged == {"q3", "q8", "q11"}
    q3, q8, q11 = results["q3"], results["q8"], results["q11"]
    assert q3.input.ratio == 1.0 and q3.reference.matched == 0
    assert q3.longest_span_words == 40 and q3.where == (str(files[0]), 121)
    assert q8.reference.ratio == 1.0 and q8.input.matched == 0 and q8.span_part == "reference"
    assert q8.where == (str(files[0]), 251)
    assert q11.longest_span_words == 20 and q11.where == (str(files[1]), 41)
    assert 0 < q11.input.ratio < 1


def test_index_is_reused_until_a_file_changes(planted, tmp_path: Path) -> None:
    _, files = planted
    first, built = build_index(files, tmp_path / "idx")
    again, built_again = build_index(files, tmp_path / "idx")
    assert built and not built_again and again.folder == first.folder
    files[0].write_text(files[0].read_text() + "one more line\n")
    changed, rebuilt = build_index(files, tmp_path / "idx")
    assert rebuilt and changed.folder != first.folder
    assert not list((tmp_path / "idx").glob(".*.tmp"))


def test_small_chunks_and_parts_lose_nothing(
    planted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items, files = planted
    whole, _ = build_index(files, tmp_path / "whole")
    monkeypatch.setattr(corpus_index, "CHUNK_BYTES", 200)  # n-grams straddle every seam
    monkeypatch.setattr(corpus_index, "PART_NGRAMS", 500)
    split, _ = build_index(files, tmp_path / "split")
    assert len(split.parts) > 5 and len(split.chunks) > 50
    assert split.ngrams == whole.ngrams
    a = [r.to_dict() for r in check_items(items, whole)]
    b = [r.to_dict() for r in check_items(items, split)]
    for x, y in zip(a, b, strict=True):
        assert (x["input"], x["reference"], x["longest_span_words"]) == (
            y["input"],
            y["reference"],
            y["longest_span_words"],
        )
        assert x["where"] == y["where"] or x["where"] is None


def test_clean_subset_shows_an_inflated_result() -> None:
    rng = np.random.default_rng(0)
    ids = [f"q{i}" for i in range(200)]
    dirty = set(ids[:40])
    scores = {i: 1.0 if i in dirty else float(rng.random() < 0.5) for i in ids}
    result = clean_subset(scores, set(ids) - dirty, "accuracy")
    assert result.n_clean == 160
    assert result.difference.value < 0 and result.difference.ci_high < 0
    same = clean_subset({i: float(rng.random() < 0.5) for i in ids}, set(ids) - dirty, "acc")
    assert same.difference.ci_low < 0 < same.difference.ci_high


def _missing(p: Path) -> Path:
    return p / "missing.txt"


def _empty(p: Path) -> Path:
    (p / "empty.txt").write_text("")
    return p / "empty.txt"


def _binary(p: Path) -> Path:
    (p / "b.txt").write_bytes(b"\x00\x01abc")
    return p / "b.txt"


def _empty_folder(p: Path) -> Path:
    (p / "dir").mkdir()
    return p / "dir"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_missing, "does not exist"),
        (_empty, "empty"),
        (_binary, "binary"),
        (_empty_folder, "no text files"),
    ],
)
def test_bad_corpus_is_one_line(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(UserError, match=message):
        build_index([path], tmp_path / "idx")
    task = tmp_path / "task.yaml"
    (tmp_path / "d.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    task.write_text(
        f"name: t\ndataset: {{source: {tmp_path / 'd.jsonl'}}}\ntemplate: '{{{{ question }}}}'\n"
        "target: answer\n"
    )
    code, _, err = run_assay(["check", "contamination", str(task), "--against", str(path)])
    assert code != 0 and message in err and "Traceback" not in err
    assert not list((tmp_path / "idx").glob("*")) if (tmp_path / "idx").exists() else True


def _task(tmp_path: Path, rows: list[dict]) -> Path:
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: leaky\ndataset: {{source: {data}, id_field: id}}\n"
        "template: '{{ question }}'\ntarget: answer\nscorers: [exact_match]\n"
    )
    return task


def test_cli_on_a_task_and_on_a_run(tmp_path: Path) -> None:
    rng = random.Random(2)
    rows = [{"id": f"q{i}", "question": sentence(rng, 30), "answer": f"a{i}"} for i in range(30)]
    task = _task(tmp_path, rows)
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(r["question"] for r in rows[:6]) + "\n")
    out = tmp_path / "reports" / "c.json"
    code, stdout, err = run_assay(
        ["check", "contamination", str(task), "--against", str(corpus), "-o", str(out)]
    )
    assert code == 0, err
    assert "6/30 items share a 13-gram" in stdout
    data = json.loads(out.read_text())
    assert data["contaminated"] == 6 and len(data["per_item"]) == 30

    # A run whose model knows the leaked items' answers only.
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.task import load_task
    from assay.models.fake import scripted

    answers = {r["question"]: r["answer"] for r in rows[:6]}
    model = scripted([lambda prompt: next((a for q, a in answers.items() if q in prompt), "?")])
    run = evaluate(load_task(str(task)), model, EvalOptions(progress=False))
    code, stdout, err = run_assay(
        ["check", "contamination", run.id, "--against", str(corpus), "--json"]
    )
    assert code == 0, err
    subset = json.loads(stdout)["clean_subset"][0]
    assert subset["all"]["value"] == pytest.approx(0.2)
    assert subset["clean"]["value"] == 0.0 and subset["difference"]["ci_high"] < 0
