"""Scoring choices that share a context with one pass over it, and a prefix every context starts
with run once and kept (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

from assay.models import hf
from assay.models.hf.passes import Passes


def _rows_over(layers: list[tuple[torch.Tensor, torch.Tensor]], rows: int) -> DynamicCache:
    """A cache holding one row's ``layers`` as ``rows`` rows (views; a pass appends copies)."""
    return DynamicCache(
        [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in layers]
    )


class SharedContext(Passes):
    """Context caches: shared by the continuations of one context, and a prefix kept between calls."""

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
                order[start : start + max(1, hf.LOGITS_BUDGET // max(width * vocab, 1))],
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
                hf.LOGITS_BUDGET // max(n_in * vocab, 1),
                int(hf.CACHE_BUDGET // max((width + n_in) * per_position, 1)),
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
