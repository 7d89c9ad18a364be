"""Texts to score, read from a file: ``.txt`` (split into paragraphs or lines) or rows with a
``text`` field and an optional ``id`` (``.jsonl``, also ``.json``, ``.csv``, ``.tsv``)."""

from __future__ import annotations

import re
from typing import Literal

from assay.errors import UserError

Split = Literal["paragraphs", "lines"]

_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def read_texts(path: str, *, split: Split = "paragraphs") -> list[tuple[str, str]]:
    """``(id, text)`` for every text in ``path``.

    ``.txt``: one text per paragraph (paragraphs are separated by blank lines; a paragraph's
    line breaks are kept), or with ``split="lines"`` one per non-blank line; ids are the
    paragraph numbers (from 1) or the file's line numbers. ``.jsonl`` (or ``.json``, ``.csv``,
    ``.tsv``): one text per row in its ``text`` field; ids are the ``id`` field where given, else
    the line (or item) number. Ids are what paired comparisons match texts by, so the same file
    gives the same ids to every model.
    """
    from assay.finetune.data import read_examples

    examples = read_examples(path, what="texts to score")
    if examples.format in ("txt", "md", "text"):
        whole = examples.items[0]["text"].replace("\r\n", "\n")
        if split == "lines":
            lines = enumerate(whole.split("\n"), start=1)
            return [(str(i), line.strip()) for i, line in lines if line.strip()]
        paragraphs = [p.strip() for p in _BLANK_LINES.split(whole) if p.strip()]
        return [(str(i), p) for i, p in enumerate(paragraphs, start=1)]
    out: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for ex in examples.items:
        text = ex.data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise UserError(
                f"{ex.where}: no text to score (the 'text' field is missing or empty)",
                hint="give every row a non-empty 'text' field",
            )
        # "file.jsonl:12" or "file.json item 12": the row's number.
        row = ex.where.rsplit(":", 1)[-1].rsplit(" ", 1)[-1]
        text_id = str(ex.data["id"]) if ex.data.get("id") not in (None, "") else row
        if text_id in seen:
            raise UserError(f"{ex.where}: id {text_id!r} is also used at {seen[text_id]}")
        seen[text_id] = ex.where
        out.append((text_id, text))
    return out


__all__ = ["Split", "read_texts"]
