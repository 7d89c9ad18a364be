"""Forward passes that score token sequences: batched by length within a logits budget, with
little padding on a CPU."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from assay.models import hf
from assay.models.hf.core import HFCore


class Passes(HFCore):
    """Right-padded forward passes over whole sequences, and the context/continuation split."""

    def _logits(
        self,
        sequences: Sequence[Sequence[int]],
        keep: Sequence[tuple[int, int]] | None = None,
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(index, float32 logits of shape [len, vocab])`` for each token sequence, or
        with ``keep`` only the positions ``keep[index] = (start, stop)`` of it.

        Sequences are sorted longest first and right padded into batches that keep the logits
        within :data:`~assay.models.hf.LOGITS_BUDGET` (and, on a CPU, the padding small, see
        :data:`~assay.models.hf.PAD_SHARE`); right padding needs no position ids (real tokens
        come first). With ``keep``, the vocabulary projection runs only at the kept positions
        (``logits_to_keep``), never at every position of every row.
        """
        vocab = self._vocab_size()
        order = sorted(
            (i for i in range(len(sequences)) if sequences[i]), key=lambda i: -len(sequences[i])
        )
        trim = keep is not None and self._takes_logits_to_keep
        start = 0
        while start < len(order):
            width = len(sequences[order[start]])
            rows = max(1, hf.LOGITS_BUDGET // max(width * vocab, 1))
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
        slack = max(hf.PAD_TOKENS, hf.PAD_SHARE * width)
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
