"""A GGUF model's card says where its transformers (safetensors) copy is, and
``assay models convert`` makes or finds that copy for other tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.models.card import model_card
from assay.models.gguf_convert import is_complete
from cli_util import run_assay


def _conversion_record(home: Path, source: Path) -> Path:
    """A finished conversion of ``source`` as the hf backend lays it out (weights left out)."""
    folder = home / "conversions" / ("cd" * 32)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    record = {"source": str(source), "sha256": "cd" * 32, "file_name": source.name}
    (folder / "assay_conversion.json").write_text(json.dumps(record))
    return folder


def test_card_shows_the_transformers_copy(assay_home: Path, smollm2_gguf: Path) -> None:
    card = model_card("default", devices=[])
    assert card.transformers_folder is None
    assert any("assay models convert default" in note for note in card.notes)

    folder = _conversion_record(assay_home, smollm2_gguf)
    card = model_card("default", devices=[])
    assert card.transformers_folder == str(folder)

    code, out, _ = run_assay(["models", "info", "default", "--json"])
    assert code == 0 and json.loads(out)["transformers_folder"] == str(folder)
    code, out, _ = run_assay(["models", "info", "default"])
    row = next(line for line in out.splitlines() if line.strip().startswith("transformers "))
    assert str(folder) in row


def test_card_of_a_folder_has_no_transformers_copy(tiny_model_dir: Path) -> None:
    card = model_card(f"hf:{tiny_model_dir}", devices=[])
    assert card.transformers_folder is None
    assert not any("assay models convert" in note for note in card.notes)


def test_convert_prints_a_folder_as_it_is_and_refuses_what_it_cannot_convert(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    code, out, _ = run_assay(["models", "convert", f"hf:{tiny_model_dir}"])
    assert code == 0 and out.strip() == str(tiny_model_dir)
    code, out, err = run_assay(["models", "convert", "fake:"])
    assert code == 2 and not out and "is not a local model file" in err
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf")
    code, _, err = run_assay(["models", "convert", str(junk)])
    assert code == 2 and "is not a GGUF file" in err.splitlines()[0]


@pytest.mark.slow
def test_convert_the_default_model_then_its_card_points_there(
    real_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(real_home))
    code, out, err = run_assay(["models", "convert", "default"])
    assert code == 0, err
    folder = Path(out.strip())
    assert is_complete(folder) and (folder / "model.safetensors").is_file()
    assert model_card("default", devices=[]).transformers_folder == str(folder)
