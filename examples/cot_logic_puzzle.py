"""Chain-of-thought on logic puzzles, with answer extraction: direct answers against
"let's think step by step" on the same puzzles.

    python examples/cot_logic_puzzle.py                 # the bundled SmolLM2, offline, < 1 min
    python examples/cot_logic_puzzle.py --model openai:gpt-4o-mini

Each puzzle has three options; the answer letter is read from the reply with the
``choice`` strategy (an explicit "the answer is (B)" first, else option markers that all
agree). A reply it cannot read counts as a failed extraction, shown apart: it is neither
right nor wrong, and hiding it would flatter or punish a mode unfairly. The same run from
the command line:

    assay generate default "<puzzle>" --cot step --extract choice:ABC

A 135M-parameter model is near chance on these; a larger model shows the effect of
reasoning first. What stays true for every model: the comparison is paired (the same
puzzles under both modes) and every reply and extraction is printed, so you can check it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.models.facade import Model


@dataclass(frozen=True)
class Puzzle:
    question: str
    options: tuple[str, str, str]
    answer: str


PUZZLES = [
    Puzzle(
        "Anna is taller than Ben. Ben is taller than Carl. Who is the shortest?",
        ("Anna", "Ben", "Carl"),
        "C",
    ),
    Puzzle(
        "All birds in the park are pigeons. Some pigeons in the park are white. Tweety is a "
        "bird in the park. What must be true?",
        ("Tweety is white", "Tweety is a pigeon", "Tweety is not white"),
        "B",
    ),
    Puzzle(
        "A box holds only red and blue balls. There are 3 more red balls than blue balls, and "
        "7 balls in all. How many blue balls are there?",
        ("2", "3", "5"),
        "A",
    ),
    Puzzle(
        "If it rains, the match is cancelled. The match was not cancelled. What follows?",
        ("It rained", "It did not rain", "Nothing can be said"),
        "B",
    ),
    Puzzle(
        "Dora finished before Eli, and Eli finished before Finn. Who finished second?",
        ("Dora", "Eli", "Finn"),
        "B",
    ),
    Puzzle(
        "A train leaves at 9:40 and the trip takes 35 minutes. When does it arrive?",
        ("10:05", "10:15", "10:25"),
        "B",
    ),
]


def prompt_text(p: Puzzle) -> str:
    options = "\n".join(f"({letter}) {text}" for letter, text in zip("ABC", p.options, strict=True))
    return f"{p.question}\n{options}\nAnswer with the letter of the correct option."


def run_mode(
    model: Model, mode: str, puzzles: list[Puzzle], max_tokens: int
) -> list[dict[str, Any]]:
    from assay.models.types import Message, Sampling
    from assay.prompting.extract import parse_extractor
    from assay.prompting.shaping import PromptShaping

    shaping = PromptShaping(cot=mode, extractor=parse_extractor("choice:ABC"))  # type: ignore[arg-type]
    prompts = [shaping.apply([Message(role="user", content=prompt_text(p))])[0] for p in puzzles]
    gens = model.generate(prompts, Sampling(max_tokens=max_tokens))
    rows = []
    for p, g in zip(puzzles, gens, strict=True):
        got = shaping.extract(g.text)
        assert got is not None
        rows.append(
            {
                "reply": g.text,
                "answer": got.value,
                "extracted": got.ok,
                "reason": got.reason,
                "correct": got.ok and got.value == p.answer,
            }
        )
    return rows


def main(
    model: str | Model = "default",
    n: int = len(PUZZLES),
    max_tokens_off: int = 24,
    max_tokens_cot: int = 128,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run both modes on the first ``n`` puzzles; print and return the comparison."""
    import assay
    from assay.stats import mcnemar_exact

    llm = assay.load(model) if isinstance(model, str) else model
    puzzles = PUZZLES[:n]
    results = {
        "off": run_mode(llm, "off", puzzles, max_tokens_off),
        "step_by_step": run_mode(llm, "step_by_step", puzzles, max_tokens_cot),
    }
    say = (lambda *a, **k: None) if quiet else print
    for i, p in enumerate(puzzles):
        say(f"\n[{i + 1}] {p.question}  (gold: {p.answer})")
        for mode, rows in results.items():
            r = rows[i]
            mark = "right" if r["correct"] else ("wrong" if r["extracted"] else "no answer read")
            reply = " ".join(r["reply"].split())
            say(f"  {mode:<13} {mark:<15} answer={r['answer']}  | {reply[:110]}")
    summary: dict[str, Any] = {}
    say("")
    for mode, rows in results.items():
        right = sum(r["correct"] for r in rows)
        failed = sum(not r["extracted"] for r in rows)
        summary[mode] = {"accuracy": right / len(rows), "extraction_failures": failed}
        say(f"{mode:<13} accuracy {right}/{len(rows)}; extraction failed on {failed}")
    test = mcnemar_exact(
        [r["correct"] for r in results["step_by_step"]], [r["correct"] for r in results["off"]]
    )
    summary["paired"] = test.to_dict()
    say(f"step_by_step vs off: {test}")
    summary["rows"] = results
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("-n", type=int, default=len(PUZZLES), help="puzzles to use")
    args = parser.parse_args()
    main(args.model, args.n)
