"""What every part of the ``hf`` backend stands on: the loaded model and tokenizer, its identity,
and the text side (encoding, decoding, chat templates)."""

from __future__ import annotations

import contextlib
import inspect
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import AutoModelForCausalLM, AutoTokenizer

from assay.errors import ContextLengthError, InvalidModelFileError
from assay.models import hf
from assay.models.constrain import SchemaCompiler
from assay.models.fingerprint import CONVERSION_FILE, weights_fingerprint
from assay.models.hf.device import (
    peak_memory,
    pick_device,
    pick_dtype,
    quantize_int8,
    reset_peak_memory,
    weights_bytes,
)
from assay.models.protocol import render_plain_chat
from assay.models.shared_prefix import PrefixCache
from assay.models.types import GenerateRequest, Message, ModelInfo

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.workspace import Workspace


_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "n_ctx",
    "max_sequence_length",
    "seq_length",
)


class HFCore:
    """The model, the tokenizer and the text side; the passes are in the subclasses."""

    provider = "hf"
    constrains_json_schema = True
    """Decodes under ``Sampling.json_schema`` (see :mod:`assay.models.constrain`)."""

    def __init__(
        self,
        folder: Path,
        *,
        name: str,
        address: str,
        settings: Settings,
        workspace: Workspace | None = None,
        source: str = "folder",
        gguf_path: Path | None = None,
        fingerprint: str | None = None,
        prefix_reuse: bool = True,
    ) -> None:
        self.name = name
        self.address = address
        self.folder = folder
        self.source = source
        self.gguf_path = gguf_path
        self._workspace = workspace
        self._weights_id = fingerprint
        self._fingerprint: str | None = None
        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(settings.dtype, self.device)
        self.precision = settings.dtype
        """As asked (``auto``, ``float32``, ``bfloat16``, ``float16``, ``int8``)."""
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=self.dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidModelFileError(
                f"transformers could not load the model in '{folder}': {exc}",
                hint="check that the folder holds a causal language model written by save_pretrained",
            ) from None
        self.model: Any = model.to(self.device).eval()
        if self.precision == "int8":
            self.model = quantize_int8(self.model, self.device)
        self._lock = threading.Lock()

        tok = self.tokenizer
        gen_eos = self.model.generation_config.eos_token_id
        eos = gen_eos if gen_eos is not None else tok.eos_token_id
        self.eos_ids: set[int] = set(
            eos if isinstance(eos, list) else [eos] if eos is not None else []
        )
        self.pad_id: int = (
            tok.pad_token_id if tok.pad_token_id is not None else min(self.eos_ids, default=0)
        )
        self.prefix_token: int = (
            tok.bos_token_id if tok.bos_token_id is not None else min(self.eos_ids, default=0)
        )
        self._bos_text: str = tok.bos_token or ""
        probe = tok("a")["input_ids"]
        self._adds_bos = tok.bos_token_id is not None and probe[:1] == [tok.bos_token_id]
        self._context = self._find_context_length()
        self.prefix_reuse = prefix_reuse
        """Score choices that share a context with one pass over it (see the module docstring)."""
        self._reuse_args = self._prefix_reuse_args()
        self._prefix = PrefixCache()
        """Few-shot examples and instructions every context starts with: run once, kept."""
        self._schemas = SchemaCompiler(tok, self._vocab_size(), sorted(self.eos_ids))

    # -- identity ------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            weights = self._weights_id or weights_fingerprint(self.folder, self._workspace)
            # Another precision gives other answers: its runs and cached replies are its own.
            explicit = self.precision not in ("auto", "float32")
            self._fingerprint = f"{weights}+{self.precision}" if explicit else weights
        return self._fingerprint

    def weights_bytes(self) -> int:
        """Memory the weights take as loaded, at this precision."""
        return weights_bytes(self.model)

    def reset_peak_memory(self) -> None:
        reset_peak_memory(self.device)

    def peak_memory_bytes(self) -> int | None:
        """Peak GPU memory since :meth:`reset_peak_memory` (weights, KV cache, activations);
        None on a CPU."""
        return peak_memory(self.device)

    def _find_context_length(self) -> int | None:
        config = self.model.config
        for key in _CONTEXT_KEYS:
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < 10**7:
            return limit
        return None

    def context_length(self) -> int | None:
        return self._context

    @property
    def max_length(self) -> int:
        """Longest input scored in one forward pass."""
        return self._context or hf.DEFAULT_MAX_LENGTH

    def info(self) -> ModelInfo:
        config = self.model.config
        architectures = getattr(config, "architectures", None) or []
        details: dict[str, Any] = {
            "parameters": int(self.model.num_parameters()),
            "dtype": "int8" if self.precision == "int8" else str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "architecture": architectures[0] if architectures else config.model_type,
            "model_type": config.model_type,
            "source": self.source,
            "path": str(self.folder),
        }
        if self.gguf_path is not None:
            details["gguf_file"] = str(self.gguf_path)
        meta_file = self.folder / CONVERSION_FILE
        if meta_file.is_file():
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads(meta_file.read_text())
                details["quantization"] = meta.get("quantization")
                if meta.get("license"):
                    details["license"] = meta["license"]
        return ModelInfo(
            address=self.address,
            provider=self.provider,
            name=self.name,
            fingerprint=self.fingerprint(),
            context_length=self._context,
            chat_template=bool(getattr(self.tokenizer, "chat_template", None)),
            supports_loglikelihood=True,
            details=details,
        )

    # -- text ----------------------------------------------------------------------------------
    def _special_kwargs(self, text: str) -> dict[str, Any]:
        if self._adds_bos and self._bos_text and text.startswith(self._bos_text):
            return {"add_special_tokens": False}
        return {}

    def encode(self, text: str) -> list[int]:
        """Tokens of a prompt, as ``generate`` feeds them (see the module docstring)."""
        ids: list[int] = self.tokenizer(text, **self._special_kwargs(text))["input_ids"]
        return ids

    def _encode_plain(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens))

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            return render_plain_chat(messages, add_generation_prompt)
        chat = [{"role": m.role, "content": m.content} for m in messages]
        text = self.tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return str(text)

    def _prompt_text(self, request: GenerateRequest) -> str:
        p = request.prompt
        return p if isinstance(p, str) else self.render_chat(p)

    def _cap(self, n_prompt: int, max_tokens: int) -> int:
        if self._context is None:
            return max_tokens
        if n_prompt >= self._context:
            raise ContextLengthError(n_prompt + 1, self._context)
        return min(max_tokens, self._context - n_prompt)

    def _prefix_reuse_args(self) -> tuple[str, bool] | None:
        """How to pass a cache to ``forward`` and whether it takes ``logits_to_keep``; ``None``
        for models whose cache cannot be reused this way (encoder-decoders, sliding windows)."""
        config = self.model.config
        if getattr(config, "is_encoder_decoder", False) or not getattr(config, "is_causal", True):
            return None
        if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
            return None
        layer_types = getattr(config, "layer_types", None) or []
        if any(t != "full_attention" for t in layer_types):
            return None
        try:
            params = inspect.signature(self.model.forward).parameters
        except (TypeError, ValueError):
            return None
        cache_arg = next((a for a in ("cache", "past_key_values") if a in params), None)
        if cache_arg is None or "position_ids" not in params or "attention_mask" not in params:
            return None
        return cache_arg, "logits_to_keep" in params

    def _vocab_size(self) -> int:
        return int(getattr(self.model.config, "vocab_size", 0) or len(self.tokenizer))
