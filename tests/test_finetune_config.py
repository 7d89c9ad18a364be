"""Training configs: YAML + dotted overrides, nearest-key suggestions, hashing and diffs."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import ConfigError
from assay.finetune.config import config_diff, load_config, parse_overrides, valid_keys
from finetune_util import REPO, write_yaml


def _cfg(tmp_path: Path, **extra: object) -> Path:
    data = {"recipe": "classifier", "model": "x", "data": {"train": "t.jsonl"}, **extra}
    return write_yaml(tmp_path / "my-run.yaml", data)


def test_yaml_overrides_and_defaults(tmp_path: Path) -> None:
    path = _cfg(tmp_path, optim={"learning_rate": "5e-5"})
    cfg = load_config(path, ["optim.learning_rate=1e-4", "data.limit=10", "eval.every_steps=5"])
    assert cfg.optim.learning_rate == pytest.approx(1e-4)
    assert cfg.data.limit == 10  # type: ignore[attr-defined]
    assert cfg.eval.every_steps == 5
    assert cfg.run_id == "my-run"  # the config file's name
    assert cfg.optim.batch_size == 8  # a default


def test_override_values_are_yaml(tmp_path: Path) -> None:
    values = parse_overrides(["a=3", "b=true", "c=[x, y]", "d=null", "e=hello", "f="])
    assert values == {"a": 3, "b": True, "c": ["x", "y"], "d": None, "e": "hello", "f": ""}
    cfg = load_config(_cfg(tmp_path), ["data.leakage_check=[builtin:bbc-news/test]"])
    assert cfg.data.leakage_check == ["builtin:bbc-news/test"]  # type: ignore[attr-defined]


def test_unknown_keys_suggest_the_nearest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'optim\.learning_rat'") as info:
        load_config(_cfg(tmp_path), ["optim.learning_rat=1e-4"])
    assert info.value.hint == "did you mean 'optim.learning_rate'?"
    with pytest.raises(ConfigError, match=r"unknown key 'max_lenght'") as info:
        load_config(_cfg(tmp_path, max_lenght=128))
    assert info.value.hint == "did you mean 'max_length'?"
    assert "my-run.yaml" in info.value.message
    with pytest.raises(ConfigError, match=r"unknown key 'data\.zzzz'") as info:
        load_config(_cfg(tmp_path), ["data.zzzz=1"])
    assert info.value.hint is not None and "data.train" in info.value.hint


def test_bad_values_and_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"optim.batch_size.*greater than or equal to 1"):
        load_config(_cfg(tmp_path), ["optim.batch_size=0"])
    with pytest.raises(ConfigError, match=r"optim\.learning_rate.*'fast'"):
        load_config(_cfg(tmp_path), ["optim.learning_rate=fast"])
    with pytest.raises(ConfigError, match="not key=value"):
        load_config(_cfg(tmp_path), ["epochs"])
    with pytest.raises(ConfigError, match="unknown recipe 'clasifier'") as info:
        load_config({"recipe": "clasifier", "model": "x"})
    assert info.value.hint is not None and "did you mean 'classifier'" in info.value.hint
    with pytest.raises(ConfigError, match="'recipe' is required"):
        load_config({"model": "x"})
    with pytest.raises(ConfigError, match="'data' is required"):
        load_config({"recipe": "sft", "model": "x"})
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("recipe: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="run_id"):
        load_config(_cfg(tmp_path), ["run_id=../escape"])
    with pytest.raises(ConfigError, match="is a value"):
        load_config(_cfg(tmp_path), ["model.name=x"])


def test_hash_ignores_what_cannot_change_results(tmp_path: Path) -> None:
    base = load_config(_cfg(tmp_path))
    same = load_config(
        _cfg(tmp_path), ["run_id=other", "progress=false", "checkpoint.every_steps=7", "device=cpu"]
    )
    assert base.config_hash() == same.config_hash()
    changed = load_config(_cfg(tmp_path), ["optim.learning_rate=1e-3"])
    assert changed.config_hash() != base.config_hash()
    diff = config_diff(base.semantic_dict(), changed.semantic_dict())
    assert diff == ["optim.learning_rate: 5e-05 → 0.001"]


def test_dict_configs_get_a_hash_run_id() -> None:
    cfg = load_config({"recipe": "sft", "model": "x", "data": {"train": "t.jsonl"}})
    assert cfg.run_id is not None and cfg.run_id.startswith("sft-")
    assert "lora.target_modules" in valid_keys(type(cfg))


@pytest.mark.parametrize("path", sorted((REPO / "examples" / "finetune").glob("*.yaml")))
def test_example_configs_are_valid(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.run_id == path.stem


def test_paths_in_the_file_are_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    data = {
        "recipe": "classifier",
        "model": "base",
        "data": {
            "train": "data/train.jsonl",
            "validation": "../shared/dev.jsonl",
            "leakage_check": ["builtin:bbc-news/test", "held-out.jsonl"],
        },
    }
    path = write_yaml(project / "configs" / "run.yaml", data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "project" / "configs" / "run.yaml")
    configs = project / "configs"
    assert cfg.data.train == str(configs / "data" / "train.jsonl")  # type: ignore[attr-defined]
    assert cfg.data.validation == str(project / "shared" / "dev.jsonl")  # type: ignore[attr-defined]
    assert cfg.data.leakage_check == [  # type: ignore[attr-defined]
        "builtin:bbc-news/test",
        str(configs / "held-out.jsonl"),
    ]
    assert cfg.model == "base"  # a name: no configs/base folder, so it stays as written
    cfg = load_config(path, ["model=../base", "data.train=mine.jsonl"])
    # overrides come from the command line: relative to where it runs
    assert cfg.model == "../base" and cfg.data.train == "mine.jsonl"  # type: ignore[attr-defined]
    (configs / "base").mkdir()
    assert load_config(path).model == str(configs / "base")


def test_train_show_config_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from cli_util import run_assay

    (tmp_path / "cfg").mkdir()
    path = write_yaml(
        tmp_path / "cfg" / "run.yaml",
        {"recipe": "sft", "model": "smollm2", "data": {"train": "qa.jsonl"}},
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run_assay(["train", str(path.relative_to(tmp_path)), "--show-config"])
    assert code == 0, err
    assert yaml.safe_load(out)["data"]["train"] == str(tmp_path / "cfg" / "qa.jsonl")
