"""Conversations with the fake backend (one token per word): history, budget policies, the
running summary, resume by id, export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import assay
from assay.errors import ConfigError, ContextLengthError, UserError
from assay.models.fake import scripted
from assay.models.types import Sampling
from assay.prompting.conversation import Conversation
from assay.prompting.conversation_store import list_conversations, tool_calls
from assay.prompting.summary import SUMMARY_SYSTEM, ConversationSummary, summary_text

SAMPLING = Sampling(max_tokens=10)


def replier(summaries: list[str] | None = None) -> Callable[[str], str]:
    """Chat turns get 'reply N'; summary requests get the next scripted JSON."""
    state = {"chat": 0, "summary": 0}

    def reply(prompt: str) -> str:
        if SUMMARY_SYSTEM in prompt:
            assert summaries is not None
            text = summaries[min(state["summary"], len(summaries) - 1)]
            state["summary"] += 1
            return text
        state["chat"] += 1
        return f"reply {state['chat']}"

    return reply


def test_history_is_stored_and_resumed_by_id() -> None:
    model = scripted([replier()])
    conv = Conversation(model, system="Be brief.", sampling=SAMPLING)
    assert conv.say("hello there") == "reply 1"
    assert conv.say("and again") == "reply 2"
    assert [t.role for t in conv.history] == ["user", "assistant", "user", "assistant"]
    assert conv.history[0].tokens == 2

    again = Conversation.resume(conv.id[:9], model)
    assert again.id == conv.id and again.system == "Be brief."
    assert [t.content for t in again.history] == ["hello there", "reply 1", "and again", "reply 2"]
    again.say("third")
    window = again.last_window
    assert window is not None and window.dropped == 0
    assert window.messages[0].content == "Be brief."
    assert window.messages[-1].content == "third"
    [(stored, first)] = list_conversations(model.workspace)
    assert stored.n_turns == 6 and first == "hello there"


def test_drop_oldest_keeps_system_and_pinned_facts() -> None:
    model = scripted([replier()])
    # 40 tokens of context, 10 kept for the reply: the prompt may use 30.
    conv = Conversation(model, system="Sys.", sampling=SAMPLING, max_context=40)
    conv.pin("The dog is called Rex.")
    for i in range(5):
        conv.say(f"message number {i} with some words")
        window = conv.last_window
        assert window is not None and window.tokens <= 30
        assert window.messages[0].role == "system" and "Rex" in window.messages[0].content
        assert window.messages[1].role == "user"  # a user turn and its reply leave together
        assert window.messages[-1].content == f"message number {i} with some words"
    assert conv.last_window is not None and conv.last_window.dropped >= 4
    assert len(conv.history) == 10  # nothing is deleted from the history


def test_a_message_that_cannot_fit_says_by_how_much_and_the_session_goes_on() -> None:
    model = scripted([replier()])
    conv = Conversation(model, sampling=SAMPLING, max_context=30)
    with pytest.raises(ContextLengthError) as info:
        conv.say(" ".join(["word"] * 40))
    assert "more than the model's context of 30" in info.value.message
    assert conv.history == []
    assert conv.say("short") == "reply 1"


def test_summary_policy_folds_in_turns_only_as_they_leave_the_window() -> None:
    summaries = [
        json.dumps({"topic": "pets", "facts": ["Rex is a dog"] * 2, "open_questions": []}),
        "not json at all",  # a failed update keeps the previous summary
        "still not json",
        "nope",
        json.dumps({"topic": "pets", "facts": ["Rex is a dog", "Rex is 3"], "open_questions": []}),
    ]
    calls: list[str] = []
    reply = replier(summaries)

    def counting(prompt: str) -> str:
        calls.append("summary" if SUMMARY_SYSTEM in prompt else "chat")
        return reply(prompt)

    model = scripted([counting])
    conv = Conversation(model, policy="summary", sampling=SAMPLING, max_context=40)
    folds: list[tuple[int, ...]] = []  # the turns each update folded in
    update_summary = conv.update_summary

    def recording(exchange, *, through=None):  # type: ignore[no-untyped-def]
        folds.append(tuple(range(through - len(exchange) + 1, through + 1)))
        return update_summary(exchange, through=through)

    conv.update_summary = recording  # type: ignore[method-assign]
    conv.say("my dog is called Rex")
    # Everything still fits: no summary call, no summary.
    assert calls == ["chat"] and conv.summary is None and conv.summarised_through == 0
    conv.say("he likes long walks in the park every day")
    assert calls == ["chat", "chat"]
    conv.say("he is three years old now and healthy")
    window = conv.last_window
    assert window is not None and window.dropped > 0 and window.summarised
    # The first exchange left the window: folded in before the reply that needed the room.
    assert calls[-1] == "chat" and folds and folds[0][0] == 1
    assert isinstance(conv.summary, ConversationSummary) and conv.summary.facts == ["Rex is a dog"]
    assert "Summary of the earlier conversation" in window.messages[0].content
    assert "- Rex is a dog" in window.messages[0].content
    assert conv.summarised_through == window.dropped  # turns 1..dropped, numbered from 1
    for i in range(3):
        conv.say(f"message {i} about walks")
    # Each stored turn is folded in exactly once, in order, and only once it has left.
    folded = [seq for fold in folds for seq in fold]
    assert folded == list(range(1, conv.summarised_through + 1))
    assert conv.summarised_through == conv.last_window.dropped  # type: ignore[union-attr]
    update = conv.last_summary_update
    assert update is not None
    resumed = Conversation.resume(conv.id, model)
    assert resumed.summary == conv.summary and resumed.policy == "summary"
    assert resumed.summarised_through == conv.summarised_through


def test_a_failed_summary_update_keeps_the_previous_summary_and_says_so() -> None:
    summaries = [
        json.dumps({"topic": "pets", "facts": ["Rex is a dog"], "open_questions": []}),
        "not json at all",
    ]
    model = scripted([replier(summaries)])
    conv = Conversation(model, policy="summary", sampling=SAMPLING, max_context=40)
    while conv.summary is None:
        conv.say("a message of several words here")
    through = conv.summarised_through
    while conv.summarised_through == through:
        conv.say("another message of several words")
    update = conv.last_summary_update
    assert update is not None and not update.ok and update.errors
    assert conv.summary.facts == ["Rex is a dog"]


def test_export_json_and_markdown(tmp_path: Path) -> None:
    model = scripted([replier()])
    conv = Conversation(model, system="S", sampling=SAMPLING)
    conv.pin("fact one")
    conv.say("hi")
    data = json.loads(conv.export(tmp_path / "c.json"))
    assert data == json.loads((tmp_path / "c.json").read_text())
    assert data["pinned"] == ["fact one"] and len(data["turns"]) == 2
    md = conv.export(tmp_path / "c.md")
    assert md.startswith(f"# Conversation {conv.id}") and "### Assistant" in md
    assert "- fact one" in md
    with pytest.raises(UserError, match="cannot export"):
        conv.export(tmp_path / "c.txt")


def test_bad_input() -> None:
    model = scripted([replier()])
    with pytest.raises(ConfigError, match="unknown conversation policy"):
        Conversation(model, policy="forget-all")
    conv = Conversation(model)
    with pytest.raises(ConfigError):
        conv.say("   ")
    with pytest.raises(UserError, match="no conversation 'conv-nope'"):
        Conversation.resume("conv-nope", model)


def test_public_api_and_summary_text() -> None:
    assert assay.Conversation is Conversation
    text = summary_text(ConversationSummary(topic="t", facts=["a", "b"], open_questions=[]))
    assert text == "Topic: t\nFacts:\n- a\n- b"


def test_a_summary_too_long_for_the_budget_is_left_out_before_failing() -> None:
    summary = json.dumps({"topic": "t", "facts": ["word " * 12], "open_questions": []})
    model = scripted([replier([summary])])
    conv = Conversation(model, policy="summary", sampling=SAMPLING, max_context=40)
    conv.say("one two three four five six")
    window = conv.window(" ".join(["new"] * 20))
    assert window.dropped == 2 and not window.summarised and window.tokens <= 30


def test_tools_inside_a_conversation_are_logged_under_its_id() -> None:
    def boom(city: str) -> str:
        """Look up the weather (always fails here)."""
        raise RuntimeError(f"no weather service for {city}")

    model = scripted(
        [
            json.dumps({"tool": "boom", "arguments": {"city": "Oslo"}}),
            json.dumps({"tool": "answer", "answer": "I could not look it up."}),
            "plain reply",
        ]
    )
    conv = Conversation(model, sampling=SAMPLING)
    run = conv.say_with_tools("Weather in Oslo?", [boom], max_steps=3)
    assert run.answer == "I could not look it up."
    assert run.calls[0].error == "RuntimeError: no weather service for Oslo"
    [logged] = tool_calls(model.workspace, run.run_id)
    assert logged["conversation_id"] == conv.id and logged["error"].startswith("RuntimeError")
    assert [t.content for t in conv.history] == ["Weather in Oslo?", "I could not look it up."]
    assert conv.say("thanks") == "plain reply"  # the session goes on


def test_a_summary_update_reads_a_bounded_part_of_a_long_reply() -> None:
    long_reply = " ".join(f"word{i}" for i in range(1500))
    summary = json.dumps({"topic": "t", "facts": ["f"], "open_questions": []})
    prompts: list[str] = []

    def reply(prompt: str) -> str:
        if SUMMARY_SYSTEM in prompt:
            prompts.append(prompt)
            return summary
        return long_reply

    model = scripted([reply])
    conv = Conversation(
        model, policy="summary", sampling=Sampling(max_tokens=1600), max_context=1650
    )
    conv.say("tell me everything")
    conv.say("and then?")  # the long exchange leaves the window: folded in now
    assert conv.summary is not None and conv.summary.facts == ["f"]
    [prompt] = prompts
    # the fake backend counts a token per word: the update's prompt no longer grows with the reply
    assert len(prompt.split()) < 400 and "word0 word1" in prompt and "word1499" not in prompt


def test_a_backend_that_decodes_under_the_schema_is_not_asked_twice() -> None:
    model = scripted([replier(["not json", json.dumps({"topic": "t"})])])
    model.backend.constrains_json_schema = True  # type: ignore[attr-defined]
    conv = Conversation(model, policy="summary", sampling=SAMPLING, max_context=40)
    while conv.last_summary_update is None:
        conv.say("hello there, a message of several words")
    update = conv.last_summary_update
    assert update is not None and not update.ok and update.attempts == 1


def test_a_summary_stored_before_lazy_folding_counts_as_covering_every_turn() -> None:
    from assay.prompting import conversation_store as store

    model = scripted([replier()])
    conv = Conversation(model, policy="summary", sampling=SAMPLING)
    conv.say("one")
    conv.say("two")
    store.update(
        model.workspace, conv.id, summary={"topic": "t", "facts": [], "open_questions": []}
    )
    with model.workspace.transaction() as db:  # the database as it was before migration 050
        db.execute("ALTER TABLE conversations DROP COLUMN summary_through")
        db.execute("DELETE FROM _migrations WHERE name = '050_conversation_summary_through'")
    assert "050_conversation_summary_through" in model.workspace.migrate()
    assert Conversation.resume(conv.id, model).summarised_through == 4
