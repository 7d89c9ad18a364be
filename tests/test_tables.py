"""The one table reader behind datasets, finetuning data and prompt rows: formats, row lines,
row problems kept per row, file problems refused, and the callers naming the same line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from assay.errors import UserError
from assay.evals.datasets import load_rows
from assay.finetune.data import read_examples
from assay.prompting.rows import read_rows
from assay.tables import package_path, read_table, table_format


def test_jsonl_rows_keep_their_lines_and_problems(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n[1, 2]\n{"a": "\u2028"}\n')
    rows = read_table(path, label="d.jsonl")
    assert [(r.line, r.where) for r in rows] == [
        (1, "d.jsonl:1"),
        (3, "d.jsonl:3"),
        (4, "d.jsonl:4"),
        (5, "d.jsonl:5"),
    ]
    assert rows[0].values == {"a": 1} and rows[3].values == {"a": "\u2028"}
    assert rows[1].values is None and rows[1].error is not None
    assert rows[1].error.startswith("not valid JSON")
    assert rows[2].error == "expected a JSON object, got a list"
    assert rows[2].problem(path) == f"{path}:4: expected a JSON object, got a list"


def test_csv_rows_start_lines_widths_and_headers(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(' q , a\n"two\nlines",x\n\nshort\n1,2,3\n')
    rows = read_table(path)
    assert rows[0].line == 2 and rows[0].values == {"q": "two\nlines", "a": "x"}
    assert (rows[1].line, rows[1].error) == (5, "1 values for 2 columns")
    assert (rows[2].line, rows[2].error) == (6, "3 values for 2 columns")
    filled = read_table(path, fill_short_rows=True)
    assert filled[1].values == {"q": "short", "a": None} and filled[2].error is not None
    path.write_text("a,a\n1,2\n")
    with pytest.raises(UserError, match=r"d\.csv:1: repeated column names: a"):
        read_table(path)


def test_json_parquet_and_gzip(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    doc = tmp_path / "d.json"
    doc.write_text(json.dumps({"k1": {"q": "x"}, "k2": {"q": "y"}}))
    assert [r.values for r in read_table(doc)] == [{"id": "k1", "q": "x"}, {"id": "k2", "q": "y"}]
    doc.write_text(json.dumps({"data": [{"q": 1}], "version": 2}))
    assert [r.where for r in read_table(doc, label="d.json")] == ["d.json data[0]"]
    pq.write_table(pa.table({"q": ["a", "b"]}), tmp_path / "d.parquet")
    rows = read_table(tmp_path / "d.parquet", label="p")
    assert [(r.where, r.values) for r in rows] == [("p row 1", {"q": "a"}), ("p row 2", {"q": "b"})]
    packed = tmp_path / "d.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"q": 1}\n'))
    assert table_format(packed) == "jsonl" and read_table(packed)[0].values == {"q": 1}
    assert table_format(tmp_path / "d.xlsx") is None
    with pytest.raises(UserError, match="cannot tell the format"):
        read_table(tmp_path / "d.xlsx")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:2: not valid UTF-8"):
        read_table(bad)


def test_package_data_is_found_without_importing(tmp_path: Path) -> None:
    assert package_path("package:assay/evals/tasks/gsm8k.yaml").name == "gsm8k.yaml"
    with pytest.raises(UserError, match="not in the installed package"):
        package_path("package:assay/no-such-file.jsonl")


def test_the_three_callers_name_the_same_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"question": "q", "target": "a", "text": "t"}\n{"question": \n')
    for read in (load_rows, read_examples):
        with pytest.raises(UserError, match=r"rows\.jsonl:2: not valid JSON") as info:
            read(str(path))
        assert info.value.hint == "each line of a .jsonl file must be one JSON object"
    rows = read_rows(path)
    assert rows[1].line == 2 and rows[1].error is not None
    assert rows[1].error.startswith("not valid JSON")
