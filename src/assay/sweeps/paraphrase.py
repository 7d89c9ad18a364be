"""Wordings of one instruction, written by a model and saved as named templates for a sweep's
``prompt`` axis (``axes.prompt: prompts.yaml``), so a result can be checked for its dependence on
the wording.

    >>> from assay.sweeps.paraphrase import paraphrase
    >>> paraphrase("Answer the question.", model, n=4, template="{instruction}\\n\\n{{{{ question }}}}")
    {'original': 'Answer the question.\\n\\n{{ question }}', 'p1': ..., ...}

The original is always kept (as ``original``); paraphrases are sampled (temperature 0.9, a seed
per sample) and identical ones are kept once. The model is asked for the rewritten instruction
alone; a reply that is empty after trimming quotes and a leading label is dropped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from assay.errors import UserError

if TYPE_CHECKING:
    from assay.models.facade import Model

ASK = (
    "Rewrite the following instruction in different words. Keep its meaning and everything it "
    "asks for; change only the wording. Reply with the rewritten instruction only.\n\n"
    "Instruction: {instruction}"
)
DEFAULT_TEMPLATE = "{instruction}\n\n{{{{ question }}}}"
"""The instruction, a blank line, then the row's ``question`` field (Jinja)."""


def _clean(reply: str) -> str:
    text = reply.strip().splitlines()[0].strip() if reply.strip() else ""
    text = re.sub(r"^(rewritten instruction|instruction)\s*:\s*", "", text, flags=re.IGNORECASE)
    return text.strip().strip("\"'“”").strip()


def paraphrase(
    instruction: str,
    model: Model,
    *,
    n: int = 4,
    template: str = DEFAULT_TEMPLATE,
    seed: int = 0,
) -> dict[str, str]:
    """``{name: template}``: the original instruction and up to ``n`` paraphrases of it, each
    put into ``template`` at ``{instruction}``."""
    if not instruction.strip():
        raise UserError("the instruction is empty")
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    if "{instruction}" not in template:
        raise UserError(
            "the template has no {instruction} slot",
            hint="e.g. '{instruction}\\n\\n{{{{ question }}}}' (Jinja braces doubled)",
        )
    replies = model.generate(
        ASK.format(instruction=instruction.strip()), temperature=0.9, seed=seed, n=n, max_tokens=96
    )
    wordings = [instruction.strip()]
    for reply in replies:
        text = _clean(reply.text)
        if text and text not in wordings:
            wordings.append(text)
    out = {"original": template.format(instruction=wordings[0])}
    for k, text in enumerate(wordings[1:], 1):
        out[f"p{k}"] = template.format(instruction=text)
    return out


def load_prompts(path: Path, source: str) -> dict[str, str]:
    """A prompts file (``name: template``) as ``axes.prompt`` names it."""
    from assay.config_file import read_yaml_mapping

    if not path.is_file():
        raise UserError(f"{source}: axes.prompt names {path}, which does not exist")
    loaded = read_yaml_mapping(path, what="prompts file", shape="name: template entries")
    bad = [k for k, v in loaded.data.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        line = loaded.lines.get(str(bad[0]))
        raise UserError(
            f"{path}{':' + str(line) if line else ''}: prompt '{bad[0]}' is not a template"
        )
    return {str(k): str(v) for k, v in loaded.data.items()}


class _Literal(yaml.SafeDumper):
    """Multi-line templates as ``|`` blocks, which read as the prompt will."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Literal.add_representer(str, _str)


def dump_prompts(prompts: dict[str, str]) -> str:
    return yaml.dump(prompts, Dumper=_Literal, sort_keys=False, allow_unicode=True, width=100)


__all__ = ["DEFAULT_TEMPLATE", "dump_prompts", "load_prompts", "paraphrase"]
