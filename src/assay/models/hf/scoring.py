"""Log-likelihoods (lm-evaluation-harness semantics), rolling log-likelihoods and prompt-token
log-probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from assay.errors import ContextLengthError
from assay.models.hf.shared_context import SharedContext
from assay.models.types import (
    Loglikelihood,
    LoglikelihoodRequest,
    RollingLoglikelihood,
    TokenDistributions,
    TokenScore,
)
from assay.models.windows import rolling_windows


class Scoring(SharedContext):
    """The scoring side of the backend's protocol."""

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

    def token_distributions(self, texts: Sequence[str]) -> list[TokenDistributions]:
        """Each text's token log-probabilities with the mean and standard deviation of the
        next-token log-probability under the model at each position (see
        :class:`~assay.models.types.TokenDistributions`), from one pass over its logits."""
        encoded = []
        for text in texts:
            ids = list(self.tokenizer(text, **self._special_kwargs(text))["input_ids"])
            if self._context is not None and len(ids) > self._context:
                raise ContextLengthError(len(ids), self._context)
            encoded.append(ids)
        out = [TokenDistributions(logprobs=[], means=[], stds=[]) for _ in texts]
        with self._lock:
            for i, logits in self._logits(encoded):
                ids = encoded[i]
                logprobs = torch.log_softmax(logits[: len(ids) - 1].double(), dim=-1)
                probs = logprobs.exp()
                mean = (probs * logprobs).sum(-1)
                var = (probs * (logprobs - mean[:, None]) ** 2).sum(-1)
                target = torch.tensor(ids[1:], dtype=torch.long)
                out[i] = TokenDistributions(
                    logprobs=logprobs.gather(-1, target[:, None])[:, 0].tolist(),
                    means=mean.tolist(),
                    stds=var.clamp_min(0).sqrt().tolist(),
                )
        return out
