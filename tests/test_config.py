from __future__ import annotations

from pathlib import Path

import pytest

from assay.config import DEFAULT_ALIASES, load_settings
from assay.errors import ConfigError


def test_layers_defaults_file_env_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "batch_size: 4\naliases: {mine: 'hf:/x'}\nopenai: {base_url: 'http://file/v1'}\n"
    )
    s = load_settings(cfg, env={})
    assert s.batch_size == 4
    assert s.aliases["mine"] == "hf:/x" and s.aliases["default"] == DEFAULT_ALIASES["default"]
    assert s.openai.base_url == "http://file/v1"
    s = load_settings(cfg, env={"OPENAI_BASE_URL": "http://env/v1", "ASSAY_BATCH_SIZE": "2"})
    assert s.openai.base_url == "http://env/v1" and s.batch_size == 2
    s = load_settings(cfg, overrides={"batch_size": 16}, env={"ASSAY_BATCH_SIZE": "2"})
    assert s.batch_size == 16


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("batch_sise: 4\n")
    with pytest.raises(ConfigError, match="batch_sise") as info:
        load_settings(cfg, env={})
    assert info.value.hint == "did you mean 'batch_size'?"


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("a: 1\nb: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config.yaml:\d+: not valid YAML \("):
        load_settings(cfg, env={})


def test_bad_value(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("device: gpu\n")
    with pytest.raises(ConfigError, match="device"):
        load_settings(cfg, env={})
