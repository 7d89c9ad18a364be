"""Small random Llama models with the real SmolLM2 tokenizer, saved as model folders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.models.hf import HFBackend
    from assay.models.types import Loglikelihood


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


def hf_backend(folder: Path, **kwargs: Any) -> HFBackend:
    """The hf backend over a model folder, default settings; ``kwargs`` go to the backend."""
    from assay.config import Settings
    from assay.models.hf import HFBackend

    return HFBackend(
        folder, name=str(folder), address=f"hf:{folder}", settings=Settings(), **kwargs
    )


def assert_same_scores(got: list[Loglikelihood], want: list[Loglikelihood], tol: float) -> None:
    """Equal log-likelihoods (within ``tol``), greedy flags and token counts, pair by pair."""
    import pytest

    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.logprob == pytest.approx(w.logprob, abs=tol)
        assert (g.is_greedy, g.n_tokens) == (w.is_greedy, w.n_tokens)


VISION_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def save_tiny_llava(out: Path, tokenizer_dir: Path) -> Path:
    """A tiny random LLaVA (a 1-layer CLIP vision tower on 32x32 images, 16 patches, and a
    2-layer Llama) with the SmolLM2 tokenizer plus an ``<image>`` token, and its processor."""
    import torch
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(out)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # the CLS token the "default" strategy drops
        chat_template=VISION_CHAT_TEMPLATE,
        image_token="<image>",
    ).save_pretrained(out)
    return out
