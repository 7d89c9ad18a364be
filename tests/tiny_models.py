"""Small random Llama models with the real SmolLM2 tokenizer, saved as model folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_tiny_llama(out: Path, tokenizer_dir: Path, **config: Any) -> Path:
    """A ~3M-parameter random Llama (seed 0) in ``out``; ``config`` overrides its settings."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    settings: dict[str, Any] = {
        "vocab_size": len(tok),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "tie_word_embeddings": True,
        **config,
    }
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**settings)).save_pretrained(out)
    tok.save_pretrained(out)
    return out
