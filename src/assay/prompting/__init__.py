"""Prompting: templates, few-shot examples, chain-of-thought modes and answer extraction.

Small modules, one job each:

- ``templates``: Jinja2 prompt files that render to a chat (format in its docstring).
- ``prompt``: text or a chat -> what is sent (``system`` and ``raw`` applied).
- ``fewshot``: choose examples for an item and lay them out as turns or inline.
- ``cot``: chain-of-thought modes, each paired with its extraction.
- ``extract``: read answers from replies; failures are recorded, never guessed.
- ``rows``, ``outfile``, ``batch``: run a template over a file, resumably.
"""

from __future__ import annotations

from assay.prompting.cot import COT_MODES, CotMode, apply_cot, cot_extractor
from assay.prompting.extract import (
    Extraction,
    Extractor,
    answer_line,
    choice_letter,
    first_ok,
    get_extractor,
    json_field,
    last_number,
    normalize_number,
    regex,
    then,
)
from assay.prompting.fewshot import Example, FewShot, layout_chat, load_examples
from assay.prompting.prompt import make_prompt
from assay.prompting.templates import PromptTemplate, TemplateError, load_template

__all__ = [
    "COT_MODES",
    "CotMode",
    "Example",
    "Extraction",
    "Extractor",
    "FewShot",
    "PromptTemplate",
    "TemplateError",
    "answer_line",
    "apply_cot",
    "choice_letter",
    "cot_extractor",
    "first_ok",
    "get_extractor",
    "json_field",
    "last_number",
    "layout_chat",
    "load_examples",
    "load_template",
    "make_prompt",
    "normalize_number",
    "regex",
    "then",
]
