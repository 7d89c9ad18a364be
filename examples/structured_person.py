"""Structured output: a person's details from a paragraph, as a validated pydantic object.

    python examples/structured_person.py                  # bundled SmolLM2, under a minute
    python examples/structured_person.py --model openai:gpt-4o-mini

Each paragraph is sent with the ``Person`` schema. Local models decode under the schema
(every answer parses and validates); API models get it as ``response_format``, and an answer
that does not validate is sent back with the error and asked again. The script prints each
extraction, the number of model calls it took, and how many fields match the annotation.

The same from the command line, with the schema in a file::

    python -c "import json, structured_person as p; print(json.dumps(p.Person.model_json_schema()))" > person.json
    assay generate default "Ada Lovelace (1815-1852) was an English mathematician." --schema person.json
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from assay.models.facade import Model


class Person(BaseModel):
    name: str = Field(description="the person's full name", max_length=40)
    age: int | None = Field(None, description="age in years, if stated", ge=0, le=130)
    occupation: str = Field(description="what the person does for a living", max_length=40)
    field: Literal["science", "arts", "sports", "politics", "business", "medicine", "other"]
    city: str | None = Field(None, description="where the person lives or works", max_length=30)


PARAGRAPHS: list[tuple[str, dict[str, Any]]] = [
    (
        "Dr. Amara Okafor, 42, is a marine biologist at the University of Lagos, where she "
        "studies coral reefs off the coast of West Africa.",
        {"name": "Amara Okafor", "age": 42, "field": "science", "city": "Lagos"},
    ),
    (
        "At 29, Lucas Meyer already runs his own bakery in Hamburg; he opened it after ten "
        "years of working for others.",
        {"name": "Lucas Meyer", "age": 29, "field": "business", "city": "Hamburg"},
    ),
    (
        "The painter Sofia Rossi, who lives in Florence, turned 67 this spring and is "
        "preparing a retrospective of her landscapes.",
        {"name": "Sofia Rossi", "age": 67, "field": "arts", "city": "Florence"},
    ),
    (
        "Kenji Tanaka is a 35-year-old surgeon at a hospital in Osaka who specialises in "
        "heart transplants.",
        {"name": "Kenji Tanaka", "age": 35, "field": "medicine", "city": "Osaka"},
    ),
    (
        "Maria Gonzalez, a professional tennis player from Madrid, won her first title at the "
        "age of 19.",
        {"name": "Maria Gonzalez", "age": 19, "field": "sports", "city": "Madrid"},
    ),
    (
        "Senator James Whitfield, 58, has represented the state for two terms and is known "
        "for his work on education reform.",
        {"name": "James Whitfield", "age": 58, "field": "politics", "city": None},
    ),
]

PROMPT = "Extract the person described in this paragraph.\n\n{text}"


def matches(value: Any, gold: Any) -> bool:
    if isinstance(gold, str) and isinstance(value, str):
        return gold.lower() in value.lower()
    return bool(value == gold)


def main(
    model: Model | str = "default", *, max_tokens: int = 120, quiet: bool = False
) -> dict[str, Any]:
    from assay.models.types import Sampling
    from assay.prompting.structured import generate_structured, validity

    prompts = [PROMPT.format(text=text) for text, _ in PARAGRAPHS]
    results = generate_structured(
        model, prompts, Person, sampling=Sampling(max_tokens=max_tokens), max_attempts=3
    )
    rows = []
    correct = total = 0
    for (text, gold), result in zip(PARAGRAPHS, results, strict=True):
        value = result.json_value() or {}
        hits = {k: matches(value.get(k), v) for k, v in gold.items()}
        correct += sum(hits.values())
        total += len(hits)
        rows.append({"text": text, "value": value, "attempts": result.attempts, "hits": hits})
        if not quiet:
            mark = "valid" if result.valid else "INVALID"
            print(f"\n{text}\n  -> {value} ({mark}, {result.attempts} call(s))")
            if result.errors:
                print(f"     errors: {result.errors}")
    summary = {"validity": validity(results), "field_accuracy": correct / total, "rows": rows}
    if not quiet:
        v = summary["validity"]
        print(
            f"\n{v['valid']}/{v['prompts']} valid, {v['retries']} re-asks, "
            f"{v['constrained']} constrained; fields matching the annotation: "
            f"{correct}/{total} ({correct / total:.0%})"
        )
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="model address (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=120)
    args = parser.parse_args()
    main(args.model, max_tokens=args.max_tokens)
