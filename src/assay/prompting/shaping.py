"""Few-shot examples, a chain-of-thought mode and answer extraction, applied together.

:class:`PromptShaping` is what ``assay generate --examples/--cot/--extract`` builds; in Python::

    from assay.prompting.shaping import PromptShaping
    from assay.prompting import FewShot, load_examples, parse_extractor

    shaping = PromptShaping(
        fewshot=FewShot(load_examples("pool.jsonl"), k=3, method="random"),
        cot="reason_then_answer",
        extractor=parse_extractor("last-number"),
    )
    prompt, shown = shaping.apply(chat, item_id="q17")   # examples first, then the CoT request
    extraction = shaping.extract(model.complete(prompt))   # Answer: line, then last number

Order: examples are added first (before the item, which is the last user turn), then the
chain-of-thought instruction is appended to the item. The extraction pairs with the mode:
with ``reason_then_answer`` the answer is read from the ``Answer:`` line only.

When prompts come from a template, :func:`examples_for_template` renders each example row
through the same template, so the examples look exactly like the items they precede.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import UserError
from assay.models.types import Message, stable_hash
from assay.prompting.cot import CotMode, apply_cot, check_mode, cot_extractor
from assay.prompting.extract import Extraction, Extractor, answer_line, get_extractor
from assay.prompting.fewshot import (
    Example,
    FewShot,
    Layout,
    add_examples,
    examples_from_rows,
    item_text,
)
from assay.prompting.templates import PromptTemplate, TemplateError


@dataclass
class PromptShaping:
    fewshot: FewShot | None = None
    layout: Layout = "turns"
    cot: CotMode = "off"
    extractor: Extractor | None = None
    """How to read the answer; with ``cot='reason_then_answer'`` and none, the ``Answer:`` line."""

    def __post_init__(self) -> None:
        self.cot = check_mode(self.cot)
        if self.extractor is None and self.cot == "reason_then_answer":
            self.extractor = get_extractor("answer_line")

    @property
    def active(self) -> bool:
        return self.fewshot is not None or self.cot != "off" or self.extractor is not None

    def apply(
        self, prompt: str | Sequence[Message], item_id: str | None = None
    ) -> tuple[str | list[Message], list[str]]:
        """The prompt with examples and the CoT instruction, and the ids of the examples shown."""
        shown: list[Example] = []
        out: str | list[Message] = prompt if isinstance(prompt, str) else list(prompt)
        if self.fewshot is not None:
            shown = self.fewshot.select(item_text(prompt), item_id)
            out = add_examples(out, shown, layout=self.layout)
        return apply_cot(out, self.cot), [ex.id for ex in shown]

    def extract(self, text: str) -> Extraction | None:
        """The answer read from a reply (None when no extraction was asked for)."""
        if self.extractor is None:
            return None
        if self.cot == "reason_then_answer" and self.extractor.strategy == "answer_line":
            return answer_line(text)
        return cot_extractor(self.cot, self.extractor)(text)

    def spec(self) -> dict[str, Any]:
        """What was done, for output records (and to refuse resuming with other settings)."""
        out: dict[str, Any] = {"cot": self.cot}
        if self.fewshot is not None:
            fs = self.fewshot
            out["fewshot"] = {
                "k": fs.k,
                "method": fs.method,
                "seed": fs.seed,
                "layout": self.layout,
                "pool": len(fs.pool),
                "pool_sha256": stable_hash([[e.id, e.input, e.output] for e in fs.pool]),
            }
        if self.extractor is not None:
            out["extract"] = self.extractor.spec()
        return out


def examples_for_template(
    path: str | Path, template: PromptTemplate, *, output_field: str = "output"
) -> list[Example]:
    """Example rows rendered through ``template``: each example's input is its last user turn.

    Rows hold the template's variables and ``output`` (the answer shown); ``id`` is optional.
    """

    def rendered(values: dict[str, Any], line: int) -> str:
        try:
            return item_text(template.render(values))
        except TemplateError as exc:
            raise UserError(f"{path} line {line}: {exc.message}") from None

    return examples_from_rows(
        path,
        rendered,
        required=(output_field,),
        output_field=output_field,
        output_note=" (the answer the example shows)",
    )


def extraction_fields(extraction: Extraction | None) -> dict[str, Any]:
    """Record fields for one extraction: ``answer`` and ``extraction`` (ok, strategy, reason)."""
    if extraction is None:
        return {"answer": None, "extraction": None}
    return {
        "answer": extraction.value,
        "extraction": {
            "ok": extraction.ok,
            "strategy": extraction.strategy,
            "reason": extraction.reason,
        },
    }


__all__ = ["PromptShaping", "examples_for_template", "extraction_fields"]
