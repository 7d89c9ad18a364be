"""``Conversation``: a chat with a model, kept in the workspace, that fits its context.

    >>> import assay
    >>> conv = assay.Conversation(assay.load("default"), system="Be brief.", policy="summary")
    >>> conv.pin("The patient is 54 years old.")
    >>> conv.say("What is a normal resting heart rate?")
    >>> conv.id                                    # resume later: assay.Conversation.resume(id)

Every turn is stored (table ``conversation_turns``) and never deleted. What is *sent* each turn
is a window that fits the model's context, leaving ``sampling.max_tokens`` for the reply:

- the header, one system turn: the system prompt, then the pinned facts, always kept;
- the newest turns that fit, oldest dropped first, a user turn and its reply together;
- policy ``drop-oldest``: dropped turns are simply left out;
- policy ``summary``: when turns leave the window, a running summary (a pydantic object,
  :class:`~assay.prompting.summary.ConversationSummary` unless another ``summary_schema`` is
  given) folds them in by structured output, and is added to the header in their place (left
  out only if even the newest message does not fit beside it). Turns that still fit are never
  summarised, so a conversation that fits its context costs no summary calls at all; each
  stored turn is folded in once (``summarised_through`` is the last one).

If the header and the new message alone do not fit, :class:`~assay.errors.ContextLengthError`
says by how many tokens; nothing is stored for that turn, and the conversation goes on.
Tokens are counted with the model's own tokenizer on the rendered chat.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel

from assay.errors import ConfigError, ContextLengthError
from assay.models.image_prompts import check_images
from assay.models.image_store import save_image, stored_image
from assay.models.images import Image, as_images
from assay.models.types import Message, Sampling
from assay.prompting import conversation_store as store
from assay.prompting.summary import ConversationSummary, SummaryUpdate, summary_text, update_summary

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.prompting.tools import ToolRun
    from assay.workspace import Workspace

Policy = Literal["drop-oldest", "summary"]
POLICIES: tuple[str, ...] = get_args(Policy)


@dataclass(frozen=True)
class Turn:
    seq: int
    role: str
    content: str
    tokens: int
    ts: str = ""
    images: tuple[Image, ...] = ()

    def message(self) -> Message:
        return Message(role=self.role, content=self.content, images=self.images)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Window:
    """What is sent for one turn."""

    messages: list[Message]
    tokens: int
    """Prompt tokens of the rendered chat."""
    budget: int | None
    """Tokens the prompt may use (context minus room for the reply); None: no limit known."""
    dropped: int
    """Stored turns left out of this prompt."""
    summarised: bool
    """Whether the running summary stands in for the dropped turns."""


def check_policy(policy: str) -> Policy:
    if policy not in POLICIES:
        raise ConfigError(
            f"unknown conversation policy '{policy}'", hint=f"choose from: {', '.join(POLICIES)}"
        )
    return policy  # type: ignore[return-value]


class Conversation:
    def __init__(
        self,
        model: Model,
        *,
        system: str | None = None,
        policy: str = "drop-oldest",
        pinned: Sequence[str] = (),
        sampling: Sampling | None = None,
        summary_schema: type[BaseModel] = ConversationSummary,
        max_context: int | None = None,
        summary_sampling: Sampling | None = None,
        _id: str | None = None,
    ) -> None:
        self.model = model
        self.system = system
        self.policy: Policy = check_policy(policy)
        self.pinned: list[str] = list(pinned)
        self.sampling = sampling or Sampling()
        self.summary_schema = summary_schema
        self.summary: BaseModel | None = None
        self.summarised_through = 0
        """Sequence number of the last turn folded into the summary (0: none yet)."""
        self.summary_sampling = summary_sampling
        """Decoding of summary updates (default: greedy, 320 new tokens at most)."""
        self.max_context = max_context
        """Tokens of context to use; default the model's (a smaller one tests the policies)."""
        self.turns: list[Turn] = []
        self.last_summary_update: SummaryUpdate | None = None
        self.last_window: Window | None = None
        self.created = ""
        if _id is None:
            self.id = store.new_id()
            store.create(
                self.workspace,
                self.id,
                model=model.address,
                system=system,
                policy=self.policy,
                pinned=self.pinned,
                sampling=self.sampling.model_dump(mode="json"),
            )
        else:
            self.id = _id

    # -- persistence ---------------------------------------------------------------------------
    @property
    def workspace(self) -> Workspace:
        return self.model.workspace

    @classmethod
    def resume(
        cls,
        conversation_id: str,
        model: Model | str | None = None,
        *,
        workspace: Workspace | None = None,
        summary_schema: type[BaseModel] = ConversationSummary,
        max_context: int | None = None,
    ) -> Conversation:
        """A stored conversation, by id (or a unique prefix), with the model it used unless
        another is given."""
        from assay.models.facade import Model
        from assay.workspace import Workspace

        ws = workspace or (model.workspace if isinstance(model, Model) else Workspace.find())
        stored, turns = store.load(ws, conversation_id)
        if not isinstance(model, Model):
            model = Model.load(model or stored.model, workspace=ws)
        conv = cls(
            model,
            system=stored.system,
            policy=stored.policy,
            pinned=stored.pinned,
            sampling=Sampling.model_validate(stored.sampling),
            summary_schema=summary_schema,
            max_context=max_context,
            _id=stored.id,
        )
        conv.created = stored.created
        conv.turns = [
            Turn(
                t.seq,
                t.role,
                t.content,
                t.tokens,
                t.ts,
                tuple(stored_image(ws, sha) for sha in t.images),
            )
            for t in turns
        ]
        if stored.summary is not None:
            conv.summary = summary_schema.model_validate(stored.summary)
        conv.summarised_through = stored.summary_through
        return conv

    def pin(self, fact: str) -> None:
        """Keep ``fact`` in every prompt of this conversation, whatever the budget."""
        fact = fact.strip()
        if not fact:
            raise ConfigError("a pinned fact cannot be empty")
        if fact not in self.pinned:
            self.pinned.append(fact)
            store.update(self.workspace, self.id, pinned=self.pinned)

    def set_policy(self, policy: str) -> None:
        self.policy = check_policy(policy)
        store.update(self.workspace, self.id, policy=self.policy)

    # -- the prompt ----------------------------------------------------------------------------
    @property
    def context_budget(self) -> int | None:
        limit = self.max_context or self.model.context_length
        return None if limit is None else limit - self.sampling.max_tokens

    def _header(self, with_summary: bool) -> list[Message]:
        parts = [self.system] if self.system else []
        if self.pinned:
            parts.append("Facts to keep in mind:\n" + "\n".join(f"- {f}" for f in self.pinned))
        if with_summary and self.summary is not None:
            parts.append("Summary of the earlier conversation:\n" + summary_text(self.summary))
        return [Message(role="system", content="\n\n".join(parts))] if parts else []

    def _count(self, messages: Sequence[Message]) -> int:
        return self.model.count_tokens(self.model.render_chat(list(messages)))

    def window(self, new_message: str | None = None, images: Sequence[Image] = ()) -> Window:
        """The messages to send: header, newest turns that fit, and ``new_message`` (with
        ``images``). A turn's images stay with it while it is in the window."""
        turns = [t.message() for t in self.turns]
        if new_message is not None:
            turns.append(Message(role="user", content=new_message, images=tuple(images)))
        budget = self.context_budget
        start = 0
        while True:
            summarised = self.policy == "summary" and start > 0 and self.summary is not None
            messages = [*self._header(summarised), *turns[start:]]
            tokens = self._count(messages)
            if budget is None or tokens <= budget:
                return Window(messages, tokens, budget, start, summarised)
            if start >= len(turns) - 1:
                if summarised:
                    # The summary itself has outgrown the budget: send the turn without it.
                    bare = [*self._header(False), *turns[start:]]
                    bare_tokens = self._count(bare)
                    if bare_tokens <= budget:
                        return Window(bare, bare_tokens, budget, start, False)
                    tokens = bare_tokens
                limit = budget + self.sampling.max_tokens
                raise ContextLengthError(
                    tokens + self.sampling.max_tokens,
                    limit,
                    what=(
                        "the new message with the system prompt and pinned facts, plus "
                        f"{self.sampling.max_tokens} tokens for the reply,"
                    ),
                )
            # Drop a user turn together with the reply to it, so the window starts with a user.
            start += 1
            while start < len(turns) - 1 and turns[start].role != "user":
                start += 1

    # -- talking -------------------------------------------------------------------------------
    def say(
        self, text: str, sampling: Sampling | None = None, *, images: Sequence[Any] = ()
    ) -> str:
        """Send ``text`` (with ``images``: paths, bytes or :class:`Image`), store it and the
        reply, update the summary; returns the reply."""
        shown = as_images(images)
        window = self._prepare(text, shown)
        reply = self.model.generate([window.messages], sampling or self.sampling)[0].text
        return self._finish(text, reply, shown)

    def stream(
        self, text: str, sampling: Sampling | None = None, *, images: Sequence[Any] = ()
    ) -> Iterator[str]:
        """Like :meth:`say`, yielding the reply as it is decoded; stored once complete."""
        shown = as_images(images)
        window = self._prepare(text, shown)
        pieces: list[str] = []
        for piece in self.model.stream(window.messages, sampling or self.sampling):
            pieces.append(piece)
            yield piece
        self._finish(text, "".join(pieces), shown)

    def say_with_tools(
        self,
        text: str,
        tools: Sequence[Any],
        *,
        max_steps: int = 5,
        sampling: Sampling | None = None,
    ) -> ToolRun:
        """Like :meth:`say`, letting the model call ``tools`` first (:func:`run_tools`).

        The calls are logged under this conversation's id; the user turn and the final answer
        are stored as turns (the intermediate calls live in the run and the ``tool_calls`` table).
        """
        from assay.prompting.tools import run_tools

        window = self._prepare(text)
        run = run_tools(
            self.model,
            window.messages,
            tools,
            max_steps=max_steps,
            sampling=sampling or self.sampling,
            conversation_id=self.id,
        )
        self._finish(text, run.answer or "")
        return run

    def _prepare(self, text: str, images: Sequence[Image] = ()) -> Window:
        if not text.strip():
            raise ConfigError("the message is empty")
        if images:
            # Refused before anything is stored, as a model call would be.
            check_images(
                (Message(role="user", content=text, images=tuple(images)),),
                self.model.backend,
                self.model.address,
            )
        window = self.window(text, images)
        if self.policy == "summary":
            # Fold in the turns that have just left the window; the summary then takes room in
            # the header, which may push more turns out, so repeat until nothing new leaves.
            while True:
                leaving = [
                    t for t in self.turns[: window.dropped] if t.seq > self.summarised_through
                ]
                if not leaving:
                    break
                self.update_summary([t.message() for t in leaving], through=leaving[-1].seq)
                window = self.window(text, images)
        self.last_window = window
        return window

    def _add(self, role: str, content: str, images: Sequence[Image] = ()) -> Turn:
        seq = self.turns[-1].seq + 1 if self.turns else 1
        tokens = self.model.count_tokens(content) if content else 0
        kept = [save_image(self.workspace, image) for image in images]
        ts = store.add_turn(self.workspace, self.id, seq, role, content, tokens, kept)
        turn = Turn(seq, role, content, tokens, ts, tuple(images))
        self.turns.append(turn)
        return turn

    def _finish(self, text: str, reply: str, images: Sequence[Image] = ()) -> str:
        reply = reply.strip()
        self._add("user", text, images)
        self._add("assistant", reply)
        return reply

    def update_summary(
        self, exchange: Sequence[Message], *, through: int | None = None
    ) -> SummaryUpdate:
        """Fold ``exchange`` into the running summary (stored; kept as it was on failure).

        ``through``: the last stored turn ``exchange`` covers. It counts as folded even when the
        update fails (the failure is in :attr:`last_summary_update`), so a model that cannot
        summarise costs one failed call per turn that leaves, not one per reply.
        """
        update = update_summary(
            self.model,
            self.summary,
            exchange,
            self.summary_schema,
            sampling=self.summary_sampling,
        )
        self.last_summary_update = update
        fields: dict[str, Any] = {}
        if through is not None:
            self.summarised_through = fields["summary_through"] = through
        if update.ok and update.summary is not None:
            self.summary = update.summary
            fields["summary"] = self.summary.model_dump(mode="json")
        if fields:
            store.update(self.workspace, self.id, **fields)
        return update

    def reset(self) -> None:
        """Forget the turns for the prompt: a new conversation with the same settings."""
        fresh = Conversation(
            self.model,
            system=self.system,
            policy=self.policy,
            pinned=self.pinned,
            sampling=self.sampling,
            summary_schema=self.summary_schema,
            max_context=self.max_context,
            summary_sampling=self.summary_sampling,
        )
        self.__dict__.update(fresh.__dict__)

    # -- export --------------------------------------------------------------------------------
    @property
    def history(self) -> list[Turn]:
        return list(self.turns)

    def to_dict(self) -> dict[str, Any]:
        from assay.prompting.conversation_export import conversation_dict

        return conversation_dict(self)

    def export(self, path: str | Path | None = None, fmt: str | None = None) -> str:
        """JSON or Markdown text of the whole conversation; written to ``path`` if given
        (format from the suffix: ``.json`` or ``.md``)."""
        from assay.prompting.conversation_export import export

        return export(self, path, fmt)


__all__ = ["POLICIES", "Conversation", "Policy", "Turn", "Window", "check_policy"]
