"""What every recipe's training loop shares: the run folder, Accelerate, data order, schedules,
checkpoints and resume, evaluation bookkeeping, early stopping, progress and the run record.

A recipe reads top to bottom and calls these helpers; it never copies them::

    s = Session.start(config, env)                 # accelerator, run folder, seeds
    ...load data, call s.add_data(...) and s.check_leakage(...)...
    plan, model, optimizer, scheduler = s.start_training(model, len(train))
    # = s.plan (data order, number of steps), s.optimizer, s.scheduler, s.prepare (devices,
    #   DDP/FSDP/DeepSpeed), s.resume (continue from the latest checkpoint, if any)
    while s.running():
        for indices in plan.step(s.step): ...forward, s.accelerator.backward(loss)...
        s.update(model, optimizer, scheduler, losses, tokens, evaluate)
        # = clip, optimizer.step(), scheduler.step(), zero_grad, s.end_step(losses, tokens),
        #   s.end_eval(evaluate(), model) if s.eval_due(), s.checkpoint(...) if s.checkpoint_due()
    return s.finish(model, tokenizer)

Data order and the learning-rate schedule are :mod:`assay.finetune.schedule`'s; the run record
is :mod:`assay.finetune.record`'s.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from assay.errors import ConfigError, MissingExtraError, UserError
from assay.finetune import checkpoint as ckpt
from assay.finetune.config import RecipeConfig
from assay.finetune.data import Examples, check_leakage, format_length_stats
from assay.finetune.distributed import (
    SHARDED,
    distributed_kind,
    has_accelerator,
    sharding_requested,
)
from assay.finetune.record import run_record
from assay.finetune.restart import discard_unfinished, refuse_changed_config
from assay.finetune.runs import RECORD_FILE, read_record, resolve_base, run_dir
from assay.finetune.schedule import BatchPlan, lr_factor

if TYPE_CHECKING:
    from assay.workspace import Workspace

BEST_FILE = "best.safetensors"
PLOT_FILE = "curves.png"
LOWER_IS_BETTER = ("loss", "mse", "mae", "perplexity", "rmse")


@dataclass
class Environment:
    """What :func:`assay.finetune.train` hands a recipe besides its config."""

    workspace: Workspace
    fresh: bool = False
    """Start over: discard the run's checkpoints and outputs."""
    quiet: bool = False


@dataclass
class TrainResult:
    run_id: str
    path: Path
    metrics: dict[str, Any]
    record: dict[str, Any]
    resumed_from: int | None = None

    @property
    def address(self) -> str:
        """How to load the trained model: ``run:<run-id>``."""
        return f"run:{self.run_id}"


@dataclass
class State:
    """Everything about progress that a checkpoint saves (as JSON)."""

    step: int = 0
    tokens: int = 0
    train_time_s: float = 0.0
    train: list[dict[str, Any]] = field(default_factory=list)
    eval: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    resumed_from: list[int] = field(default_factory=list)


class Session:
    """One training run in progress (created by :meth:`start`)."""

    def __init__(self, cfg: RecipeConfig, env: Environment, accelerator: Any) -> None:
        self.cfg = cfg
        self.env = env
        self.accelerator = accelerator
        assert cfg.run_id is not None
        self.run_id: str = cfg.run_id
        self.run_dir = run_dir(env.workspace, cfg.run_id)
        self.state = State()
        self.data: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, dict[str, Any]] = {}
        self.leakage: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        self.base_path: Path | None = None
        self.base_fingerprint: str | None = None
        self.plan_: BatchPlan | None = None
        self.has_validation = False
        self._last_eval: int | None = None
        self._bar: Any = None
        self._optimizer: Any = None
        self._tick = time.perf_counter()
        self._started = time.time()
        self.restore_use_cache = False
        """Set ``use_cache`` back on in the saved model config (turned off for training)."""
        self.sharded = distributed_kind(accelerator) in SHARDED
        """FSDP or DeepSpeed: no process holds all the weights (or optimizer state) by itself."""

    # -- set-up ---------------------------------------------------------------------------------
    @classmethod
    def start(cls, cfg: RecipeConfig, env: Environment) -> Session:
        """Make the accelerator and the run folder, remove partial checkpoints, seed the RNGs."""
        try:
            from accelerate import Accelerator
        except ImportError:
            raise MissingExtraError("finetuning", "accelerate", "pip install accelerate") from None
        if cfg.optim.mixed_precision == "fp16" and not torch.cuda.is_available():
            raise ConfigError(
                "optim.mixed_precision: fp16 needs a CUDA GPU",
                hint="use bf16 (supported on recent CPUs) or no",
            )
        accelerator = Accelerator(
            gradient_accumulation_steps=cfg.optim.gradient_accumulation_steps,
            mixed_precision=cfg.optim.mixed_precision,
            # On a machine without an accelerator, say so: Accelerate then runs several
            # processes (torchrun / accelerate launch) as CPU data parallelism over gloo.
            cpu=cfg.device == "cpu" or (cfg.device == "auto" and not has_accelerator()),
        )
        kind = distributed_kind(accelerator)
        if kind == "MEGATRON_LM":
            raise ConfigError(
                "the recipes do not support Megatron-LM parallelism",
                hint="use FSDP, DeepSpeed or data parallelism (docs/finetuning.md, 'Devices, "
                "processes and machines')",
            )
        if kind in SHARDED and cfg.eval.early_stopping_patience and cfg.eval.restore_best:
            raise ConfigError(
                f"eval.restore_best is not supported under {kind}: the best weights would have "
                "to be gathered from every process at each improvement",
                hint="set eval.restore_best: false (early stopping still stops the run)",
            )
        session = cls(cfg, env, accelerator)
        if accelerator.is_main_process:
            if env.fresh and session.run_dir.exists():
                shutil.rmtree(session.run_dir)
            session.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.remove_partial(session.run_dir)
        accelerator.wait_for_everyone()
        ckpt.seed_everything(cfg.seed)
        if kind not in SHARDED and sharding_requested():
            session.say(
                "note: FSDP and DeepSpeed shard weights across GPUs; without a GPU, accelerate "
                f"runs this as {kind} (every process holds the full weights)"
            )
        session.say(
            f"run {session.run_id}: recipe {cfg.recipe}, {accelerator.num_processes} process(es) "
            f"on {accelerator.device}, output {session.run_dir}"
        )
        return session

    def net(self, model: Any) -> Any:
        """The network to evaluate: the bare model, or under FSDP/DeepSpeed the wrapped one
        (its forward gathers the sharded weights; every process must call it)."""
        return model if self.sharded else self.accelerator.unwrap_model(model)

    @property
    def is_main(self) -> bool:
        return bool(self.accelerator.is_main_process)

    @property
    def device(self) -> torch.device:
        device: torch.device = self.accelerator.device
        return device

    @property
    def step(self) -> int:
        return self.state.step

    def say(self, message: str) -> None:
        """A line for the user (main process only, on stderr)."""
        if self.is_main and not self.env.quiet:
            print(message, file=sys.stderr, flush=True)

    def base_model(self) -> Path:
        """The local folder of ``config.model``, with its weights fingerprint recorded."""
        from assay.models.fingerprint import weights_fingerprint

        self.base_path = resolve_base(self.cfg.model, self.env.workspace)
        try:
            self.base_fingerprint = weights_fingerprint(self.base_path, self.env.workspace)
        except UserError:
            self.base_fingerprint = None
        return self.base_path

    # -- data -----------------------------------------------------------------------------------
    def add_data(
        self,
        name: str,
        examples: Examples | None,
        lengths: Sequence[int] | None = None,
        max_length: int | None = None,
    ) -> None:
        """Record a dataset (hashes, notes) and its token-length statistics; print them.

        The notes (duplicates removed, sampled, held out) come first, in the order they were
        done, each with the count it left; the statistics of the final examples come last.
        """
        from assay.finetune.data import length_stats

        if examples is None:
            return
        self.data[name] = examples.record()
        for note in examples.notes:
            self.say(f"{name}: {note}")
        if lengths is not None:
            stats = length_stats(list(lengths), max_length)
            self.stats[name] = stats
            self.say(format_length_stats(name, stats))
        if name == "validation":
            self.has_validation = True

    def check_leakage(self, texts: Sequence[tuple[str, str]]) -> None:
        """Warn (or refuse, with ``data.fail_on_leakage``) when evaluation items overlap training."""
        data_cfg = getattr(self.cfg, "data", None)
        sources = list(getattr(data_cfg, "leakage_check", []) or [])
        if not sources:
            return
        n = int(getattr(data_cfg, "leakage_ngram", 13))
        report = check_leakage(texts, sources, n=n)
        self.leakage = report.to_dict()
        if not report.leaked:
            self.say(
                f"leakage check: no {n}-gram of {report.eval_items} evaluation items "
                f"({', '.join(sources)}) occurs in the training data"
            )
            return
        if getattr(data_cfg, "fail_on_leakage", False):
            raise UserError(
                "training data overlaps evaluation data:\n" + report.message(),
                hint="remove those examples, or set data.fail_on_leakage: false to train anyway",
            )
        self.say("warning: " + report.message())

    # -- optimisation ---------------------------------------------------------------------------
    def plan(self, n_train: int, shuffle: bool = True) -> BatchPlan:
        o = self.cfg.optim
        plan = BatchPlan(
            n=n_train,
            batch_size=o.batch_size,
            accumulation=o.gradient_accumulation_steps,
            seed=self.cfg.seed,
            world=self.accelerator.num_processes,
            rank=self.accelerator.process_index,
            shuffle=shuffle,
        )
        if o.max_steps is not None:
            plan.total_steps = o.max_steps
        else:
            plan.total_steps = max(1, math.ceil(o.epochs * plan.per_epoch / plan.accumulation))
        self.plan_ = plan
        self.say(
            f"training: {n_train} examples, {plan.per_epoch} micro-batches of {o.batch_size} per "
            f"epoch and process, {plan.total_steps} optimizer steps "
            f"(~{plan.epoch_at(plan.total_steps):.2f} epochs)"
        )
        return plan

    @property
    def total_steps(self) -> int:
        assert self.plan_ is not None, "call plan() first"
        return self.plan_.total_steps

    def optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        """AdamW (fused where supported) over the trainable parameters; no weight decay on biases
        and norm weights."""
        o = self.cfg.optim
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": o.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        kwargs: dict[str, Any] = {
            "lr": o.learning_rate,
            "betas": (o.adam_beta1, o.adam_beta2),
            "eps": o.adam_epsilon,
        }
        params = [g for g in groups if g["params"]]
        try:
            # The fused kernel is several times faster than the default on CPU.
            return torch.optim.AdamW(params, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.AdamW(params, **kwargs)

    def scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        """Warmup, then linear or cosine decay to zero (or constant) over the run's steps."""
        o = self.cfg.optim
        total = self.total_steps
        warmup = o.warmup_steps if o.warmup_steps is not None else math.ceil(o.warmup_ratio * total)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, total, warmup, o.lr_schedule)
        )

    def prepare(self, model: Any, optimizer: Any) -> tuple[Any, Any]:
        """Place model and optimizer on the device (and wrap them for DDP, FSDP or DeepSpeed)."""
        plugin = getattr(self.accelerator.state, "deepspeed_plugin", None)
        if plugin is not None:
            # Without a DataLoader to look at, DeepSpeed must be told the micro-batch size.
            ds = plugin.deepspeed_config
            if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
                ds["train_micro_batch_size_per_gpu"] = self.cfg.optim.batch_size
        model, optimizer = self.accelerator.prepare(model, optimizer)
        self._optimizer = optimizer
        return model, optimizer

    # -- resume ---------------------------------------------------------------------------------
    def start_training(
        self, model: Any, n_train: int
    ) -> tuple[BatchPlan, Any, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        """The data plan, optimizer and schedule for ``model``, placed on the devices and
        continued from the latest checkpoint if there is one. Returns the prepared model."""
        plan = self.plan(n_train)
        optimizer = self.optimizer(model)
        scheduler = self.scheduler(optimizer)
        model, optimizer = self.prepare(model, optimizer)
        self.resume(model, optimizer, scheduler)
        return plan, model, optimizer, scheduler

    def resume(self, model: Any, optimizer: Any, scheduler: Any) -> int | None:
        """Continue from the latest checkpoint of this run; returns its step (None: fresh start)."""
        latest = ckpt.latest(self.run_dir)
        if latest is None:
            self._bar_start()
            return None
        saved = ckpt.read_state(latest)
        refuse_changed_config(saved, self.cfg, latest)
        if saved.get("world_size") != self.accelerator.num_processes:
            raise UserError(
                f"{latest} was written by {saved.get('world_size')} process(es); this run has "
                f"{self.accelerator.num_processes}",
                hint="resume with the same number of processes, or start over with --fresh",
            )
        changed = [
            name
            for name, rec in self.data.items()
            if saved.get("data", {}).get(name, {}).get("rows_sha256")
            not in (None, rec["rows_sha256"])
        ]
        if changed:
            raise UserError(
                f"the {', '.join(changed)} data changed since {latest} was written",
                hint="resume with the same data, or start over with --fresh",
            )
        ckpt.load(
            latest,
            accelerator=self.accelerator,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            sharded=self.sharded,
        )
        st = saved["progress"]
        self.state = State(**{k: v for k, v in st.items() if k in State.__dataclass_fields__})
        self.state.resumed_from.append(self.state.step)
        self._last_eval = self.state.eval[-1]["step"] if self.state.eval else None
        self.say(f"resuming from {latest.name} (step {self.state.step} of {self.total_steps})")
        self._bar_start()
        return self.state.step

    def _bar_start(self) -> None:
        if self.is_main and self.cfg.progress and not self.env.quiet:
            from assay.progress import progress_bar

            self._bar = progress_bar(self.total_steps, self.run_id, "step", initial=self.state.step)
        self._tick = time.perf_counter()

    # -- the loop -------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.state.step < self.total_steps and not self.state.stopped_early

    def end_step(self, losses: Sequence[torch.Tensor], tokens: int) -> float:
        """Record the step just taken: mean loss over its micro-batches and processes, tokens/s."""
        assert self.plan_ is not None
        local = torch.stack([loss.detach().float() for loss in losses]).mean().to(self.device)
        loss = float(self.accelerator.reduce(local, reduction="mean").item())
        n_tok = int(
            self.accelerator.reduce(
                torch.tensor(tokens, device=self.device), reduction="sum"
            ).item()
        )
        elapsed = time.perf_counter() - self._tick
        self.state.step += 1
        self.state.tokens += n_tok
        self.state.train_time_s += elapsed
        lr = float(self._lr())
        self.state.train.append(
            {
                "step": self.state.step,
                "loss": loss,
                "lr": lr,
                "epoch": round(self.plan_.epoch_at(self.state.step), 4),
                "tokens": n_tok,
            }
        )
        if self._bar is not None:
            rate = n_tok / elapsed if elapsed > 0 else 0.0
            self._bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{rate:,.0f}", lr=f"{lr:.2e}")
            self._bar.update(1)
        self._tick = time.perf_counter()
        return loss

    def update(
        self,
        model: Any,
        optimizer: Any,
        scheduler: Any,
        losses: Sequence[torch.Tensor],
        tokens: int,
        evaluate: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        """The end of every optimizer step, the same in every recipe: clip the gradients, step
        the optimizer and the schedule, clear the gradients, record the step; then evaluate
        (``evaluate()`` returns the validation metrics) and checkpoint when due."""
        if self.cfg.optim.max_grad_norm:
            self.accelerator.clip_grad_norm_(model.parameters(), self.cfg.optim.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        self.end_step(losses, tokens)
        if evaluate is not None and self.eval_due():
            self.end_eval(evaluate(), model)
        if self.checkpoint_due():
            self.checkpoint(model, optimizer, scheduler)

    def evaluate_start(self, evaluate: Callable[[], dict[str, float]]) -> None:
        """Evaluate the base model at step 0 (``eval.at_start``), once per run: a resumed run
        already has it. A baseline for the curves, not a candidate for the best weights."""
        if not (self.cfg.eval.at_start and self.has_validation) or self.state.step != 0:
            return
        if any(m["step"] == 0 for m in self.state.eval):
            return
        metrics = evaluate()
        self.state.eval.append({"step": 0, **metrics})
        self._report_eval("step 0 eval (base model)", metrics)

    def _report_eval(self, label: str, metrics: dict[str, float]) -> None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float | int))
        message = f"{label}: {shown}"
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            self.say(message)
        self.accelerator.wait_for_everyone()
        self._tick = time.perf_counter()

    def _lr(self) -> float:
        opt = self._optimizer
        return float(opt.param_groups[0]["lr"]) if opt is not None else float("nan")

    def eval_due(self) -> bool:
        """Evaluate now? Every ``eval.every_steps`` steps, else at each epoch end; always last."""
        assert self.plan_ is not None
        if not self.has_validation or self._last_eval == self.state.step:
            return False
        step = self.state.step
        if step >= self.total_steps:
            return True
        every = self.cfg.eval.every_steps
        if every:
            return step % every == 0
        return int(self.plan_.epoch_at(step)) > int(self.plan_.epoch_at(step - 1))

    @property
    def metric(self) -> str:
        return self.cfg.eval.metric or "loss"

    def end_eval(self, metrics: dict[str, float], model: Any) -> bool:
        """Record an evaluation, keep the best weights, decide on early stopping.

        Returns True when this evaluation is the best so far.
        """
        e = self.cfg.eval
        if self.metric not in metrics:
            raise ConfigError(
                f"eval.metric '{self.metric}' is not computed by this recipe",
                hint=f"choose one of: {', '.join(metrics)}",
            )
        self._last_eval = self.state.step
        self.state.eval.append({"step": self.state.step, **metrics})
        value = float(metrics[self.metric])
        lower = self.metric.lower() in LOWER_IS_BETTER
        best = self.state.best
        improved = best is None or (
            value < best - e.min_delta if lower else value > best + e.min_delta
        )
        if improved:
            self.state.best, self.state.best_step, self.state.bad_evals = value, self.state.step, 0
            if e.early_stopping_patience and e.restore_best and self.is_main:
                path = self.run_dir / BEST_FILE
                tmp = path.with_name(f".{BEST_FILE}.tmp")
                ckpt.save_trainable(self.accelerator.unwrap_model(model), tmp)
                tmp.replace(path)
        else:
            self.state.bad_evals += 1
            if e.early_stopping_patience and self.state.bad_evals >= e.early_stopping_patience:
                self.state.stopped_early = True
                self.say(
                    f"early stopping at step {self.state.step}: {self.metric} has not improved "
                    f"for {self.state.bad_evals} evaluations (best {best:.4f} at step "
                    f"{self.state.best_step})"
                )
        self._report_eval(f"step {self.state.step} eval", metrics)
        return improved

    def checkpoint_due(self) -> bool:
        every = self.cfg.checkpoint.every_steps
        return every is not None and self.state.step % every == 0 and self.running()

    def checkpoint(self, model: Any, optimizer: Any, scheduler: Any) -> Path:
        state = {
            "config": self.cfg.semantic_dict(),
            "config_hash": self.cfg.config_hash(),
            "world_size": self.accelerator.num_processes,
            "data": self.data,
            "micro_batches": self.state.step * self.cfg.optim.gradient_accumulation_steps,
            "epoch": self.plan_.epoch_at(self.state.step) if self.plan_ else None,
            "progress": self.state.__dict__,
        }
        path = ckpt.save(
            self.run_dir,
            self.state.step,
            accelerator=self.accelerator,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            state=state,
            keep=self.cfg.checkpoint.keep,
            sharded=self.sharded,
        )
        self._tick = time.perf_counter()
        return path

    # -- the end --------------------------------------------------------------------------------
    def finish(
        self,
        model: Any,
        tokenizer: Any,
        *,
        task: str,
        metrics: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> TrainResult:
        """Save the model (or adapter), tokenizer, curves and ``assay_training.json``."""
        from assay.finetune.lora import is_peft, merge_adapter
        from assay.finetune.plots import plot_curves
        from assay.finetune.run_card import write_run_card

        if self._bar is not None:
            self._bar.close()
        self.accelerator.wait_for_everyone()
        e = self.cfg.eval
        best_file = self.run_dir / BEST_FILE
        restored = False
        if (
            e.early_stopping_patience
            and e.restore_best
            and self.state.best_step not in (None, self.state.step)
            and best_file.is_file()
        ):
            ckpt.load_trainable(self.accelerator.unwrap_model(model), best_file)
            restored = True
            self.say(f"restored the weights of step {self.state.best_step} (best {self.metric})")
        final_metrics = dict(metrics or {})
        if not final_metrics and self.state.eval:
            chosen = next(
                (m for m in self.state.eval if m["step"] == self.state.best_step and restored),
                self.state.eval[-1],
            )
            final_metrics = {k: v for k, v in chosen.items() if k != "step"}
        record: dict[str, Any] = {}
        # Under FSDP/DeepSpeed every process takes part in gathering the full weights.
        full_state = self.accelerator.get_state_dict(model) if self.sharded else None
        if self.is_main:
            unwrapped = self.accelerator.unwrap_model(model)
            adapter = is_peft(unwrapped)
            if self.restore_use_cache:
                unwrapped.config.use_cache = True
            unwrapped.save_pretrained(self.run_dir, state_dict=full_state, safe_serialization=True)
            tokenizer.save_pretrained(self.run_dir)
            merged = None
            lora = getattr(self.cfg, "lora", None)
            if adapter and lora is not None and lora.merge:
                assert self.base_path is not None
                merged = merge_adapter(self.run_dir, base=self.base_path)
                self.say(f"merged the adapter into a plain model: {merged}")
            curves = {"train": self.state.train, "eval": self.state.eval}
            plot = plot_curves(
                curves, self.run_dir / PLOT_FILE, title=self.run_id, metric=self.metric
            )
            st = self.state
            record = run_record(
                self,
                task=task,
                metrics=final_metrics,
                adapter=adapter,
                merged=merged,
                plot=plot,
                restored=restored,
                curves=curves,
                extra=extra,
            )
            ckpt.write_json(self.run_dir / RECORD_FILE, record)
            # replaces the template README that peft writes next to an adapter
            write_run_card(self.run_dir, record)
            if best_file.exists():
                best_file.unlink()
            if not self.cfg.checkpoint.keep_after_training:
                shutil.rmtree(ckpt.checkpoints_dir(self.run_dir), ignore_errors=True)
            tps = record["training"]["tokens_per_s"]
            self.say(
                f"done: {st.step} steps, {st.tokens:,} tokens in {st.train_time_s:.1f}s"
                + (f" ({tps:,.0f} tokens/s)" if tps else "")
                + (
                    f"; {', '.join(f'{k} {v:.4f}' for k, v in final_metrics.items() if isinstance(v, float | int))}"
                    if final_metrics
                    else ""
                )
                + f"\nsaved to {self.run_dir} (load it as run:{self.run_id})"
            )
        self.accelerator.wait_for_everyone()
        if not record:
            record = read_record(self.run_dir) or {}
        return TrainResult(
            self.run_id,
            self.run_dir,
            final_metrics,
            record,
            self.state.resumed_from[0] if self.state.resumed_from else None,
        )


__all__ = [
    "BatchPlan",
    "Environment",
    "Session",
    "State",
    "TrainResult",
    "discard_unfinished",
    "lr_factor",
    "refuse_changed_config",
]
