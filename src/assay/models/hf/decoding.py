"""Decoding: batched greedy or seeded sampling, stop sequences, JSON Schema constraints, streaming."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import (
    LogitsProcessorList,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TextIteratorStreamer,
    TopPLogitsWarper,
)

from assay.models.constrain import JsonSchemaProcessor
from assay.models.hf.device import _seeded
from assay.models.hf.shared_context import SharedContext, _rows_over
from assay.models.hf.stopping import _mapped, _RowState, _RowStopper
from assay.models.protocol import OnFinished, apply_stop
from assay.models.types import GenerateRequest, Generation, Sampling, TokenLogprob


class Decoding(SharedContext):
    """The generating side of the backend's protocol."""

    reports_finished = True
    """``generate`` reports each row as it finishes (see :mod:`assay.models.facade`)."""

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
