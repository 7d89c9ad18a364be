"""Prompting: templates, few-shot examples, chain-of-thought modes and answer extraction.

Small modules, one job each:

- ``templates``: Jinja2 prompt files that render to a chat (format in its docstring).
- ``prompt``: text or a chat -> what is sent (``system`` and ``raw`` applied).
- ``fewshot``: choose examples for an item and lay them out as turns or inline.
- ``cot``: chain-of-thought modes, each paired with its extraction.
- ``extract``: read answers from replies; failures are recorded, never guessed.
- ``rows``, ``outfile``, ``batch``: run a template over a file, resumably.
- ``shaping``: few-shot examples, a chain-of-thought mode and extraction applied together.
- ``conversation`` (+ ``conversation_store``, ``conversation_export``, ``summary``): chats kept
  in the workspace that fit the context (drop oldest turns, or a running summary).
- ``tools``: Python functions as tools; a bounded loop, every call logged.
- ``structured``: JSON answers validated against a schema (``structured``, ``StructuredResult``).
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
    parse_extractor,
    regex,
    then,
)
from assay.prompting.fewshot import Example, FewShot, add_examples, layout_chat, load_examples
from assay.prompting.prompt import make_prompt
from assay.prompting.shaping import PromptShaping

# The name ``structured`` in this package is the function, not the module; import the module's
# other names with ``from assay.prompting.structured import ...``.
from assay.prompting.structured import (
    StructuredResult,
    generate_structured,
    load_schema,
    structured,
)
from assay.prompting.templates import PromptTemplate, TemplateError, load_template

__all__ = [
    "COT_MODES",
    "CotMode",
    "Example",
    "Extraction",
    "Extractor",
    "FewShot",
    "PromptShaping",
    "PromptTemplate",
    "StructuredResult",
    "TemplateError",
    "add_examples",
    "answer_line",
    "apply_cot",
    "choice_letter",
    "cot_extractor",
    "first_ok",
    "generate_structured",
    "get_extractor",
    "json_field",
    "last_number",
    "layout_chat",
    "load_examples",
    "load_schema",
    "load_template",
    "make_prompt",
    "normalize_number",
    "parse_extractor",
    "regex",
    "structured",
    "then",
]
