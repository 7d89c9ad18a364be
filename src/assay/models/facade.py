"""``Model``: the one wrapper around every backend.

It adds, once for all backends: batching, the response cache, retries, context-length checks,
token/latency/cost accounting and one call-log row per call. Backends stay small.

A backend whose capabilities include ``reports_finished`` takes ``generate(requests, on_finished=fn)`` and
calls ``fn(index, generation)`` as each sequence of a batch is done; the facade caches it then,
so an interruption late in a long batch loses only the sequences still being decoded.

The cache key is the model fingerprint + the operation + the full request (prompt and sampling
settings) + the sample index, so ``n`` sampled outputs are cached as ``n`` entries, never one.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from assay.config import Settings, load_settings
from assay.errors import (
    AssayWarning,
    ContextLengthError,
    UnsupportedOperationError,
    UserError,
    WorkspaceError,
)
from assay.models.capabilities import Capabilities, capabilities_of
from assay.models.image_prompts import check_images
from assay.models.protocol import Backend
from assay.models.registry import BackendContext, load_backend, resolve_alias
from assay.models.retry import RetryPolicy, with_retries
from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Message,
    ModelInfo,
    PromptScores,
    RollingLoglikelihood,
    Sampling,
    as_messages,
    stable_hash,
)
from assay.progress import progress_bar
from assay.unicode_input import lone_surrogate_path
from assay.workspace import Workspace, database_error

R = TypeVar("R", bound=BaseModel)

PromptLike = str | Sequence[Message] | Sequence[dict[str, Any]]


def _normalise_prompts(
    prompts: PromptLike | Sequence[PromptLike],
) -> list[str | tuple[Message, ...]]:
    """Accept one prompt, one chat, or a list of either."""
    if isinstance(prompts, str):
        return [prompts]
    items = list(prompts)
    if items and isinstance(items[0], Message | dict):
        return [tuple(as_messages(items))]  # type: ignore[arg-type]
    out: list[str | tuple[Message, ...]] = []
    for p in items:
        out.append(p if isinstance(p, str) else tuple(as_messages(p)))  # type: ignore[arg-type]
    return out


def _check_unicode(prompt: str | tuple[Message, ...]) -> None:
    """A tokenizer cannot encode an unpaired surrogate (what Python makes of bytes that are not
    UTF-8): name where it is instead of failing deep inside the tokenizer or the cache key."""
    bad = lone_surrogate_path(
        prompt if isinstance(prompt, str) else [m.model_dump() for m in prompt],
        "prompt" if isinstance(prompt, str) else "messages",
    )
    if bad is not None:
        raise UserError(
            f"{bad}: an unpaired surrogate is not valid Unicode",
            hint="decode the text as UTF-8 with errors='replace'",
        )


class Model:
    """A backend with batching, caching, retries, accounting and logging around it."""

    def __init__(
        self,
        backend: Backend,
        *,
        address: str,
        settings: Settings,
        workspace: Workspace,
    ) -> None:
        self.backend = backend
        self.address = address
        self.settings = settings
        self.workspace = workspace
        self.retry = RetryPolicy(
            max_retries=settings.openai.max_retries,
            budget_s=settings.openai.retry_budget_s,
            base_delay_s=settings.openai.retry_base_delay_s,
        )
        self._sleep: Callable[[float], None] = time.sleep
        self._fingerprint: str | None = None
        self.cache_hits = 0
        """Requests answered from the response cache so far, by this object."""
        self._unsaved: set[str] = set()  # workspace errors already warned about

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        address: str = "default",
        *,
        settings: Settings | None = None,
        workspace: Workspace | None = None,
    ) -> Model:
        workspace = workspace or Workspace.find()
        settings = settings or load_settings(workspace.config_path)
        resolved = resolve_alias(address, settings.aliases)
        backend = load_backend(
            resolved,
            lambda addr: BackendContext(settings=settings, workspace=workspace, address=addr),
        )
        return cls(backend, address=resolved, settings=settings, workspace=workspace)

    # -- identity ------------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        # Not functools.cached_property: on Python 3.11 its lock is shared by every instance,
        # which deadlocks a client and a server Model in one process.
        if self._fingerprint is None:
            self._fingerprint = self.backend.fingerprint()
        return self._fingerprint

    @property
    def context_length(self) -> int | None:
        return self.backend.context_length()

    @property
    def capabilities(self) -> Capabilities:
        """What the backend can do beyond generating (log-likelihood, constrained decoding, ...)."""
        return capabilities_of(self.backend)

    def info(self) -> ModelInfo:
        return self.backend.info()

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def render_chat(self, messages: PromptLike, add_generation_prompt: bool = True) -> str:
        chat = _normalise_prompts(messages)[0]
        if isinstance(chat, str):
            return chat
        return self.backend.render_chat(chat, add_generation_prompt=add_generation_prompt)

    # -- generation ----------------------------------------------------------------------------
    def generate(
        self,
        prompts: PromptLike | Sequence[PromptLike],
        sampling: Sampling | None = None,
        *,
        progress: bool = False,
        **sampling_kwargs: Any,
    ) -> list[Generation]:
        """Generate for one prompt/chat or a list. Returns ``len(prompts) * n`` generations,
        prompt-major, each tagged with ``prompt_index`` and ``sample_index``."""
        if sampling_kwargs:
            base = (sampling or Sampling()).model_dump()
            base.update(sampling_kwargs)
            if isinstance(base.get("stop"), str):
                base["stop"] = (base["stop"],)
            sampling = Sampling.model_validate(base)
        sampling = sampling or Sampling()
        items = [check_images(p, self.backend, self.address) for p in _normalise_prompts(prompts)]
        for prompt in items:
            self._check_context(prompt, sampling)
        requests = [
            (pi, si, GenerateRequest(prompt=p, sampling=sampling.for_sample(si)))
            for pi, p in enumerate(items)
            for si in range(sampling.n)
        ]
        # (stream and cached() make the first sample's key the same way, see _first_sample)
        keys = [self._key("generate", req.model_dump(mode="json"), si) for _, si, req in requests]
        results = self._run_cached(
            "generate",
            keys,
            [req for _, _, req in requests],
            self.backend.generate,
            Generation,
            progress=progress,
            preview=items[0] if items else "",
            early=self.capabilities.reports_finished,
        )
        out = []
        for (pi, si, _), gen in zip(requests, results, strict=True):
            out.append(gen.model_copy(update={"prompt_index": pi, "sample_index": si}))
        return out

    def complete(self, prompt: PromptLike, **sampling_kwargs: Any) -> str:
        """The text of one completion: the simplest way to ask one question."""
        return self.generate(prompt, **sampling_kwargs)[0].text

    def stream(
        self, prompt: PromptLike, sampling: Sampling | None = None, **sampling_kwargs: Any
    ) -> Iterator[str]:
        """Yield pieces of one completion as they are decoded; logged at the end.

        It shares the response cache with :meth:`generate`: a cached answer comes back as one
        piece, and a stream read to its end is cached for either to reuse.
        """
        sampling = Sampling.model_validate(
            {**(sampling or Sampling()).model_dump(), **sampling_kwargs}
        )
        item = check_images(_normalise_prompts(prompt)[0], self.backend, self.address)
        self._check_context(item, sampling)
        request, key = self._first_sample(item, sampling)
        hit = self._cached_generation(key)
        if hit is not None:
            self._log("stream", 1, 0, 0, 0.0, 1, None, item)
            if hit.text:
                yield hit.text
            return
        start = time.perf_counter()
        pieces: list[str] = []
        error: str | None = None
        finished = False
        try:
            for piece in self.backend.stream(request):
                pieces.append(piece)
                yield piece
            finished = True
        except Exception as exc:
            error = str(exc)
            raise
        finally:
            text = "".join(pieces)
            latency = time.perf_counter() - start
            prompt_tokens = self._prompt_tokens(item)
            completion_tokens = self.backend.count_tokens(text) if text else 0
            cost = self.cost(prompt_tokens, completion_tokens)
            self._log(
                "stream", 1, prompt_tokens, completion_tokens, latency, 0, error, item, cost=cost
            )
            # Only a whole answer is cached. A stream carries no log-probabilities and does not
            # say whether decoding was held to a schema, so such requests are not cached here.
            cacheable = not sampling.logprobs and sampling.json_schema is None
            if finished and self.settings.cache and cacheable:
                gen = Generation(
                    text=text,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    # tokens counted again from the text, so "length" is a close estimate
                    finish_reason="length" if completion_tokens >= sampling.max_tokens else "stop",
                    latency_s=latency,
                    cost=cost,
                )
                self._cache_put("generate", [(key, gen.model_dump_json())])

    def cached(self, prompt: PromptLike, sampling: Sampling | None = None) -> Generation | None:
        """The cached first generation for ``prompt``, as :meth:`generate` would return it, or
        None when it would be computed anew (or the cache is off)."""
        item = check_images(_normalise_prompts(prompt)[0], self.backend, self.address)
        _check_unicode(item)  # before hashing it for the key, which would fail on it
        _, key = self._first_sample(item, sampling or Sampling())
        return self._cached_generation(key)

    def _first_sample(
        self, item: str | tuple[Message, ...], sampling: Sampling
    ) -> tuple[GenerateRequest, str]:
        """The request for a prompt's first sample and its cache key, the same as generate's."""
        request = GenerateRequest(prompt=item, sampling=sampling.for_sample(0))
        return request, self._key("generate", request.model_dump(mode="json"), 0)

    def _cached_generation(self, key: str) -> Generation | None:
        if not self.settings.cache:
            return None
        row = self._cache_get([key])[0]
        return None if row is None else Generation.model_validate_json(row)

    # -- scoring -------------------------------------------------------------------------------
    def loglikelihood(
        self,
        pairs: Sequence[tuple[str, str]] | Sequence[LoglikelihoodRequest],
        *,
        progress: bool = False,
    ) -> list[Loglikelihood]:
        """Sum log-probability of each continuation given its context, and whether greedy
        decoding would have produced it (lm-evaluation-harness semantics)."""
        requests = [
            p
            if isinstance(p, LoglikelihoodRequest)
            else LoglikelihoodRequest(context=p[0], continuation=p[1])
            for p in pairs
        ]
        keys = [self._key("loglikelihood", r.model_dump(), 0) for r in requests]
        return self._run_cached(
            "loglikelihood",
            keys,
            requests,
            self.backend.loglikelihood,
            Loglikelihood,
            progress=progress,
            preview=requests[0].context + requests[0].continuation if requests else "",
            # The choices of one question stay in one backend call, which can then run their
            # shared context once (a batch may exceed batch_size by a question's other choices).
            same_batch=lambda r: r.context,
        )

    def loglikelihood_rolling(
        self, texts: Sequence[str], *, progress: bool = False
    ) -> list[RollingLoglikelihood]:
        """Total log-likelihood of whole texts, in context-sized windows (for perplexity)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        keys = [self._key("rolling", {"text": t}, 0) for t in texts]
        return self._run_cached(
            "rolling",
            keys,
            texts,
            self.backend.loglikelihood_rolling,
            RollingLoglikelihood,
            progress=progress,
            preview=texts[0] if texts else "",
        )

    def perplexity(self, texts: Sequence[str]) -> list[float]:
        return [r.perplexity for r in self.loglikelihood_rolling(texts)]

    def prompt_logprobs(
        self, texts: Sequence[str], *, top: int = 5, progress: bool = False
    ) -> list[PromptScores]:
        """Each text's tokens with their log-probability given the tokens before it (the first
        has none unless the model adds a start token) and the ``top`` most likely tokens at each
        position. Needs a backend that scores prompts token by token (local models, or a
        server that echoes prompt log-probabilities)."""
        if not self.capabilities.prompt_logprobs:
            raise UnsupportedOperationError(
                f"{self.address} cannot list per-token log-probabilities",
                hint="score with a local model (default, hf:PATH, gguf:FILE.gguf)",
            )
        score = self.backend.prompt_logprobs  # type: ignore[attr-defined]
        texts = [texts] if isinstance(texts, str) else list(texts)
        keys = [self._key("token_scores", {"text": t, "top": top}, 0) for t in texts]
        return self._run_cached(
            "token_scores",
            keys,
            texts,
            lambda batch: [PromptScores(tokens=scores) for scores in score(batch, top)],
            PromptScores,
            progress=progress,
            preview=texts[0] if texts else "",
        )

    # -- shared machinery ----------------------------------------------------------------------
    def _key(self, op: str, request: Any, sample_index: int) -> str:
        return stable_hash(
            {"fp": self.fingerprint, "op": op, "request": request, "sample": sample_index}
        )

    def _prompt_tokens(self, prompt: str | tuple[Message, ...]) -> int:
        text = prompt if isinstance(prompt, str) else self.backend.render_chat(prompt)
        return self.backend.count_tokens(text)

    def _check_context(self, prompt: str | tuple[Message, ...], sampling: Sampling) -> None:
        _check_unicode(prompt)
        limit = self.backend.context_length()
        if limit is None:
            return
        n = self._prompt_tokens(prompt)
        if n >= limit:
            # Room for at least one new token is needed.
            raise ContextLengthError(n + 1, limit)

    def _run_cached(
        self,
        op: str,
        keys: list[str],
        requests: Sequence[Any],
        call: Callable[[Sequence[Any]], list[R]],
        result_type: type[R],
        *,
        progress: bool,
        preview: Any,
        same_batch: Callable[[Any], Any] | None = None,
        early: bool = False,
    ) -> list[R]:
        """``early``: pass the backend ``on_finished`` and cache each result as it comes."""
        results: list[R | None] = [None] * len(requests)
        if self.settings.cache:
            for i, row in enumerate(self._cache_get(keys)):
                if row is not None:
                    results[i] = result_type.model_validate_json(row)
        todo = [i for i, r in enumerate(results) if r is None]
        n_cached = len(requests) - len(todo)
        self.cache_hits += n_cached
        kept: set[int] = set()

        def keep(i: int, out: R, latency_s: float) -> None:
            """Finish and cache one result the moment the backend has it."""
            if i in kept:
                return  # a retried batch reports it again
            results[i] = out = self._priced(out, latency_s)
            kept.add(i)
            if self.settings.cache:
                self._cache_put(op, [(keys[i], out.model_dump_json())])

        start = time.perf_counter()
        error: str | None = None
        # Retries of this call: the facade's of whole batches, and a backend's own per request.
        retried = [0]
        backend_retries = getattr(self.backend, "retries", 0)

        def sleep(seconds: float) -> None:
            retried[0] += 1
            self._sleep(seconds)

        try:
            size = max(1, self.settings.batch_size)
            batches: list[list[int]] = []
            for i in todo:
                # A full batch is closed, except that consecutive requests with equal
                # ``same_batch`` keys are not split between two batches.
                if not batches or (
                    len(batches[-1]) >= size
                    and (
                        same_batch is None
                        or same_batch(requests[i]) != same_batch(requests[batches[-1][-1]])
                    )
                ):
                    batches.append([])
                batches[-1].append(i)
            bar = progress_bar(
                len(todo), f"{op} {self.address}", "req", enabled=progress and len(batches) > 1
            )
            for batch in batches:
                batch_start = time.perf_counter()
                batch_requests = [requests[i] for i in batch]
                run_batch = functools.partial(call, batch_requests)
                if early:
                    run_batch = functools.partial(
                        run_batch,
                        on_finished=lambda k, out, batch=batch, t0=batch_start: keep(
                            batch[k], out, time.perf_counter() - t0
                        ),
                    )
                outs: list[R] = with_retries(run_batch, self.retry, sleep)
                per_item = (time.perf_counter() - batch_start) / max(len(batch), 1)
                fresh: list[tuple[str, str]] = []
                for i, out in zip(batch, outs, strict=True):
                    if i in kept:
                        continue
                    results[i] = out = self._priced(out, per_item)
                    fresh.append((keys[i], out.model_dump_json()))
                if self.settings.cache:
                    self._cache_put(op, fresh)
                bar.update(len(batch))
            bar.close()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            # Account only for work done now; cache hits cost nothing.
            done = [r for i in todo if (r := results[i]) is not None]
            prompt_tokens = sum(getattr(r, "prompt_tokens", 0) for r in done)
            completion_tokens = sum(getattr(r, "completion_tokens", 0) for r in done)
            # A generation carries its own cost; scoring pays for the tokens it read.
            scored = sum(
                getattr(r, "prompt_tokens", 0) for r in done if not isinstance(r, Generation)
            )
            cost = sum(r.cost for r in done if isinstance(r, Generation)) + self.cost(scored, 0)
            self._log(
                op,
                len(requests),
                prompt_tokens,
                completion_tokens,
                time.perf_counter() - start,
                n_cached,
                error,
                preview,
                cost=cost,
                retries=retried[0] + getattr(self.backend, "retries", 0) - backend_retries,
            )
        final: list[R] = []
        cached_set = set(range(len(requests))) - set(todo)
        for i, r in enumerate(results):
            assert r is not None
            if i in cached_set and isinstance(r, Generation):
                r = r.model_copy(update={"cached": True})
            final.append(r)
        return final

    def _priced(self, out: R, latency_s: float) -> R:
        """A generation with its cost, and ``latency_s`` where the backend measured none."""
        if not isinstance(out, Generation):
            return out
        return out.model_copy(
            update={
                "latency_s": out.latency_s or latency_s,
                "cost": self.cost(out.prompt_tokens, out.completion_tokens),
            }
        )

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """US$ for this many tokens, from the price table (by address, or by model name)."""
        name = self.address.split(":", 1)[-1].split("@", 1)[0]
        price = self.settings.prices.get(self.address) or self.settings.price_for(name)
        return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1e6

    def _cache_get(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        db = self.workspace.db
        found: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for row in db.execute(
                f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk
            ):
                found[row["key"]] = row["response"]
        return [found.get(k) for k in keys]

    def _cache_put(self, op: str, rows: list[tuple[str, str]]) -> None:
        def put() -> None:
            with self.workspace.transaction() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO responses(key, fingerprint, op, response)"
                    " VALUES (?,?,?,?)",
                    [(k, self.fingerprint, op, v) for k, v in rows],
                )

        self._save("this call was not logged or cached", put)

    def _save(self, what: str, write: Callable[[], None]) -> None:
        """Write bookkeeping to the workspace. A workspace that cannot be written (read-only,
        damaged) costs the record, not the answer already computed: warn and go on."""
        try:
            write()
        except (sqlite3.Error, WorkspaceError) as exc:
            err = (
                exc
                if isinstance(exc, WorkspaceError)
                else database_error(exc, self.workspace.db_path)
            )
            if str(err) in self._unsaved:  # one cause, one warning: not one per record lost
                return
            self._unsaved.add(str(err))
            warnings.warn(f"{what}: {err}", AssayWarning, stacklevel=2)

    def _log(
        self,
        op: str,
        n_requests: int,
        prompt_tokens: int,
        completion_tokens: int,
        latency_s: float,
        n_cached: int,
        error: str | None,
        preview: Any,
        cost: float = 0.0,
        retries: int = 0,
    ) -> None:
        if not isinstance(preview, str):
            preview = json.dumps([m.model_dump() if isinstance(m, Message) else m for m in preview])
        row = (
            self.address,
            self.fingerprint,
            op,
            n_requests,
            prompt_tokens,
            completion_tokens,
            latency_s,
            cost,
            n_cached,
            error,
            preview[:300],
            retries,
        )
        self._save("this call was not logged or cached", lambda: self._insert_call(row))

    def _insert_call(self, row: tuple[Any, ...]) -> None:
        self.workspace.db.execute(
            "INSERT INTO calls(model, fingerprint, op, n_requests, prompt_tokens, completion_tokens,"
            " latency_s, cost, cached, error, preview, retries) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            row,
        )


def load(
    address: str = "default",
    *,
    settings: Settings | None = None,
    workspace: Workspace | None = None,
) -> Model:
    """Load a model by address (``hf:path``, ``gguf:file``, ``openai:name@url``, ``fake:``) or alias."""
    return Model.load(address, settings=settings, workspace=workspace)


__all__ = ["Model", "load"]
