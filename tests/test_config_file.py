"""The one config-file layer: settings, task files and training configs all read YAML with key
lines, take dotted overrides and suggest the nearest name the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.config import load_settings
from assay.config_file import (
    did_you_mean,
    parse_overrides,
    read_yaml_mapping,
    set_dotted,
)
from assay.errors import ConfigError
from assay.evals.task import load_task
from assay.finetune.config import load_config


def _error(fn: object, *args: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value


def test_all_three_configs_name_the_line_of_a_bad_key(tmp_path: Path) -> None:
    settings = tmp_path / "config.yaml"
    settings.write_text("device: cpu\n\nbatch_sise: 4\n")
    err = _error(load_settings, settings)
    assert err.message == f"{settings}:3: unknown key 'batch_sise'"
    assert err.hint == "did you mean 'batch_size'?"

    task = tmp_path / "t.yaml"
    task.write_text("dataset: {source: x.jsonl}\ntarget: answer\nfewshot:\n  kk: 2\n")
    err = _error(load_task, str(task))
    assert err.message == f"{task}:4: unknown key 'fewshot.kk'"
    assert err.hint == "did you mean 'fewshot.k'?"

    train = tmp_path / "run.yaml"
    train.write_text("recipe: classifier\nmodel: x\ndata:\n  train: t.jsonl\noptim:\n  lr: 1\n")
    err = _error(load_config, train)
    assert err.message == f"{train}:6: unknown key 'optim.lr'"


def test_an_override_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    train = tmp_path / "run.yaml"
    train.write_text(
        "recipe: classifier\nmodel: x\ndata:\n  train: t.jsonl\noptim:\n  batch_size: 1\n"
    )
    err = _error(load_config, train, ["optim.learning_rat=1e-4"])
    assert err.message == f"{train}: unknown key 'optim.learning_rat'"  # no line: not in the file
    assert err.hint == "did you mean 'optim.learning_rate'?"
    assert load_config(train, ["optim.learning_rate=0.5"]).optim.learning_rate == 0.5


def test_dotted_overrides_reach_every_config(tmp_path: Path) -> None:
    settings = load_settings(None, overrides={"openai.max_retries": 2, "batch_size": 3})
    assert settings.openai.max_retries == 2 and settings.batch_size == 3
    task = load_task("gsm8k").with_overrides(**{"fewshot.k": 2, "generation.max_tokens": 9})
    assert task.fewshot.k == 2 and task.generation.max_tokens == 9
    # A section that is unset (None) in the task becomes a mapping when a key under it is set.
    pooled = task.with_overrides(**{"fewshot.pool.source": "pool.jsonl"})
    assert pooled.fewshot.pool is not None and pooled.fewshot.pool.source == "pool.jsonl"


def test_override_parsing_and_refusals() -> None:
    assert parse_overrides(["a.b=[1, 2]", "c=", "d=x: y: z"]) == {
        "a.b": [1, 2],
        "c": "",
        "d": "x: y: z",  # not valid YAML: kept as text
    }
    assert parse_overrides(["c="], flag="--set", blank=None) == {"c": None}
    err = _error(parse_overrides, ["nokey"])
    assert err.message == "override 'nokey' is not key=value"
    data = {"a": 1}
    err = _error(set_dotted, data, "a.b", 2, "--set a.b")
    assert err.message == "--set a.b: 'a' is a value, so 'a.b' cannot be set"


def test_file_shape_problems_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    assert _error(read_yaml_mapping, bad).message.startswith(f"{bad}:2: not valid YAML")
    bad.write_text("- a\n- b\n")
    assert _error(read_yaml_mapping, bad).message == (
        f"{bad}: expected a mapping of settings at the top level"
    )
    bad.write_text("")
    assert read_yaml_mapping(bad).data == {}
    err = _error(load_task, str(bad))
    assert err.message == f"{bad} is empty" and err.hint is not None
    err = _error(read_yaml_mapping, tmp_path / "absent.yaml")
    assert err.message.startswith("cannot read the config file")


def test_nearest_name_hints() -> None:
    assert did_you_mean("gsm8", ["gsm8k", "mmlu"]) == "did you mean 'gsm8k'? "
    assert did_you_mean("zzz", ["gsm8k", "mmlu"]) == ""
    err = _error(load_task, "gsm8")
    assert err.hint is not None and err.hint.startswith("did you mean 'gsm8k'")
    err = _error(load_config, {"recipe": "classifer", "model": "x", "data": {"train": "t"}})
    assert err.hint is not None and "did you mean 'classifier'" in err.hint
