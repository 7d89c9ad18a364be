"""Evaluate from Python in one call, with the same choices as ``assay eval``.

    >>> import assay
    >>> r = assay.evaluate("mmlu-science", "default", limit=40, shots=3)
    >>> r                                   # in a notebook: metrics with intervals, main figure
    >>> assay.compare(r0.id, r.id)          # paired tests against another run on the same items

A finished run with the same task, model, data and template is returned, not recomputed; an
interrupted one resumes, exactly as from the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.evals.task import TaskConfig
    from assay.models.facade import Model
    from assay.reports.display import Run
    from assay.workspace import Workspace


def evaluate(
    task: str | TaskConfig,
    model: str | Model = "default",
    *,
    limit: int | None = None,
    shots: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    rerun: bool = False,
    progress: bool = True,
    contamination_check: bool = True,
    workspace: Workspace | None = None,
) -> Run:
    """Evaluate ``model`` on ``task`` (a built-in name, a YAML file or a loaded config).

    ``shots`` sets the few-shot count (``fewshot.k``); ``overrides`` are dotted task keys, as
    ``--set`` takes them (``{"generation.max_tokens": 64}``). Returns a view of the run.

    A ``run:ID`` model's items are first checked against its recorded training data (and
    against the task's ``contamination.against``): counts are printed and the run's report
    shows the check; ``contamination_check=False`` skips it."""
    import sys

    from assay.checks.preflight import evaluate_checked
    from assay.evals.runner import EvalOptions
    from assay.evals.runs import RunStore
    from assay.evals.task import load_task
    from assay.models.facade import Model as ModelClass
    from assay.reports.display import Run
    from assay.workspace import Workspace as WorkspaceClass

    config = load_task(task) if isinstance(task, str) else task
    changes = dict(overrides or {})
    if shots is not None:
        changes["fewshot.k"] = shots
    if changes:
        config = config.with_overrides(**changes)
    if isinstance(model, str):
        ws = workspace or WorkspaceClass.find()
        loaded = ModelClass.load(model, workspace=ws)
    else:
        loaded = model
    record = evaluate_checked(
        config,
        loaded,
        EvalOptions(limit=limit, progress=progress, rerun=rerun),
        lambda msg: print(msg, file=sys.stderr),
        contamination_check=contamination_check,
    )
    return Run(RunStore(loaded.workspace), record)


__all__ = ["evaluate"]
