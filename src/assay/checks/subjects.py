"""What a check runs on: a task (a name, a YAML file or a config) or a finished evaluation run
(its task, and its model unless another is given)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay.errors import UserError
from assay.evals.task import TaskConfig
from assay.workspace import Workspace


def task_or_run(subject: Any, workspace: Workspace) -> tuple[TaskConfig, Any]:
    """``(task, run or None)`` for a TaskConfig, a task name or file, or a finished run id."""
    from assay.evals.runs import RunStore
    from assay.evals.task import load_task

    if isinstance(subject, TaskConfig):
        return subject, None
    try:
        return load_task(str(subject)), None
    except UserError:
        pass
    try:
        run = RunStore(workspace).get(str(subject))
    except UserError:
        raise UserError(
            f"'{subject}' is neither a task nor a run",
            hint="a built-in task (assay tasks list), a task YAML, or a run id (assay runs list)",
        ) from None
    run.require_finished("checks")
    return TaskConfig.model_validate(run.config), run


def model_or_run(subject: Any, workspace: Workspace) -> tuple[Any, str | None]:
    """``(loaded model, run id or None)``: a model address, a loaded model, or a finished run
    (then its model, and the check belongs to the run)."""
    from assay.evals.runs import RunStore
    from assay.models.facade import Model

    if not isinstance(subject, str):
        return subject, None
    try:
        run = RunStore(workspace).get(subject)
    except UserError:
        run = None
    if run is None:
        return Model.load(subject, workspace=workspace), None
    run.require_finished("checks")
    return Model.load(run.model, workspace=workspace), run.id


def check_model(
    run_check: Callable[..., Any],
    subject: Any,
    workspace: Workspace | None,
    record: bool,
    **options: Any,
) -> Any:
    """Run ``run_check(model, run_id=..., **options)`` on :func:`model_or_run`'s model and
    record the result unless ``record`` is false: the body of every ``check_*`` on a model."""
    from assay.checks.record import CheckStore

    ws = workspace or Workspace.find()
    model, run_id = model_or_run(subject, ws)
    result = run_check(model, run_id=run_id, **options)
    return CheckStore(ws).add(result) if record else result


__all__ = ["check_model", "model_or_run", "task_or_run"]
