"""The main job, ``assay quickstart``: a tour that runs offline on the bundled defaults.

It is a list of small steps run in order. Each step reads and writes a shared ``Tour`` (the
model address, the workspace, results of earlier steps) and prints what it did. Later parts of
assay add their own steps to ``STEPS`` (evaluate prompting strategies, finetune a baseline,
answer from documents, compare with paired statistics, write a report).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from assay.config import Settings
from assay.workspace import Workspace

QUESTION = (
    "In two sentences, explain why ice floats on liquid water."
)


@dataclass
class Tour:
    model: str
    workspace: Workspace
    settings: Settings
    results: dict[str, Any] = field(default_factory=dict)

    def say(self, text: str = "", **style: Any) -> None:
        click.secho(text, **style)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[Tour], None]


def step_card(tour: Tour) -> None:
    from assay.models.card import model_card, render_card

    card = model_card(tour.model, settings=tour.settings, workspace=tour.workspace)
    tour.results["card"] = card
    tour.say(render_card(card))


def step_answer(tour: Tour) -> None:
    from assay.models.facade import Model

    started = time.perf_counter()
    model = Model.load(tour.model, settings=tour.settings, workspace=tour.workspace)
    tour.say(f"loaded {model.address} in {time.perf_counter() - started:.1f} s", dim=True)
    tour.say(f"Q: {QUESTION}", bold=True)
    gen = model.generate(
        [{"role": "user", "content": QUESTION}], max_tokens=96, temperature=0.0
    )[0]
    tour.say(f"A: {gen.text.strip()}")
    rate = gen.completion_tokens / gen.latency_s if gen.latency_s else float("nan")
    cached = " (from cache)" if gen.cached else ""
    tour.say(
        f"{gen.prompt_tokens} tokens in, {gen.completion_tokens} out, "
        f"{gen.latency_s:.1f} s, {rate:.0f} tokens/s{cached}; logged, see `assay log`",
        dim=True,
    )
    tour.results["answer"] = gen


STEPS: list[Step] = [
    Step("card", "The model: its card", step_card),
    Step("answer", "Ask it a scientific question", step_answer),
]


def run_tour(tour: Tour, only: set[str] | None = None, skip: set[str] | None = None) -> None:
    chosen = [s for s in STEPS if (not only or s.name in only) and s.name not in (skip or set())]
    for i, step in enumerate(chosen, 1):
        tour.say(f"\n[{i}/{len(chosen)}] {step.title}", bold=True, fg="cyan")
        started = time.perf_counter()
        step.run(tour)
        tour.say(f"({step.name}: {time.perf_counter() - started:.1f} s)", dim=True)
