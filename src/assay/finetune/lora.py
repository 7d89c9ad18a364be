"""LoRA adapters (peft): checked target modules, QLoRA only where it can run, merge and export."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ConfigError, MissingExtraError, UserError

if TYPE_CHECKING:
    import torch

    from assay.finetune.config import LoraConfig

ADAPTABLE = ("Linear", "Conv1D", "Embedding")
"""Layer types LoRA can adapt (``Conv1D`` is GPT-2's linear layer)."""


def require_peft() -> None:
    if importlib.util.find_spec("peft") is None:
        raise MissingExtraError("LoRA finetuning", "peft", "pip install peft")


def adaptable_modules(model: torch.nn.Module) -> dict[str, str]:
    """Short name (last part of the module path) → layer type, for every adaptable layer."""
    out: dict[str, str] = {}
    for name, module in model.named_modules():
        kind = type(module).__name__
        if name and kind in ADAPTABLE and not list(module.children()):
            out.setdefault(name.rsplit(".", 1)[-1], kind)
    return out


def check_targets(model: torch.nn.Module, targets: list[str]) -> None:
    """Refuse target modules the model does not have, listing those it has."""
    if targets == ["all-linear"]:
        return
    present = adaptable_modules(model)
    missing = [t for t in targets if t not in present]
    if not targets or missing:
        linear = sorted(k for k, v in present.items() if v != "Embedding")
        raise ConfigError(
            f"lora.target_modules: this model has no layer named {', '.join(missing) or '(none given)'}",
            hint=f"its linear layers are: {', '.join(linear)} (or use [all-linear])",
        )


def check_quantize(cfg: LoraConfig, device_type: str) -> None:
    """QLoRA (4-bit base weights) needs CUDA and bitsandbytes: say so before loading anything."""
    if cfg.quantize == "none":
        return
    if not cfg.enabled:
        raise ConfigError(
            "lora.quantize is set but lora.enabled is false", hint="set lora.enabled: true"
        )
    if device_type != "cuda":
        raise ConfigError(
            f"QLoRA (lora.quantize: {cfg.quantize}) needs a CUDA GPU; this run is on {device_type}",
            hint="set lora.quantize: none to train LoRA on full-precision weights",
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingExtraError("QLoRA (4-bit)", "bitsandbytes", "pip install bitsandbytes")


def quantization_config(cfg: LoraConfig) -> Any:
    """The transformers ``BitsAndBytesConfig`` for QLoRA (NF4, double quantisation, bf16 compute)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def apply_lora(model: Any, cfg: LoraConfig, task_type: str = "CAUSAL_LM") -> Any:
    """Wrap ``model`` with LoRA adapters; only the adapter weights stay trainable."""
    require_peft()
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model, prepare_model_for_kbit_training

    check_targets(model, list(cfg.target_modules))
    if cfg.quantize != "none":
        model = prepare_model_for_kbit_training(model)
    targets: Any = (
        "all-linear" if cfg.target_modules == ["all-linear"] else list(cfg.target_modules)
    )
    peft_cfg = PeftLoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=targets,
        task_type=task_type,
    )
    return get_peft_model(model, peft_cfg)


def is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "merge_and_unload")


def merge_adapter(run: Path, out: Path | None = None, base: Path | None = None) -> Path:
    """Base model + adapter of a LoRA run, merged and saved as a plain model folder.

    Written to ``<run>/merged/`` by default, through a temporary folder renamed into place. The
    base model is the one named in the run record unless ``base`` is given.
    """
    require_peft()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay.finetune.runs import MERGED_DIR, read_record

    if base is None:
        recorded = ((read_record(run) or {}).get("base_model") or {}).get("path")
        base = Path(recorded) if recorded else None
    if base is None or not base.is_dir():
        raise UserError(
            f"cannot merge the adapter in {run}: its base model folder {base!r} is gone",
            hint="the run record names the base model it was trained on; restore that folder",
        )
    out = out or run / MERGED_DIR
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    merged = PeftModel.from_pretrained(model, str(run)).merge_and_unload()
    merged.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(str(run)).save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


__all__ = [
    "adaptable_modules",
    "apply_lora",
    "check_quantize",
    "check_targets",
    "is_peft",
    "merge_adapter",
    "quantization_config",
    "require_peft",
]
