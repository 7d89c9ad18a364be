"""A conversation that outgrows its context, kept on track by a running summary.

    python examples/conversation_summary.py            # bundled SmolLM2, offline, about a minute
    assay chat default --policy summary --pin "..."    # the same, interactively

A researcher plans a study with the model over several turns. The context is deliberately
small (``--context 256`` tokens), so older turns stop fitting. With policy ``summary`` the
conversation keeps a running summary, a pydantic object (topic, facts, open questions)
updated by structured output as turns leave the window (constrained decoding on local models, so it
always parses), and sends it in place of the turns that were left out. The pinned fact and
the system prompt are in every prompt, whatever the budget. Everything is stored in the
workspace: the example ends by printing the id, and ``assay chat show ID`` or
``assay chat export ID -o talk.md`` shows the whole history.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.models.facade import Model

TURNS = [
    "I am planning a study of sleep and exam results in 200 first-year students.",
    "We will measure sleep with wrist trackers for two weeks before the exams.",
    "Should we also record caffeine intake? Students drink a lot of coffee in exam weeks.",
    "Remind me: how many students, and what do we measure?",
]


def main(
    model: str | Model = "default",
    context: int = 256,
    max_tokens: int = 40,
    turns: list[str] | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Talk through ``turns`` under the summary policy; print each window and summary."""
    import assay
    from assay.models.types import Sampling
    from assay.prompting.summary import summary_text

    llm = assay.load(model) if isinstance(model, str) else model
    conv = assay.Conversation(
        llm,
        system="You are a concise research-methods adviser.",
        policy="summary",
        sampling=Sampling(max_tokens=max_tokens),
        max_context=context,
        summary_sampling=Sampling(max_tokens=200),
    )
    conv.pin("Ethics approval is still pending.")
    say = (lambda *a, **k: None) if quiet else print
    windows = []
    for text in turns or TURNS:
        reply = conv.say(text)
        w = conv.last_window
        assert w is not None
        windows.append({"tokens": w.tokens, "dropped": w.dropped, "summarised": w.summarised})
        say(f"\nyou> {text}\nmodel> {reply}", flush=True)
        note = f", {w.dropped} older turns replaced by the summary" if w.summarised else ""
        say(f"  [prompt {w.tokens} of {w.budget} tokens{note}]")
        update = conv.last_summary_update
        if update is not None and not update.ok:
            say(f"  [summary kept as it was: {update.errors[-1:]}]")
    say("\nrunning summary:")
    say(summary_text(conv.summary) if conv.summary else "(none)")
    say(f"\nconversation {conv.id}: assay chat show {conv.id}")
    return {
        "id": conv.id,
        "summary": conv.summary.model_dump() if conv.summary else None,
        "windows": windows,
        "turns": len(conv.history),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--context", type=int, default=256, help="tokens of context to use")
    args = parser.parse_args()
    main(args.model, args.context)
