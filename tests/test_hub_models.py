"""``hf:ORG/NAME[@REVISION]``: models from a Hugging Face hub cache built here, in the hub's own
layout, from tiny random Llamas. Nothing goes to the network: offline is the fixtures' default,
and the one online test points the hub at a closed port on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

import assay
from assay.config import load_settings
from assay.errors import ModelNotFoundError
from assay.models.card import model_card
from cli_util import run_assay
from hub_cache import add_snapshot
from tiny_models import save_tiny_llama

REPO = "acme/tiny-llama"
MAIN = "a" * 8 + "1" * 32
V1 = "b" * 8 + "2" * 32


@pytest.fixture
def hub(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_dir: Path,
    smollm2_tokenizer_dir: Path,
) -> Path:
    """HF_HOME with acme/tiny-llama: ``main`` is the 2-layer tiny Llama, tag ``v1`` a 1-layer one."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    cache = home / "hub"
    add_snapshot(cache, REPO, tiny_model_dir, MAIN, refs=("main",))
    one_layer = save_tiny_llama(tmp_path / "one-layer", smollm2_tokenizer_dir, num_hidden_layers=1)
    add_snapshot(cache, REPO, one_layer, V1, refs=("v1",))
    return cache


def _cpu() -> object:
    return load_settings(overrides={"device": "cpu"})


def test_loads_from_the_cache_like_the_folder_it_came_from(hub: Path, tiny_model_dir: Path) -> None:
    cached = assay.load(f"hf:{REPO}", settings=_cpu())  # type: ignore[arg-type]
    local = assay.load(f"hf:{tiny_model_dir}", settings=_cpu())  # type: ignore[arg-type]
    assert cached.backend.folder == hub / f"models--acme--tiny-llama/snapshots/{MAIN}"  # type: ignore[attr-defined]
    assert cached.address == f"hf:{REPO}"
    assert cached.fingerprint == local.fingerprint  # the same weights, wherever they are
    prompt = "What is 2 plus one?"
    assert cached.complete(prompt, max_tokens=5) == local.complete(prompt, max_tokens=5)


@pytest.mark.parametrize("revision", ["v1", V1, V1[:8]], ids=["tag", "commit", "short-commit"])
def test_revision_is_a_ref_or_a_commit(hub: Path, revision: str) -> None:
    card = model_card(f"hf:{REPO}@{revision}", devices=[])
    assert card.layers == 1 and card.name == REPO
    assert card.metadata["hub"] == {"repo_id": REPO, "commit": V1}
    assert model_card(f"hf:{REPO}", devices=[]).layers == 2
    assert model_card(f"hf:{REPO}@main", devices=[]).metadata["hub"]["commit"] == MAIN


def test_a_revision_that_loads(hub: Path) -> None:
    model = assay.load(f"hf:{REPO}@v1", settings=_cpu())  # type: ignore[arg-type]
    assert model.backend.model.config.num_hidden_layers == 1  # type: ignore[attr-defined]
    assert isinstance(model.complete("Hi", max_tokens=2), str)


def test_hf_hub_cache_is_used_before_hf_home(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    with pytest.raises(ModelNotFoundError, match="elsewhere"):
        model_card(f"hf:{REPO}", devices=[])
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    assert model_card(f"hf:{REPO}", devices=[]).name == REPO


def test_missing_model_offline_is_one_line_saying_what_to_do(hub: Path) -> None:
    for args in (["models", "info", "hf:acme/missing"], ["generate", "hf:acme/missing", "hi"]):
        code, out, err = run_assay(args)
        assert code == 2 and not out and "Traceback" not in err
        error, hint = err.strip().splitlines()
        assert error.startswith("error: hf:acme/missing is not a local folder")
        assert str(hub) in error and "HF_HUB_OFFLINE" in error
        assert "hf download acme/missing" in hint and "HF_HOME" in hint and "online" in hint


def test_missing_revision_names_the_cached_ones(hub: Path) -> None:
    code, _, err = run_assay(["models", "info", f"hf:{REPO}@v2"])
    assert code == 2
    assert f"has {REPO} but not its revision 'v2'" in err
    assert "main, v1" in err and "--revision v2" in err


def test_a_local_folder_of_the_same_name_wins(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, tmp_path / REPO)
    card = model_card(f"hf:{REPO}", devices=[])
    assert card.path == str((tmp_path / REPO).resolve()) and "hub" not in card.metadata


def test_online_with_the_hub_unreachable_uses_the_cache(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # closed
    card = model_card(f"hf:{REPO}@{V1}", devices=[])
    assert card.metadata["hub"]["commit"] == V1
    card = model_card(f"hf:{REPO}", devices=[])  # a branch: the hub is asked, does not answer
    assert card.metadata["hub"]["commit"] == MAIN
    code, _, err = run_assay(["models", "info", "hf:acme/missing"])
    assert code == 2 and err.startswith(
        "error: cannot get hf:acme/missing from the Hugging Face hub"
    )
    assert len(err.strip().splitlines()) == 2


def test_models_list_shows_the_cached_repositories(hub: Path) -> None:
    import json

    code, out, err = run_assay(["models", "list", "--json"])
    assert code == 0, err
    entry = next(e for e in json.loads(out) if e["kind"] == "hub")
    assert entry["name"] == REPO and entry["address"] == f"hf:{REPO}"
    assert entry["available"] is True and "@main, @v1, 2 snapshot(s)" in entry["description"]
    code, out, _ = run_assay(["models", "list"])
    assert f"hf:{REPO}" in out


def test_a_bare_hub_id_is_told_to_say_hf() -> None:
    code, _, err = run_assay(["models", "info", "acme/not-here"])
    assert code == 2 and "unknown model 'acme/not-here'" in err
    assert "write hf:acme/not-here" in err
