"""Structured output: the task, method and result of scientific abstracts (ACLSum), as objects.

    python examples/structured_abstract.py                 # bundled SmolLM2, 4 abstracts, under a minute
    python examples/structured_abstract.py -n 20 --model openai:gpt-4o-mini

The abstracts come from the ``aclsum`` package (ACL papers, each annotated with a one-sentence
"challenge", "approach" and "outcome" summary). Each abstract is sent with the ``Findings``
schema; local models decode under it, so every answer is a valid object. The script prints each
extraction next to the annotation, and the share of annotation words each field recovers (a
rough recall, enough to compare models or prompts, not a quality measure).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from assay.models.facade import Model


class Findings(BaseModel):
    task: str = Field(description="the problem the paper addresses", max_length=150)
    method: str = Field(description="what the authors propose or do", max_length=150)
    result: str = Field(description="the main finding", max_length=150)


FIELDS = {"task": "challenge", "method": "approach", "result": "outcome"}
PROMPT = (
    "{abstract}\n\nIn your own words: what problem does this paper address, what do the authors "
    "do, and what do they find?"
)
_WORD = re.compile(r"[a-z0-9]+")


def load_abstracts(n: int, split: str = "test") -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("aclsum")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("this example needs the aclsum package: pip install aclsum")
    path = Path(next(iter(spec.submodule_search_locations))) / "dataset" / f"{split}.jsonl"
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            paper = json.loads(line)
            abstract = " ".join(paper["sentences"]["abstract"])
            rows.append({"id": paper["id"], "abstract": abstract, "summary": paper["summary"]})
            if len(rows) == n:
                break
    return rows


def recall(text: str, reference: str) -> float:
    ref = set(_WORD.findall(reference.lower()))
    return len(ref & set(_WORD.findall(text.lower()))) / len(ref) if ref else 0.0


def main(
    model: Model | str = "default", *, n: int = 4, max_tokens: int = 200, quiet: bool = False
) -> dict[str, Any]:
    from assay.models.types import Sampling
    from assay.prompting.structured import generate_structured, validity

    papers = load_abstracts(n)
    results = generate_structured(
        model,
        [PROMPT.format(abstract=p["abstract"]) for p in papers],
        Findings,
        sampling=Sampling(max_tokens=max_tokens),
    )
    scores: dict[str, list[float]] = {field: [] for field in FIELDS}
    rows = []
    for paper, result in zip(papers, results, strict=True):
        value = result.json_value() or {}
        for field, gold in FIELDS.items():
            scores[field].append(recall(value.get(field, ""), paper["summary"][gold]))
        rows.append({"id": paper["id"], "value": value, "valid": result.valid})
        if not quiet:
            print(f"\n{paper['id']} ({result.attempts} call(s), valid={result.valid})")
            for field, gold in FIELDS.items():
                print(f"  {field:7} {value.get(field, '-')}")
                print(f"  {'':7} annotated {gold}: {paper['summary'][gold]}")
    mean = {field: sum(v) / len(v) if v else 0.0 for field, v in scores.items()}
    summary = {"validity": validity(results), "word_recall": mean, "rows": rows}
    if not quiet:
        v = summary["validity"]
        recalls = ", ".join(f"{k} {x:.0%}" for k, x in mean.items())
        print(
            f"\n{v['valid']}/{v['prompts']} valid, {v['retries']} re-asks; word recall: {recalls}"
        )
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="model address (default: %(default)s)")
    parser.add_argument("-n", type=int, default=4, help="abstracts (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=200)
    args = parser.parse_args()
    main(args.model, n=args.n, max_tokens=args.max_tokens)
