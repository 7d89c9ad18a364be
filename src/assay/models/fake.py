"""A scripted backend for tests and dry runs, addressed like any other model.

``fake:`` echoes the prompt. ``fake:path/to/script.yaml`` (or ``.json``) replays a script::

    replies:                 # used in order; the last one repeats
      - "The answer is 42."
      - {error: 429, retry_after: 0}   # raise a transient error once (tests retries)
    delay_s: 0.1             # sleep per request (tests progress bars and kills mid-run)
    loglikelihoods:          # continuation -> log-probability (default: -1 per token)
      " yes": -0.5
    context_length: 2048

In Python, build one directly: ``FakeBackend(replies=[...])`` or ``scripted([...])`` for a ready
:class:`~assay.models.facade.Model`. Replies may be callables ``prompt_text -> reply``.
Tokens are whitespace-separated words, so counts are easy to predict in tests.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.config_errors import explain, valid_keys, yaml_key_lines, yaml_problem
from assay.errors import InvalidModelFileError, ModelNotFoundError, TransientBackendError
from assay.models.capabilities import Capabilities
from assay.models.protocol import OnFinished, apply_stop, render_plain_chat
from assay.models.types import (
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    Message,
    ModelInfo,
    RollingLoglikelihood,
    TokenScore,
    stable_hash,
)

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.models.registry import BackendContext

Reply = str | dict[str, Any] | Callable[[str], str]


class FakeBackend:
    provider = "fake"

    def __init__(
        self,
        replies: Sequence[Reply] = (),
        loglikelihoods: dict[str, float] | None = None,
        context_length: int = 2048,
        name: str = "",
        delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self.delay_s = delay_s
        self.replies = list(replies)
        self.loglikelihoods = dict(loglikelihoods or {})
        self._context_length = context_length
        self._next = 0
        self.seen: list[str] = []
        """Every prompt text the backend was asked to generate for, in order (for assertions)."""
        self.requests: list[GenerateRequest] = []
        """Every generate request, in order: sampling settings included (a ``json_schema`` is
        recorded but not followed: replies are scripted)."""

    # -- identity ------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        script = [r if not callable(r) else getattr(r, "__name__", "fn") for r in self.replies]
        return "fake:" + stable_hash({"replies": script, "ll": self.loglikelihoods})[:16]

    def context_length(self) -> int | None:
        return self._context_length

    def info(self) -> ModelInfo:
        return ModelInfo(
            address=f"fake:{self.name}",
            provider="fake",
            name=self.name or "echo",
            fingerprint=self.fingerprint(),
            context_length=self._context_length,
            chat_template=False,
            # Without scripted log-likelihoods its scores are placeholders (-1 per word).
            supports_loglikelihood=self.capabilities.loglikelihood,
            details={"replies": len(self.replies)},
        )

    # -- text ----------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        return render_plain_chat(messages, add_generation_prompt)

    def _text(self, request: GenerateRequest) -> str:
        p = request.prompt
        return p if isinstance(p, str) else self.render_chat(p)

    def _reply(self, prompt_text: str) -> str:
        if not self.replies:
            return "echo: " + prompt_text
        reply = self.replies[min(self._next, len(self.replies) - 1)]
        self._next += 1
        if isinstance(reply, dict):
            if "error" in reply:
                raise TransientBackendError(
                    f"scripted error {reply['error']}", retry_after=reply.get("retry_after")
                )
            return str(reply.get("text", ""))
        return reply(prompt_text) if callable(reply) else reply

    constrains_json_schema = False
    """Set by a test to act as a backend that decodes under the schema."""

    @property
    def capabilities(self) -> Capabilities:
        """What the script allows: log-likelihoods when scripted, constrained decoding when a
        test says so, prompt scores unless a test's subclass takes ``prompt_logprobs`` away."""
        return Capabilities(
            loglikelihood=bool(self.loglikelihoods),
            prompt_logprobs=callable(getattr(self, "prompt_logprobs", None)),
            constrained_decoding=self.constrains_json_schema,
            reports_finished=True,
        )

    def generate(
        self,
        requests: Sequence[GenerateRequest],
        on_finished: OnFinished | None = None,
    ) -> list[Generation]:
        out: list[Generation] = []
        for req in requests:
            text = self._text(req)
            self.seen.append(text)
            self.requests.append(req)
            if self.delay_s:
                time.sleep(self.delay_s)
            reply = self._reply(text)
            words = reply.split(" ")
            truncated = len(words) > req.sampling.max_tokens
            reply = " ".join(words[: req.sampling.max_tokens])
            reply, stopped = apply_stop(reply, req.sampling.stop)
            out.append(
                Generation(
                    text=reply,
                    prompt_tokens=self.count_tokens(text),
                    completion_tokens=self.count_tokens(reply),
                    finish_reason="length" if truncated and not stopped else "stop",
                )
            )
            if on_finished is not None:
                on_finished(len(out) - 1, out[-1])
        return out

    def stream(self, request: GenerateRequest) -> Iterator[str]:
        text = self.generate([request])[0].text
        for i, word in enumerate(text.split(" ")):
            yield word if i == 0 else " " + word

    # -- scoring -------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        out = []
        for r in requests:
            n = max(1, self.count_tokens(r.continuation))
            lp = self.loglikelihoods.get(r.continuation, -float(n))
            out.append(
                Loglikelihood(
                    logprob=lp,
                    is_greedy=lp == 0.0,
                    n_tokens=n,
                    context_tokens=self.count_tokens(r.context),
                )
            )
        return out

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingLoglikelihood]:
        return [
            RollingLoglikelihood(
                logprob=-float(self.count_tokens(t)), n_tokens=self.count_tokens(t)
            )
            for t in texts
        ]

    def prompt_logprobs(self, texts: Sequence[str], top: int = 1) -> list[list[TokenScore]]:
        """Score prompts token by token: each word is a token at -1.0, the first unscored."""
        out = []
        for text in texts:
            words = list(re.finditer(r"\S+", text))
            out.append(
                [
                    TokenScore(
                        token=w.group(),
                        offset=w.start(),
                        logprob=None if i == 0 else -1.0,
                        top={} if i == 0 or top <= 0 else {w.group(): -1.0},
                    )
                    for i, w in enumerate(words)
                ]
            )
        return out


def _read_script(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidModelFileError(
            yaml_problem(str(path), exc), hint="a fake-model script is a mapping with 'replies'"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidModelFileError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, ValueError) as exc:
        raise InvalidModelFileError(f"{path}: not a readable fake-model script ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidModelFileError(f"{path}: a fake-model script is a mapping with 'replies'")
    return data


def load(name: str, ctx: BackendContext) -> FakeBackend:
    if not name or name == "echo":
        return FakeBackend(name="echo")
    path = Path(name).expanduser()
    if not path.exists():
        raise ModelNotFoundError(
            f"fake model script '{name}' does not exist",
            hint="use 'fake:' for an echo model or 'fake:script.yaml' with a list of replies",
        )
    text_lines: dict[str, int] = {}
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text_lines = yaml_key_lines(path.read_text(encoding="utf-8"))
    try:
        script = FakeScript.model_validate(_read_script(path))
    except ValidationError as exc:
        err = explain(exc, str(path), valid_keys(FakeScript), text_lines)
        raise InvalidModelFileError(err.message, hint=err.hint) from None
    return FakeBackend(
        replies=script.replies,
        loglikelihoods=script.loglikelihoods,
        context_length=script.context_length,
        name=name,
        delay_s=script.delay_s,
    )


class FakeScript(BaseModel):
    """What a ``fake:script.yaml`` may hold (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    replies: list[str | dict[str, Any]] = []
    loglikelihoods: dict[str, float] | None = None
    context_length: int = Field(2048, gt=0)
    delay_s: float = Field(0.0, ge=0)


def scripted(replies: Sequence[Reply] = (), **kwargs: Any) -> Model:
    """A ready ``Model`` around a ``FakeBackend`` (uses the current workspace and settings)."""
    from assay.config import load_settings
    from assay.models.facade import Model
    from assay.workspace import Workspace

    workspace = Workspace.find()
    backend = FakeBackend(replies=replies, **kwargs)
    return Model(
        backend,
        address=f"fake:{backend.name}",
        settings=load_settings(workspace.config_path),
        workspace=workspace,
    )


__all__ = ["FakeBackend", "load", "scripted"]
