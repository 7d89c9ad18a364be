"""The ``hf`` backend for vision-language models: a folder whose config has a ``vision_config``.

Loaded with ``AutoModelForImageTextToText`` and ``AutoProcessor``; a chat is rendered with the
processor's chat template, each image as an ``{"type": "image"}`` part before the turn's text,
and the processor turns text and images into the model's inputs (image tokens, pixel values).

What it guarantees:

* **Batches decode what single prompts decode.** Rows are left padded with an attention mask;
  greedy rows share a batch, a seeded sampled row runs alone under its own seed. Rows with
  images and rows without are batched apart (processors want images for every row or none).
* **Stop sequences and ``max_tokens`` hold per row**; the text is cut at the first stop string.
  ``prompt_tokens`` counts the processor's input (image tokens included), and ``image_tokens``
  how many of them stand for images.
* Generation only: no log-likelihood scoring, no JSON Schema constraints; ``stream`` yields the
  whole reply as one piece.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from assay.errors import ContextLengthError, InvalidModelFileError, UnsupportedOperationError
from assay.models.capabilities import Capabilities
from assay.models.fingerprint import weights_fingerprint
from assay.models.hf.device import _seeded, pick_device, pick_dtype
from assay.models.protocol import OnFinished, apply_stop, render_plain_chat
from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Message,
    ModelInfo,
    RollingLoglikelihood,
)

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.workspace import Workspace


def is_vision_folder(folder: Path) -> bool:
    """Whether the model folder holds a vision-language model (its config has a vision tower)."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and isinstance(config.get("vision_config"), dict)


class HFVisionBackend:
    """A transformers image-text-to-text model behind the backend protocol."""

    provider = "hf"
    capabilities = Capabilities(images=True, reports_finished=False)

    def __init__(
        self,
        folder: Path,
        *,
        name: str,
        address: str,
        settings: Settings,
        workspace: Workspace | None = None,
    ) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.name = name
        self.address = address
        self.folder = folder
        self._workspace = workspace
        self._fingerprint: str | None = None
        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(settings.dtype, self.device)
        try:
            self.processor: Any = AutoProcessor.from_pretrained(str(folder))
            model: Any = AutoModelForImageTextToText.from_pretrained(str(folder), dtype=self.dtype)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidModelFileError(
                f"transformers could not load the vision-language model in '{folder}': {exc}",
                hint="the folder needs config.json, the weights and the processor's files "
                "(processor_config.json / preprocessor_config.json, tokenizer)",
            ) from None
        self.model: Any = model.to(self.device).eval()
        self.tokenizer: Any = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        self._lock = threading.Lock()
        gen_eos = self.model.generation_config.eos_token_id
        eos = gen_eos if gen_eos is not None else self.tokenizer.eos_token_id
        self.eos_ids: set[int] = set(
            eos if isinstance(eos, list) else [eos] if eos is not None else []
        )
        pad = self.tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else min(self.eos_ids, default=0)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token_id = self.pad_id
        self.image_token: str = getattr(self.processor, "image_token", None) or "<image>"
        self.image_token_id: int | None = self.tokenizer.convert_tokens_to_ids(self.image_token)
        self.max_images: int | None = None
        self.max_image_side: int | None = _longest_edge(self.processor)

    # -- identity ------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.folder, self._workspace)
        return self._fingerprint

    def context_length(self) -> int | None:
        config = getattr(self.model.config, "text_config", None) or self.model.config
        value = getattr(config, "max_position_embeddings", None)
        return value if isinstance(value, int) and value > 0 else None

    def info(self) -> ModelInfo:
        config = self.model.config
        architectures = getattr(config, "architectures", None) or []
        return ModelInfo(
            address=self.address,
            provider=self.provider,
            name=self.name,
            fingerprint=self.fingerprint(),
            context_length=self.context_length(),
            chat_template=bool(getattr(self.processor, "chat_template", None)),
            supports_loglikelihood=False,
            details={
                "parameters": int(self.model.num_parameters()),
                "dtype": str(self.dtype).removeprefix("torch."),
                "device": str(self.device),
                "architecture": architectures[0] if architectures else config.model_type,
                "model_type": config.model_type,
                "source": "folder",
                "path": str(self.folder),
                "accepts images": True,
            },
        )

    # -- text ----------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The prompt text, with one image placeholder per image (the processor expands it)."""
        if not getattr(self.processor, "chat_template", None):
            return render_plain_chat(
                [
                    m.model_copy(update={"content": self.image_token * len(m.images) + m.content})
                    for m in messages
                ],
                add_generation_prompt,
            )
        chat = [
            {
                "role": m.role,
                "content": [{"type": "image"} for _ in m.images]
                + [{"type": "text", "text": m.content}],
            }
            for m in messages
        ]
        text = self.processor.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return str(text)

    def _prompt_text(self, request: GenerateRequest) -> str:
        p = request.prompt
        return p if isinstance(p, str) else self.render_chat(p)

    # -- generation ----------------------------------------------------------------------------
    def generate(
        self, requests: Sequence[GenerateRequest], on_finished: OnFinished | None = None
    ) -> list[Generation]:
        groups: dict[Any, list[int]] = {}
        for i, r in enumerate(requests):
            s = r.sampling
            with_images = bool(r.images)
            if s.greedy:
                key: Any = ("greedy", with_images)
            elif s.seed is not None:
                key = ("seeded", i)
            else:
                key = ("sampled", s.temperature, s.top_p, with_images)
            groups.setdefault(key, []).append(i)
        results: list[Generation | None] = [None] * len(requests)
        with self._lock:
            for indices in groups.values():
                outs = self._generate_group([requests[i] for i in indices])
                for i, gen in zip(indices, outs, strict=True):
                    results[i] = gen
                    if on_finished is not None:
                        on_finished(i, gen)
        return [g for g in results if g is not None]

    def _inputs(self, requests: Sequence[GenerateRequest]) -> Any:
        texts = [self._prompt_text(r) for r in requests]
        images = [[im.to_pil() for im in r.images] for r in requests]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if any(images):
            kwargs["images"] = images
        try:
            inputs = self.processor(**kwargs)
        except ValueError as exc:
            raise UnsupportedOperationError(
                f"{self.address} could not take these images: {exc}"
            ) from None
        return inputs.to(self.device)

    def _generate_group(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        inputs = self._inputs(requests)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        ids = inputs["input_ids"]
        width = ids.shape[1]
        limit = self.context_length()
        s = requests[0].sampling
        max_new = max(r.sampling.max_tokens for r in requests)
        if limit is not None:
            # Counted after the processor expanded each image into its tokens.
            longest = int(inputs["attention_mask"].sum(dim=1).max())
            if longest >= limit:
                raise ContextLengthError(longest + 1, limit)
            max_new = max(1, min(max_new, limit - width))
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": not s.greedy,
            "pad_token_id": self.pad_id,
            "eos_token_id": sorted(self.eos_ids) or None,
        }
        if not s.greedy:
            gen_kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=0)
        seed = s.seed if not s.greedy else None
        with _seeded(seed, self.device), torch.inference_mode():
            out = self.model.generate(**inputs, **gen_kwargs)
        new = out[:, width:].tolist()
        mask = inputs["attention_mask"]
        results = []
        for row, r in enumerate(requests):
            tokens = new[row][: r.sampling.max_tokens]
            ended = next((k for k, t in enumerate(tokens) if t in self.eos_ids), None)
            if ended is not None:
                tokens = tokens[: ended + 1]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            text, stopped = apply_stop(text, r.sampling.stop)
            hit_length = ended is None and not stopped and len(tokens) >= r.sampling.max_tokens
            image_tokens = 0
            if self.image_token_id is not None and r.images:
                image_tokens = int((ids[row] == self.image_token_id).sum())
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=int(mask[row].sum()),
                    completion_tokens=len(tokens),
                    finish_reason="length" if hit_length else "stop",
                    image_tokens=image_tokens,
                )
            )
        return results

    def stream(self, request: GenerateRequest) -> Iterator[str]:
        """The whole reply as one piece (this backend does not decode token by token)."""
        text = self.generate([request])[0].text
        if text:
            yield text

    # -- scoring: not offered --------------------------------------------------------------------
    def _no_scoring(self) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"{self.address} is a vision-language model: it generates, it does not score "
            "log-likelihoods",
            hint="score with a text model (default, hf:PATH, gguf:FILE.gguf)",
        )

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        raise self._no_scoring()

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingLoglikelihood]:
        raise self._no_scoring()


def _longest_edge(processor: Any) -> int | None:
    """The image side the processor works at most with, when it says (``longest_edge``)."""
    image_processor = getattr(processor, "image_processor", None)
    value: Any = getattr(image_processor, "size", None)
    edge = value.get("longest_edge") if isinstance(value, dict) else None
    if edge is None:
        edge = getattr(value, "longest_edge", None)
    return edge if isinstance(edge, int) and edge > 0 else None


__all__ = ["HFVisionBackend", "is_vision_folder"]
