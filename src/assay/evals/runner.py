"""Run a task against a model: batched, committed sample by sample, resumable after a kill.

The same command run again finds the unfinished run with the same key (task config, model
fingerprint, data, template, seed) and computes only the samples not yet committed. A finished
run with the same key is returned as it is. Model answers are cached one by one as they are
decoded, before their batch is committed, so a resumed run also reuses those (and says how many).

Under ``accelerate launch`` the items are shared out across the processes into the same run
(:mod:`assay.evals.shards`); the result is the one a single process gives.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assay.errors import AssayError, UnsupportedOperationError, UserError
from assay.evals.datasets import Dataset
from assay.evals.kinds.base import KindContext, TaskKind
from assay.evals.metrics import compute_metrics
from assay.evals.record import SampleRecord
from assay.evals.retrieval_step import RetrievalStep, make_retriever
from assay.evals.runs import RunRow, RunStore
from assay.evals.shards import current_shard
from assay.evals.steps import PromptBuilder, load_dataset, make_extractor
from assay.evals.task import TaskConfig
from assay.models.facade import Model
from assay.models.images import ImageError
from assay.models.types import stable_hash
from assay.progress import progress_bar
from assay.prompting.templates import TemplateError
from assay.provenance import collect


@dataclass
class EvalOptions:
    limit: int | None = None
    skip_invalid: bool = False
    progress: bool = True
    batch_size: int | None = None
    rerun: bool = False


def _select(dataset: Dataset, task: TaskConfig, limit: int | None) -> Dataset:
    from assay.evals.datasets import select

    n = limit if limit is not None else task.limit
    if n is None or n >= len(dataset.rows):
        return dataset
    # A seeded sample, stable across machines; a smaller limit is a prefix of a larger one.
    return select(dataset, limit=n, shuffle=True, seed=task.seed)


def _check_rows(
    task: TaskConfig, kind: TaskKind, dataset: Dataset, skip_invalid: bool
) -> list[int]:
    """Indices of usable rows; refuses (listing row ids) or skips rows missing fields."""
    if not dataset.rows:
        raise UserError(f"task '{task.name}': the dataset is empty")
    needed = kind.needed_fields(task)
    bad = [i for i, row in enumerate(dataset.rows) if any(row.get(f) in (None, "") for f in needed)]
    if bad and not skip_invalid:
        ids = ", ".join(dataset.where(dataset.ids[i]) for i in bad[:20]) + (
            " ..." if len(bad) > 20 else ""
        )
        raise UserError(
            f"task '{task.name}': {len(bad)} row(s) miss one of the fields {sorted(needed)}: {ids}",
            hint="fix the data or the task's field names, or pass --skip-invalid",
        )
    return [i for i in range(len(dataset.rows)) if i not in set(bad)]


def _check_prompts(
    task: TaskConfig, solver: Solver, dataset: Dataset, usable: list[int], skip_invalid: bool
) -> list[int]:
    """Find what would stop the run half-way before it is created: a few-shot setting the pool
    cannot meet, and rows the template cannot render (refused, or skipped with --skip-invalid)."""
    if not solver.kind.check_prompts(task):
        return usable  # no template, or one that reads what retrieval adds at solve time
    _ = solver.prompts.fewshot  # checks k and the pool
    bad: dict[int, str] = {}
    for i in usable:
        try:
            solver.prompts.render(dataset.rows[i])
        except TemplateError as exc:
            bad[i] = exc.message
    if bad and not skip_invalid:
        first, reason = next(iter(bad.items()))
        where = dataset.where(dataset.ids[first])
        raise UserError(
            f"task '{task.name}': {len(bad)} row(s) cannot be rendered; {where}: {reason}",
            hint="fix the data or the template, or pass --skip-invalid",
        )
    return [i for i in usable if i not in bad]


def _check_images(
    task: TaskConfig, solver: Solver, dataset: Dataset, usable: list[int], skip_invalid: bool
) -> tuple[list[int], list[str]]:
    """Read every row's image before the run is created (a missing or broken one is refused,
    or skipped with --skip-invalid); returns the rows kept and their images' sha256."""
    if task.image is None:
        return usable, []
    if not solver.model.capabilities.images:
        raise UnsupportedOperationError(
            f"task '{task.name}' shows images, but {solver.model.address} is a text-only model: "
            "it lacks the 'images' capability",
            hint="evaluate a vision-language model",
        )
    bad: dict[int, str] = {}
    hashes: list[str] = []
    for i in usable:
        try:
            hashes += [im.sha256 for im in solver.prompts.row_images(dataset.rows[i])]
        except ImageError as exc:
            bad[i] = exc.message
    if bad and not skip_invalid:
        first, reason = next(iter(bad.items()))
        where = dataset.where(dataset.ids[first])
        raise UserError(
            f"task '{task.name}': {len(bad)} row(s) have no usable image; {where}: {reason}",
            hint="fix the image files or the task's image field, or pass --skip-invalid",
        )
    return [i for i in usable if i not in bad], hashes


class Solver:
    """Turns a batch of rows into finished, scored sample records with the task's kind (wrapped
    in the retrieval step when the task retrieves)."""

    def __init__(self, task: TaskConfig, model: Model, dataset: Dataset) -> None:
        self.task = task
        self.model = model
        self.prompts = PromptBuilder(task, dataset)
        self.extractor = make_extractor(task)
        self.retriever = make_retriever(task, self.prompts.template, model.workspace)
        kind = task.task_kind
        self.kind = kind if self.retriever is None else RetrievalStep(kind, self.retriever)
        self.scorers = self.kind.scorers(task)
        self.context = KindContext(task, model, self.prompts, self.extractor)

    def solve(self, batch: Sequence[tuple[str, dict[str, Any]]]) -> list[SampleRecord]:
        batch = self.kind.prepare(batch)
        records = [SampleRecord.of(r) for r in self.kind.solve(self.context, batch)]
        samples = []
        for rec, (_, row) in zip(records, batch, strict=True):
            samples.append(self.kind.scoring_row(row, rec))
            rec.scores = {}
            if self.task.category:
                rec.category = row.get(self.task.category)
        preds = [r.prediction for r in records]
        refs = [r.target for r in records]
        for scorer in self.scorers:
            # One call per scorer and batch, so judges and embedders batch their model calls.
            for rec, value in zip(records, scorer.score_many(preds, refs, samples), strict=True):
                rec.scores[scorer.name] = value
        return records


def run_key(
    task: TaskConfig, fingerprint: str, data_hash: str, template_hash: str, ids: list[str]
) -> str:
    return stable_hash(
        {
            "task": task.model_dump(mode="json"),
            "fingerprint": fingerprint,
            "data": data_hash,
            "template": template_hash,
            "ids": ids,
        }
    )


def evaluate(
    task: TaskConfig,
    model: Model,
    options: EvalOptions | None = None,
    on_status: Callable[[str], None] | None = None,
) -> RunRow:
    """Evaluate ``model`` on ``task``; returns the finished run (resuming one if it exists)."""
    options = options or EvalOptions()
    shard = current_shard()
    tell = on_status or (lambda msg: print(msg, file=sys.stderr))

    def say(msg: str) -> None:
        if shard.main:  # the other processes would repeat it
            tell(msg)

    store = RunStore(model.workspace)
    dataset = _select(load_dataset(task.dataset), task, options.limit)
    usable = _check_rows(task, task.task_kind, dataset, options.skip_invalid)
    solver = Solver(task, model, dataset)
    usable = _check_prompts(task, solver, dataset, usable, options.skip_invalid)
    usable, image_hashes = _check_images(task, solver, dataset, usable, options.skip_invalid)
    skipped = len(dataset.rows) - len(usable)
    if skipped:
        say(f"skipped {skipped} of {len(dataset.rows)} row(s) that miss a needed field")
    ids = [str(dataset.ids[i]) for i in usable]
    data_hash = dataset.rows_sha256
    if solver.retriever is not None:  # a re-indexed collection retrieves differently: a new run
        data_hash = stable_hash([data_hash, solver.retriever.key()])
    if image_hashes:  # rows name images by path: changed pixels are a new run
        data_hash = stable_hash([data_hash, image_hashes])
    key = run_key(task, model.fingerprint, data_hash, solver.prompts.template_sha256, ids)

    run = store.find_unfinished(key)
    if run is None and not options.rerun:
        done = model.workspace.db.execute(
            "SELECT id FROM runs WHERE key = ? AND status = 'done' ORDER BY created DESC LIMIT 1",
            (key,),
        ).fetchone()
        if done is not None:
            say(f"already evaluated: run {done['id']} (use --rerun to run again)")
            return store.get(done["id"])
    if shard.main:
        run = _open_run(
            store, run, key, task, model, solver, dataset, skipped, usable, say, shard.count
        )
    shard.wait()  # the run exists before the other processes look it up
    if not shard.main:
        run = store.find_unfinished(key)
    assert run is not None, "the main process creates the run before the others look"
    done_ids = store.done_ids(run.id)
    shard.wait()  # everyone has read what is done before anyone commits more
    left = [(i, ids[k]) for k, i in enumerate(usable) if ids[k] not in done_ids]
    todo = shard.take(left)
    if shard.count > 1:
        tell(f"{shard.label}{len(todo)} of the {len(left)} items left in run {run.id}")
    size = options.batch_size or model.settings.batch_size
    hits_before = model.cache_hits
    bar = progress_bar(
        len(usable) if shard.count == 1 else len(todo),
        task.name,
        "sample",
        initial=len(usable) - len(todo) if shard.count == 1 else 0,
        enabled=options.progress and bool(todo) and shard.main,
    )
    try:
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            batch = [(rid, dataset.rows[i]) for i, rid in chunk]
            records = solver.solve(batch)
            store.add_samples(
                run.id, [(i, rid, rec) for (i, rid), rec in zip(chunk, records, strict=True)]
            )
            bar.update(len(chunk))
        shard.wait()  # every process's share is committed
        metrics = compute_metrics(task, store.records(run.id), solver.scorers) if shard.main else {}
    except Exception as exc:
        # Recorded, so reports and comparisons refuse it; the same command resumes it.
        store.fail(
            run.id, str(exc) if isinstance(exc, AssayError) else f"{type(exc).__name__}: {exc}"
        )
        raise
    finally:
        bar.close()
    reused = model.cache_hits - hits_before
    if reused:
        tell(
            f"{shard.label}run {run.id}: {reused} model answers came from the response cache, "
            "not recomputed"
        )
    if shard.main:
        store.finish(run.id, metrics)
    shard.wait()  # the others return the finished run too
    return store.get(run.id)


def _open_run(
    store: RunStore,
    run: RunRow | None,
    key: str,
    task: TaskConfig,
    model: Model,
    solver: Solver,
    dataset: Dataset,
    skipped: int,
    usable: list[int],
    say: Callable[[str], None],
    processes: int,
) -> RunRow:
    """Create the run, or reopen the unfinished one found for this key."""
    if run is not None:
        say(f"resuming run {run.id}: {run.n_done}/{run.n_total} samples already committed")
        store.reopen(run.id)
        return run
    provenance = {
        "dataset": dataset.provenance.to_dict(),
        "template_sha256": solver.prompts.template_sha256,
        "model": {"address": model.address, "fingerprint": model.fingerprint},
        "seed": task.seed,
        "skipped_rows": skipped,
        "extraction": solver.extractor.spec() if solver.extractor else None,
        "scorers": [s.spec() for s in solver.scorers],
        "processes": processes,
        **({"retrieval": solver.retriever.provenance()} if solver.retriever else {}),
        **collect(),
    }
    return store.create(
        key=key,
        task=task.name,
        model=model.address,
        fingerprint=model.fingerprint,
        config=task.model_dump(mode="json"),
        provenance=provenance,
        n_total=len(usable),
    )


__all__ = ["EvalOptions", "Solver", "evaluate", "run_key"]
