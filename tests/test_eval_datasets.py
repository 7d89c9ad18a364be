"""Dataset loading: every source kind, bad input, selection, hashes, and the built-in loaders on
the real data that ships in the asset packages and in shared/data."""

from __future__ import annotations

import collections
import gzip
import hashlib
import json
import logging
from pathlib import Path

import pytest

from assay.errors import ConfigError, MissingExtraError, UserError
from assay.evals import builtin_data as bd
from assay.evals.datasets import Dataset, DataSpec, load_rows, package_path, rows_sha256


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    {"q": "What is 2+2?", "a": "4", "uid": "x1"},
    {"q": "Capital of France?", "a": "Paris", "uid": "x2"},
    {"q": "H2O is?", "a": "water", "uid": "x3"},
]


# ------------------------------------------------------------------------------------------
# Source kinds


def test_jsonl_rows_ids_mapping_and_provenance(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    ds = load_rows(f, fields={"question": "q", "target": "a"}, required=("question", "target"))
    assert isinstance(ds, Dataset) and len(ds) == 3
    assert ds[0] == {"question": "What is 2+2?", "target": "4", "uid": "x1", "id": "0"}
    assert ds.ids == ["0", "1", "2"]
    p = ds.provenance
    assert p.sha256 == hashlib.sha256(f.read_bytes()).hexdigest() == ds.sha256
    assert p.n_rows == 3 and p.format == "jsonl" and p.path == str(f)
    assert p.fields == {"question": "q", "target": "a"} and p.id_field is None
    d = p.to_dict()
    assert d["sha256"] == p.sha256 and d["n_rows"] == 3 and json.dumps(d)


def test_id_field_and_auto_id(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    ds = load_rows(f, id_field="uid")
    assert ds.ids == ["x1", "x2", "x3"] and ds.provenance.id_field == "uid"
    # a field literally called "id" is used when every row has one and they are unique
    g = write_jsonl(tmp_path / "b.jsonl", [{"id": 7, "q": "a"}, {"id": 9, "q": "b"}])
    assert load_rows(g).ids == ["7", "9"]
    # ... and kept as source_id when it repeats
    h = write_jsonl(tmp_path / "c.jsonl", [{"id": 1, "q": "a"}, {"id": 1, "q": "b"}])
    ds = load_rows(h)
    assert ds.ids == ["0", "1"] and ds[1]["source_id"] == 1
    # an explicit id field that repeats is refused, naming both rows
    with pytest.raises(UserError, match=r"repeated ids.*c\.jsonl:1 and c\.jsonl:2"):
        load_rows(h, id_field="id")


def test_dotted_field_paths_and_unknown_field(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "n.jsonl", [{"summary": {"outcome": "o1"}, "text": "t"}])
    ds = load_rows(f, fields={"target": "summary.outcome"})
    assert ds[0]["target"] == "o1"
    with pytest.raises(ConfigError, match="no row has the field 'txet'") as e:
        load_rows(f, fields={"input": "txet"})
    assert e.value.hint is not None and "text" in e.value.hint


def test_csv_tsv_json_parquet_gz(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('q,a\n"multi\nline",1\nplain,2\n', encoding="utf-8")
    ds = load_rows(tmp_path / "a.csv")
    assert [r["q"] for r in ds] == ["multi\nline", "plain"] and ds.provenance.format == "csv"
    (tmp_path / "a.tsv").write_text("q\ta\nx\t1\n", encoding="utf-8")
    assert load_rows(tmp_path / "a.tsv")[0] == {"q": "x", "a": "1", "id": "0"}
    (tmp_path / "list.json").write_text(json.dumps(ROWS), encoding="utf-8")
    assert len(load_rows(tmp_path / "list.json")) == 3
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": ROWS}), encoding="utf-8")
    assert len(load_rows(tmp_path / "wrapped.json")) == 3
    keyed = {"111": {"q": "a"}, "222": {"q": "b"}}
    (tmp_path / "keyed.json").write_text(json.dumps(keyed), encoding="utf-8")
    assert load_rows(tmp_path / "keyed.json").ids == ["111", "222"]
    gz = tmp_path / "z.jsonl.gz"
    raw = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    gz.write_bytes(gzip.compress(raw))
    ds = load_rows(gz)
    assert len(ds) == 3 and ds.sha256 == hashlib.sha256(gz.read_bytes()).hexdigest()

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "t.parquet")
    pds = load_rows(tmp_path / "t.parquet", id_field="uid")
    assert pds.ids == ["x1", "x2", "x3"] and pds[1]["a"] == "Paris"
    # same rows from JSONL and Parquet hash the same once loaded
    assert (
        pds.rows_sha256
        == load_rows(write_jsonl(tmp_path / "q.jsonl", ROWS), id_field="uid").rows_sha256
    )


def test_folder_of_split_files(tmp_path: Path) -> None:
    d = tmp_path / "ds"
    d.mkdir()
    write_jsonl(d / "train.jsonl", ROWS)
    write_jsonl(d / "test-00000-of-00002.jsonl", ROWS[:1])
    write_jsonl(d / "test-00001-of-00002.jsonl", ROWS[1:2])
    write_jsonl(d / "notes.jsonl", ROWS)  # names no split: ignored beside files that do
    with pytest.raises(ConfigError, match="has the splits test, train: choose one"):
        load_rows(d)
    ds = load_rows(d, split="test")
    assert len(ds) == 2 and ds.provenance.split == "test"
    assert ds.provenance.files == ("test-00000-of-00002.jsonl", "test-00001-of-00002.jsonl")
    assert [r["q"] for r in ds] == [ROWS[0]["q"], ROWS[1]["q"]]
    listing = "".join(
        f"{hashlib.sha256((d / n).read_bytes()).hexdigest()}  {n}\n" for n in ds.provenance.files
    )
    assert ds.sha256 == hashlib.sha256(listing.encode()).hexdigest()
    with pytest.raises(ConfigError, match="no split 'validation'"):
        load_rows(d, split="validation")
    # a file that belongs to another split is refused
    with pytest.raises(UserError, match="one file of split 'train'"):
        load_rows(d / "train.jsonl", split="test")
    # no file names a split: the folder is one split
    e = tmp_path / "flat"
    e.mkdir()
    write_jsonl(e / "a.jsonl", ROWS[:2])
    write_jsonl(e / "b.jsonl", ROWS[2:])
    assert len(load_rows(e)) == 3


def test_folder_matches_hf_load_dataset(tmp_path: Path) -> None:
    hf = pytest.importorskip("datasets")
    d = tmp_path / "ds"
    d.mkdir()
    write_jsonl(d / "test.jsonl", ROWS)
    ours = [{k: v for k, v in r.items() if k != "id"} for r in load_rows(d, split="test")]
    theirs = hf.load_dataset(
        "json", data_files={"test": str(d / "test.jsonl")}, cache_dir=str(tmp_path / "cache")
    )["test"].to_list()
    assert ours == theirs


def test_hf_save_to_disk(tmp_path: Path) -> None:
    hf = pytest.importorskip("datasets")
    dd = hf.DatasetDict(
        {"train": hf.Dataset.from_list(ROWS), "test": hf.Dataset.from_list(ROWS[:2])}
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    ds = load_rows(tmp_path / "dd", split="test", id_field="uid")
    assert ds.ids == ["x1", "x2"] and ds.provenance.format == "hf-disk"
    assert ds.sha256 == load_rows(tmp_path / "dd", split="test", id_field="uid").sha256
    hf.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "one"))
    assert len(load_rows(tmp_path / "one")) == 3


def test_hf_folder_without_datasets_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "state.json").write_text("{}")
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *a, **k):  # type: ignore[no-untyped-def]
        if name == "datasets":
            raise ImportError("no datasets")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingExtraError) as e:
        load_rows(tmp_path)
    assert e.value.install == "pip install datasets"


def test_package_source() -> None:
    ds = load_rows("package:aclsum/dataset", split="val")  # val → validation, paper_jsons ignored
    assert len(ds) == 50 and ds.provenance.split == "validation"
    assert len(load_rows("package:aclsum/dataset", split="test")) == 100
    with pytest.raises(UserError, match="not installed"):
        load_rows("package:no_such_pkg_xyz/data.jsonl")
    with pytest.raises(UserError, match="is not in the installed package"):
        package_path("package:aclsum/nope.jsonl")


# ------------------------------------------------------------------------------------------
# Bad input


def test_missing_fields_refuse_lists_rows(tmp_path: Path) -> None:
    rows = [dict(ROWS[0]), {"q": "", "a": "x"}, {"a": "y"}, {"q": "ok", "a": None}]
    f = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(UserError) as e:
        load_rows(f, required=("q", "a"))
    msg = str(e.value)
    assert str(f) in msg and "3 of 4 rows" in msg
    assert "bad.jsonl:2 (q)" in msg and "bad.jsonl:3 (q)" in msg and "bad.jsonl:4 (a)" in msg


def test_missing_fields_skip_reports_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [dict(ROWS[0]), {"q": "", "a": "x"}, dict(ROWS[1]), {"a": "y"}]
    f = write_jsonl(tmp_path / "bad.jsonl", rows)
    with caplog.at_level(logging.WARNING):
        ds = load_rows(f, required=("q",), on_missing="skip")
    assert len(ds) == 2 and ds.ids == ["0", "2"]  # ids are source positions: they do not move
    p = ds.provenance
    assert p.n_skipped == 2 and p.n_source_rows == 4
    assert p.skipped == ("bad.jsonl:2", "bad.jsonl:4")
    assert "skipped 2 of 4 rows" in caplog.text
    with pytest.raises(UserError, match="no rows left"):
        load_rows(
            write_jsonl(tmp_path / "all_bad.jsonl", [{"a": 1}]), required=("q",), on_missing="skip"
        )


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "broken.jsonl"
    f.write_text('{"q": "a"}\n\n{"q": "b",}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"broken\.jsonl:3: not valid JSON"):
        load_rows(f)
    g = tmp_path / "scalar.jsonl"
    g.write_text('{"q": "a"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"scalar\.jsonl:2: expected a JSON object"):
        load_rows(g)


def test_empty_and_missing_sources(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="has no rows"):
        load_rows(tmp_path / "empty.jsonl")
    (tmp_path / "header.csv").write_text("q,a\n", encoding="utf-8")
    with pytest.raises(UserError, match="has no rows"):
        load_rows(tmp_path / "header.csv")
    with pytest.raises(UserError, match="no such file"):
        load_rows(tmp_path / "nope.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(UserError, match="cannot tell the format"):
        load_rows(tmp_path / "x.txt")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match="holds no data files"):
        load_rows(tmp_path / "empty_dir")


# ------------------------------------------------------------------------------------------
# Selection and hashes


def test_limit_shuffle_sample_are_seeded_and_nested(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "n.jsonl", [{"q": str(i)} for i in range(50)])
    assert load_rows(f, limit=5).ids == ["0", "1", "2", "3", "4"]
    a = load_rows(f, shuffle=True, seed=3, limit=10)
    b = load_rows(DataSpec(source=str(f), shuffle=True, seed=3, limit=10))
    assert a.ids == b.ids and a.ids != [str(i) for i in range(10)]
    assert load_rows(f, shuffle=True, seed=4, limit=10).ids != a.ids
    assert load_rows(f, shuffle=True, seed=3, limit=20).ids[:10] == a.ids  # nested samples
    assert a.provenance.limit == 10 and a.provenance.shuffle and a.provenance.seed == 3
    assert a.rows_sha256 == rows_sha256(a.rows) and a.sha256 == load_rows(f).sha256
    with pytest.raises(ConfigError, match="limit"):
        load_rows(f, limit=0)


def test_hashes_stable_and_content_hash_ignores_formatting(
    tmp_path: Path, shared_data: Path
) -> None:
    pkg = bd.gsm8k()
    assert pkg.sha256 == bd.gsm8k().sha256 and pkg.rows_sha256 == bd.gsm8k().rows_sha256
    # The packaged file escapes JSON differently from upstream (other bytes, same rows).
    up = bd.gsm8k(shared_data / "gsm8k" / "test.jsonl")
    assert up.sha256 == "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"
    assert pkg.sha256 != up.sha256 and pkg.rows_sha256 == up.rows_sha256


# ------------------------------------------------------------------------------------------
# Built-in datasets on the real data


def test_gsm8k(shared_data: Path) -> None:
    ds = bd.gsm8k()
    assert len(ds) == 1319 and ds[0]["target"] == "18" and ds[0]["question"].startswith("Janet")
    assert all(r["target"].lstrip("-").isdigit() for r in ds)
    p = ds.provenance
    assert p.source == "gsm8k" and p.split == "test" and p.licence and "Cobbe" in (p.citation or "")
    train = bd.gsm8k(shared_data / "gsm8k", split="train")
    assert len(train) == 7473 and train.sha256.startswith("17f347dc")
    with pytest.raises(UserError, match="only the test split"):
        bd.gsm8k(split="train")
    assert bd.gsm8k_gold("so 3 + 4 = 7\n#### 1,234") == "1234"


def test_mmlu_drops_header_rows_and_selects_subjects() -> None:
    ds = bd.mmlu()
    assert len(ds) == 14042 and ds.provenance.n_source_rows == 14044
    assert "11776, 12793" in ds.provenance.dropped[0]
    r = ds[0]
    assert len(r["choices"]) == 4 and r["target"] in "ABCD"
    assert r["choices"][r["target_index"]] == r["choices"]["ABCD".index(r["target"])]
    counts = collections.Counter(r["subject"] for r in ds)
    assert len(counts) == 57
    assert counts["elementary mathematics"] == 378 and counts["college mathematics"] == 100
    sci = bd.mmlu(subjects="science")
    assert {r["subject"] for r in sci} == set(bd.MMLU_SUBSETS["science"])
    assert len(bd.MMLU_SUBSETS["science"]) == 26 and len(bd.MMLU_SUBSETS["stem"]) == 18
    assert len(sci) == sum(counts[s] for s in bd.MMLU_SUBSETS["science"])
    one = bd.mmlu(subjects=["college_physics"])
    assert len(one) == 102 and one.sha256 == ds.sha256
    with pytest.raises(ConfigError, match="no subject or subset") as e:
        bd.mmlu(subjects="college physic")
    assert e.value.hint is not None and "college physics" in e.value.hint


def test_gpqa_shuffle_is_deterministic() -> None:
    ds = bd.gpqa_diamond()
    assert len(ds) == 198 and len(set(ds.ids)) == 198
    again = bd.gpqa_diamond()
    assert [r["choices"] for r in ds] == [r["choices"] for r in again]
    assert ds.rows_sha256 == again.rows_sha256
    letters = collections.Counter(r["target"] for r in ds)
    assert set(letters) == set("ABCD") and min(letters.values()) > 30  # not all "A"
    r = ds[0]
    assert r["id"] == "rec06pnAkLOr2t2mp" and r["choices"][r["target_index"]] == "10^-4 eV"
    assert r["choices"] == ["10^-8 eV", "10^-11 eV", "10^-9 eV", "10^-4 eV"]  # stripped, fixed
    assert bd.gpqa_option_order("rec06pnAkLOr2t2mp", 0) == [2, 1, 3, 0]
    other = bd.gpqa_diamond(seed=1)
    assert [r["choices"] for r in other] != [r["choices"] for r in ds]
    assert sorted(other[0]["choices"]) == sorted(r["choices"])


def test_pubmedqa_official_test_split(shared_data: Path) -> None:
    folder = shared_data / "pubmedqa"
    ds = bd.pubmedqa(folder)
    truth = json.loads((folder / "test_ground_truth.json").read_text())
    assert len(ds) == 500 and ds.ids == list(truth)
    assert collections.Counter(r["target"] for r in ds) == {"yes": 276, "no": 169, "maybe": 55}
    assert all("long_answer" not in r for r in ds)  # reasoning-required: no conclusion
    assert ds.provenance.files == ("ori_pqal.json", "test_ground_truth.json")
    train = bd.pubmedqa(folder / "ori_pqal.json", split="train")
    assert len(train) == 500 and not set(train.ids) & set(ds.ids)
    ex = bd.pubmedqa(folder, setting="reasoning_free").by_id()["12377809"]
    assert ex["long_answer"] and ex["context"]
    with pytest.raises(UserError, match="needs the folder"):
        bd.pubmedqa()


def test_aclsum() -> None:
    ds = bd.aclsum()
    assert len(ds) == 100 and ds[0]["id"] == "E09-1056" and ds[0]["aspect"] == "outcome"
    assert len(bd.aclsum(split="val")) == 50 and len(bd.aclsum(split="train")) == 100
    full = bd.aclsum(aspect="challenge", sections=("abstract", "introduction", "conclusion"))
    assert full[0]["document"].count("\n\n") == 2 and full[0]["target"] != ds[0]["target"]
    with pytest.raises(ConfigError, match="aspect"):
        bd.aclsum(aspect="results")


def test_bbc_news_stratified_split() -> None:
    all_ = bd.bbc_news(split="all")
    assert len(all_) == 2225
    totals = collections.Counter(r["target"] for r in all_)
    assert totals == {
        "business": 510,
        "entertainment": 386,
        "politics": 417,
        "sports": 511,
        "tech": 401,
    }
    test, train = bd.bbc_news(), bd.bbc_news(split="train")
    assert len(test) == 448 and len(train) == 1777
    assert not set(test.ids) & set(train.ids)
    per_class = collections.Counter(r["target"] for r in test)
    assert per_class == {
        "business": 103,
        "entertainment": 78,
        "politics": 85,
        "sports": 102,
        "tech": 80,
    }
    for label, n in per_class.items():  # stratified: every class near 20 %
        assert abs(n / totals[label] - 0.2) < 0.02
    # duplicate articles never straddle the split
    texts = {" ".join(r["text"].split()) for r in test}
    assert not any(" ".join(r["text"].split()) in texts for r in train)
    assert bd.bbc_news().ids == test.ids and bd.bbc_news(seed=1).ids != test.ids
    assert "£15.8m" in all_.by_id()["sports/199"]["text"]  # the one cp1252 file


def test_load_builtin_registry() -> None:
    assert bd.builtin_names() == [
        "gsm8k",
        "mmlu",
        "gpqa-diamond",
        "pubmedqa",
        "aclsum",
        "bbc-news",
        "crows-pairs",
        "bbq",
        "truthfulqa",
        "reference-recall",
    ]
    assert len(bd.load_builtin("gpqa_diamond")) == 198
    with pytest.raises(ConfigError, match="no built-in dataset") as e:
        bd.load_builtin("gsm8")
    assert e.value.hint is not None and "gsm8k" in e.value.hint
    with pytest.raises(ConfigError, match="unexpected keyword"):
        bd.load_builtin("gsm8k", subjects="x")
