"""Scale: the example accelerate configs load with accelerate's own loader, and the recipes' rules
for sharded runs (FSDP, DeepSpeed) hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.errors import ConfigError
from assay.finetune import session, train
from finetune_util import REPO, sentiment_rows, tiny_encoder, write_jsonl

CONFIGS = REPO / "examples" / "finetune" / "accelerate"


@pytest.mark.parametrize(
    ("name", "kind", "processes"),
    [
        ("multi_gpu.yaml", "MULTI_GPU", 4),
        ("multi_node.yaml", "MULTI_GPU", 16),
        ("fsdp.yaml", "FSDP", 4),
        ("deepspeed_zero2.yaml", "DEEPSPEED", 4),
    ],
)
def test_example_accelerate_configs_load(name: str, kind: str, processes: int) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / name))
    assert str(config.distributed_type).endswith(kind) and config.num_processes == processes
    if kind == "FSDP":
        assert config.fsdp_config["fsdp_version"] == 2
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 2
    if name == "multi_node.yaml":
        assert config.num_machines == 2 and config.main_process_ip
    assert f"`{name}`" in (REPO / "docs" / "finetuning.md").read_text()


def _config(tmp_path: Path, **eval_cfg: Any) -> dict[str, Any]:
    return {
        "recipe": "classifier",
        "model": str(tiny_encoder(tmp_path / "enc")),
        "max_length": 16,
        "progress": False,
        "data": {"train": str(write_jsonl(tmp_path / "t.jsonl", sentiment_rows(20)))},
        "optim": {"max_steps": 1, "batch_size": 4},
        "eval": eval_cfg,
    }


def test_sharded_runs_refuse_restore_best_and_megatron(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "distributed_kind", lambda accelerator: "FSDP")
    with pytest.raises(ConfigError, match=r"eval\.restore_best is not supported under FSDP"):
        train(_config(tmp_path, early_stopping_patience=2), quiet=True)
    monkeypatch.setattr(session, "distributed_kind", lambda accelerator: "MEGATRON_LM")
    with pytest.raises(ConfigError, match="do not support Megatron-LM"):
        train(_config(tmp_path), quiet=True)


def test_sharded_checkpoint_path_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The FSDP/DeepSpeed code path (accelerate's save_state/load_state for checkpoints, the
    wrapped model for evaluation, get_state_dict for the final save), run on one CPU process."""
    from assay.finetune.runs import RECORD_FILE

    monkeypatch.setattr(session, "distributed_kind", lambda accelerator: "FSDP")
    cfg = _config(tmp_path, every_steps=2, restore_best=False)
    cfg["optim"] = {"max_steps": 4, "batch_size": 4, "learning_rate": 1e-3}
    cfg["checkpoint"] = {"every_steps": 2, "keep_after_training": True}
    first = train(cfg, quiet=True)
    step2 = first.path / "checkpoints" / "step-000002"
    assert (step2 / "sharded").is_dir() and not (step2 / "weights.safetensors").exists()
    assert (first.path / "model.safetensors").is_file()

    # Forget that the run finished: training again resumes from step 2 and repeats steps 3-4.
    (first.path / RECORD_FILE).unlink()
    again = train(cfg, quiet=True)
    assert again.resumed_from == 2
    losses = [p["loss"] for p in first.record["curves"]["train"]]
    assert [p["loss"] for p in again.record["curves"]["train"]] == pytest.approx(losses, abs=1e-6)
