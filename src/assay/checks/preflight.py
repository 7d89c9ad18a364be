"""The contamination pre-flight: before a task is scored, its items are checked against the
training data assay knows about.

That is the recorded training data of a ``run:ID`` model (finetuned by assay: its run record
names the file and its hash), and whatever the task declares::

    contamination:
      against: [data/train.jsonl, corpus/]     # relative to the task file
      ngram: 13

The check reuses the contamination index (:mod:`assay.checks.contamination`), built once per
corpus and cached. It warns with counts before scoring and, once the run is finished, records a
contamination check for it with the clean-subset comparison, so its report shows the result.
``--no-contamination-check`` (``contamination_check=False``) turns it off; the run's provenance
says so and its report says "not checked (turned off)".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.evals.task import TaskConfig
from assay.workspace import Workspace

OFF = "off"
NOTE = "contamination_preflight"
"""The run provenance key: ``"off"`` when the check was turned off, else what it found."""


@dataclass
class Preflight:
    against: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # what each corpus is, in words
    notes: list[str] = field(default_factory=list)  # training data that could not be checked
    report: Any = None  # a ContaminationReport, when there was something to check against

    def summary(self) -> str:
        if self.report is None:
            return "contamination pre-flight: " + "; ".join(self.notes)
        r = self.report
        found = len(r.flagged)
        head = (
            f"contamination pre-flight: {found} of {len(r.items)} items share a {r.n}-gram with "
            f"{' and '.join(self.sources)}"
        )
        if found:
            inputs = sum(1 for i in r.items if i.input.matched)
            refs = sum(1 for i in r.items if i.reference.matched)
            head += f" (inputs {inputs}, references {refs}): the metric may be inflated"
        return "; ".join([head, *self.notes])

    def provenance(self) -> dict[str, Any]:
        r = self.report
        return {
            NOTE: {
                "against": self.against,
                "sources": self.sources,
                "notes": self.notes,
                "contaminated": len(r.flagged) if r is not None else None,
                "items": len(r.items) if r is not None else None,
            }
        }


def training_data(address: str, workspace: Workspace) -> tuple[list[str], list[str], list[str]]:
    """The recorded training data of a ``run:ID`` model: (corpus paths, their descriptions,
    notes on data that cannot be checked). Anything else: nothing."""
    from assay.finetune.runs import RECORD_FILE, read_record, run_dir

    if not address.startswith("run:"):
        return [], [], []
    name = address.removeprefix("run:")
    folder = Path(name) if (Path(name) / RECORD_FILE).is_file() else run_dir(workspace, name)
    record = read_record(folder) or {}
    train = (record.get("data") or {}).get("train")
    if not train:
        return [], [], [f"{address} has no recorded training data"]
    what = f"the training data of {address}"
    path = Path(str(train.get("path") or ""))
    source = str(train.get("source") or "")
    if path.is_file() or path.is_dir():
        from assay.evals.datasets import file_sha256

        now = file_sha256(path) if path.is_file() else None  # a folder's hash lists its files
        changed = now is not None and train.get("sha256") not in (None, now)
        note = [f"{path} changed since {address} was trained: checked as it is now"]
        return [str(path)], [f"{what} ({path.name})"], note if changed else []
    if source.startswith("builtin:"):
        return [_materialise(source, workspace)], [f"{what} ({source})"], []
    return [], [], [f"{what} is gone from {path or source}: not checked"]


def _materialise(source: str, workspace: Workspace) -> str:
    """A built-in training source written out once as JSONL, so the index can read it."""
    from assay.finetune.data import read_examples

    examples = read_examples(source)
    path = workspace.dir("contamination", "training") / f"{examples.sha256[:16]}.jsonl"
    if not path.is_file():
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(
            "".join(json.dumps(e.data, default=str) + "\n" for e in examples.items),
            encoding="utf-8",
        )
        tmp.replace(path)
    return str(path)


def declared(task: TaskConfig) -> list[str]:
    """The task's own ``contamination.against``, relative paths taken from the task file."""
    if task.contamination is None:
        return []
    base = Path(task.source_file).parent if task.source_file else Path.cwd()
    out = []
    for entry in task.contamination.against:
        path = Path(entry).expanduser()
        if not path.is_absolute() and not path.exists() and (base / path).exists():
            path = base / path
        out.append(str(path))
    return out


def preflight(
    task: TaskConfig,
    model_address: str,
    workspace: Workspace,
    *,
    limit: int | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Preflight | None:
    """Check ``task``'s items against what the model was trained on and what the task names;
    ``None`` when there is nothing to check against."""
    from assay.checks.contamination import DEFAULT_N, check_contamination

    paths, sources, notes = training_data(model_address, workspace)
    own = declared(task)
    if own:
        paths += own
        sources.append(f"the task's contamination.against ({', '.join(Path(p).name for p in own)})")
    if not paths and not notes:
        return None
    result = Preflight(paths, sources, notes)
    if paths:
        n = task.contamination.ngram if task.contamination else DEFAULT_N
        result.report = check_contamination(task, paths, n=n, limit=limit, workspace=workspace)
    if on_status is not None:
        on_status(result.summary())
    return result


def record_preflight(pre: Preflight, run: Any, workspace: Workspace) -> Any:
    """The pre-flight as the run's contamination check (with the clean-subset comparison)."""
    from assay.checks.record import CheckStore
    from assay.checks.runners import clean_subsets, contamination_result
    from assay.evals.runs import RunStore

    subsets = clean_subsets(RunStore(workspace), run, pre.report.clean_ids)
    result = contamination_result(pre.report, subsets, run)
    result.config["preflight"] = True
    result.config["sources"] = pre.sources
    return CheckStore(workspace).add(result)


def evaluate_checked(
    task: TaskConfig,
    model: Any,
    options: Any = None,
    on_status: Callable[[str], None] | None = None,
    *,
    contamination_check: bool = True,
) -> Any:
    """:func:`assay.evals.runner.evaluate` with the contamination pre-flight before it."""
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.shards import current_shard

    options = options or EvalOptions()
    if not current_shard().main:  # under a launcher the main process checks and records
        return evaluate(task, model, options, on_status)
    say = on_status or (lambda msg: print(msg, file=sys.stderr))
    pre = None
    if contamination_check:
        pre = preflight(task, model.address, model.workspace, limit=options.limit, on_status=say)
        if pre is not None:
            options.notes = {**options.notes, **pre.provenance()}
    else:
        options.notes = {**options.notes, NOTE: OFF}
    run = evaluate(task, model, options, on_status)
    if pre is not None and pre.report is not None:
        record_preflight(pre, run, model.workspace)
    return run


__all__ = [
    "NOTE",
    "OFF",
    "Preflight",
    "declared",
    "evaluate_checked",
    "preflight",
    "record_preflight",
    "training_data",
]
