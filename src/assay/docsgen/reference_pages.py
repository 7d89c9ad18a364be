"""The reference pages written from pydantic models and docstrings: task YAML, workspace
``config.yaml``, training recipes, and the Python API page (mkdocstrings directives)."""

from __future__ import annotations

import inspect

from assay.docsgen.fields import field_tables, markdown


def docstring_markdown(doc: str) -> str:
    """A module docstring as Markdown: rST markup, and ``::`` literal blocks as fenced code."""
    out: list[str] = []
    fence = False
    for line in inspect.cleandoc(doc).splitlines():
        if fence and line.strip() and not line.startswith("    "):
            out += ["```", ""]
            fence = False
        if fence:
            out.append(line[4:])
            continue
        if line.rstrip().endswith("::"):
            out += [markdown(line.rstrip()[:-1]), "", "```"]
            fence = True
            continue
        out.append(markdown(line))
    if fence:
        out.append("```")
    return _tidy("\n".join(out))


def _tidy(text: str) -> str:
    """No blank line right after an opening fence or right before a closing one."""
    lines = text.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("```"):
            if inside:
                while out and not out[-1].strip():
                    out.pop()
            inside = not inside
            out.append(line)
            continue
        if inside and not line.strip() and out and out[-1].startswith("```"):
            continue
        out.append(line)
    return "\n".join(out)


def task_page() -> str:
    from assay.evals import task

    intro = docstring_markdown(task.__doc__ or "")
    return (
        "# Task YAML\n\n"
        + intro
        + "\n\n`assay tasks show NAME` prints a built-in task to start from; `assay eval TASK "
        "KEY=VALUE` overrides any key below for one run.\n\n## Keys\n\n"
        + field_tables(task.TaskConfig)
        + "\n"
    )


def sweep_page() -> str:
    from assay.sweeps import config

    return (
        "# Sweep YAML\n\n"
        + docstring_markdown(config.__doc__ or "")
        + "\n\n`assay sweep FILE --dry-run` prints the grid, the calls and an estimate of cost "
        "and time; `assay sweep FILE KEY=VALUE` overrides any key below for one sweep.\n\n"
        "## Keys\n\n" + field_tables(config.SweepConfig) + "\n"
    )


def workspace_page() -> str:
    from assay import config

    return (
        "# Workspace config\n\n"
        "`.assay/config.yaml` in a workspace (`assay init` writes a commented one). "
        + docstring_markdown(config.__doc__ or "")
        + "\n\n## Keys\n\n"
        + field_tables(config.Settings)
        + "\n"
    )


def recipe_names() -> list[str]:
    from assay.finetune.config import RECIPES

    return list(RECIPES)


def recipes_page() -> str:
    from assay.finetune.config import recipe_module

    parts = [
        "# Training recipes\n\n`assay train CONFIG.yaml [KEY=VALUE]...` reads a YAML file whose "
        "`recipe:` names one of these; each one's keys are below. Recipes, resuming and "
        "multi-GPU runs are explained in [Finetuning](../finetuning.md)."
    ]
    for name in recipe_names():
        module = recipe_module(name)
        parts.append(f"## `{name}`\n\n" + docstring_markdown(module.__doc__ or ""))
        parts.append(field_tables(module.Config, level=2))
    return "\n\n".join(parts) + "\n"


def python_page() -> str:
    import assay

    exports: dict[str, str] = assay._EXPORTS
    by_module: dict[str, list[str]] = {}
    for name, module in exports.items():
        by_module.setdefault(module, []).append(name)
    parts = [
        "# Python API\n\nEverything the command line does is reachable from `import assay`; "
        "these are the names it exports (imported on first use, so `import assay` stays light)."
    ]
    for module, names in by_module.items():
        parts.append(f"## `{module}`")
        for name in names:
            parts.append(f"::: {module}.{name}\n    options:\n      heading_level: 3")
    parts.append("## `assay.errors`\n\n::: assay.errors\n    options:\n      heading_level: 3")
    return "\n\n".join(parts) + "\n"


__all__ = ["python_page", "recipes_page", "task_page", "workspace_page"]
