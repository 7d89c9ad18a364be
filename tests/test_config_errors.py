"""Config errors: every problem at once, each with its key and line, on one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.config import load_settings
from assay.config_errors import yaml_key_lines
from assay.errors import ConfigError
from assay.evals.task import load_task
from cli_util import one_error, run_assay


def test_yaml_key_lines_name_nested_keys_and_list_items() -> None:
    lines = yaml_key_lines("a: 1\nb:\n  c: 2\n  d:\n    - x\n    - y\n")
    assert lines == {"a": 1, "b": 2, "b.c": 3, "b.d": 4, "b.d.0": 5, "b.d.1": 6}
    assert yaml_key_lines("a: [unclosed\n") == {}


def test_task_file_problems_are_reported_together_with_lines(tmp_path: Path) -> None:
    task = tmp_path / "t.yaml"
    task.write_text(
        "name: t\n"
        "dataset: {source: x.jsonl}\n"
        "scorrers: [exact_match]\n"
        "fewshot:\n"
        "  k: many\n"
        "kind: essay\n"
    )
    with pytest.raises(ConfigError) as info:
        load_task(str(task))
    message = info.value.message
    assert message.startswith(f"{task}: 3 problems: line 3: unknown key 'scorrers'")
    assert "(did you mean 'scorers'?)" in message
    assert "line 5: fewshot.k: Input should be a valid integer" in message and "'many'" in message
    assert "line 6: kind: " in message and "\n" not in message


def test_one_problem_names_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("cache: true\nbatch_sise: 4\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert info.value.message == f"{cfg}:2: unknown key 'batch_sise'"
    assert info.value.hint == "did you mean 'batch_size'?"


def test_settings_problems_through_the_cli(assay_home: Path) -> None:
    assay_home.mkdir(parents=True)
    (assay_home / "config.yaml").write_text("batch_size: lots\ndevice: gpu\n")
    code, _, err = run_assay(["generate", "fake:", "hi"])
    assert code == 2
    line = one_error(err)
    assert "config.yaml: 2 problems: line 1: batch_size: " in line and "line 2: device: " in line


def test_a_broken_fake_model_script_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text("replies: [a, b\n  c: d\n")
    code, _, err = run_assay(["generate", f"fake:{script}", "hi"])
    assert code == 2
    assert one_error(err).startswith(f"error: {script}:2: not valid YAML (expected ',' or ']'")
