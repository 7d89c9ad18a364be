"""Evaluation throughput of assay against lm-evaluation-harness: same model, tasks and machine.

Both sides evaluate the same model folder (the default SmolLM2-135M-Instruct, converted once to
safetensors), on the same rows, with the same prompts, float32 on CPU:

* ``mc``        PubMedQA test questions with assay's built-in ``pubmedqa`` prompt (abstract,
                question, ``Answer:``), three one-token answers (yes / no / maybe) scored by
                log-likelihood. Long contexts, each shared by its three choices.
* ``mc-fewshot`` PubMedQA test questions (a seeded sample) with the same prompt and three worked
                examples in front (the train split's first ``yes``, ``no`` and ``maybe``
                question, each with its answer, laid out as lm-eval lays out few-shot examples:
                ``Answer: yes``, blank line between them): long contexts whose first several
                hundred tokens every question shares.
* ``mc-texts``  MMLU questions scored by their four answer texts (several tokens each), the way
                ARC- or HellaSwag-style tasks score: here the choices' continuations need more
                than the context's last logits.
* ``gen-fewshot`` The same with four worked solutions in front (GSM8K's answer format, as
                lm-eval's ``gsm8k`` task writes examples; test questions 1000-1003, as the
                packaged GSM8K has no train split), lm-eval's ``first_n`` sampler.
* ``bbq``       BBQ items (a seeded sample over the staged categories) with lm-eval's ``bbq``
                task: context, question, two people and ten phrasings of "unknown", each
                scored by log-likelihood after the shared context; assay's built-in ``bbq``
                task with ``answers=lm-eval``, lm-eval's own ``utils.py`` (its bias scores) on
                its side.
* ``crows``     CrowS-Pairs pairs (a seeded sample) as lm-eval's ``crows_pairs_english`` scores
                them: no context, the two sentences as continuations with no delimiter; assay's
                built-in ``crows-pairs`` task.
* ``truthfulqa`` TruthfulQA MC1 questions (a seeded sample) with lm-eval's ``truthfulqa_mc1``
                prompt (six worked questions in front) and answer list; assay's built-in
                ``truthfulqa-mc1`` task.
* ``gen``       GSM8K test questions, a raw ``Question: ... Answer:`` prompt, greedy
                generate-until (stops ``\\n\\n`` and ``Question:``, up to 128 new tokens), the last
                number extracted by a regex and compared with the gold answer.

Sides, each in its own Python process (so the peak RSS, ``ru_maxrss``, is that side's alone):
``assay`` (``evaluate``, response cache off), ``assay-unshared`` (the same with
``prefix_reuse=False``: one pass per choice; ``mc`` and ``mc-texts``), ``assay-no-prefix-cache``
(``mc-fewshot``, ``gen-fewshot``: the shared examples are not kept as a cache, every context
runs whole),
``assay-padded`` (the
same with scoring batches filled up to the logits budget whatever the padding, as before
:data:`assay.models.hf.PAD_SHARE`; multiple choice only) and ``lm-eval``
(``simple_evaluate`` on an ``HFLM`` over the same folder, task YAMLs over the same JSONL rows).
Each process loads the model, warms up on two samples, then runs the whole task once, timed.
Both use batch size 8 (lm-eval: rows per forward pass; assay: samples per model call, the
backend sizing its own passes). With ``--rounds N`` the processes alternate and the table shows
the median time.

**ratio** is assay's samples/s over lm-eval's (above 1: assay is faster; note that
``run.py``'s ratio is the other way round). Each side's whole ``evaluate`` /
``simple_evaluate`` call is timed (building requests, scoring, metrics, and for assay writing
each sample to the workspace); **ratio, model calls only** compares just the time spent inside
the log-likelihood or generation calls. Agreement is checked on the way: per-choice
log-likelihoods (max difference), identical predictions and accuracy, and for ``gen`` how many
greedy outputs and extracted answers are identical.

Targets: ``mc``, ``mc-fewshot``, ``mc-texts``, ``bbq`` and ``truthfulqa`` >= 2x lm-eval's
samples/s; ``crows`` (two short sentences, no shared context, so nothing to reuse), ``gen`` and
``gen-fewshot`` >= 1x with identical greedy outputs.

Usage::

    python benchmarks/eval_vs_lm_eval.py [--only mc,mc-fewshot,mc-texts,bbq,crows,truthfulqa,gen,gen-fewshot] [--quick] [--rounds N]
                                         [--threads N]

On a machine shared with other jobs, ``--threads 1`` gives steadier numbers: torch's worker
threads spin while they wait for a core.

Needs ``lm_eval`` (``pip install lm_eval``). The workspace (the one-time GGUF conversion) is
``benchmarks/.cache`` unless ``--home`` says otherwise. Results go to
``benchmarks/results/<name>-<timestamp>.json``; the markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import machine

HERE = Path(__file__).resolve().parent
DEFAULT_HOME = HERE / ".cache"
DEFAULT_PUBMEDQA = HERE.parents[1] / "shared" / "data" / "pubmedqa"
DEFAULT_BBQ = HERE.parents[1] / "shared" / "data" / "bbq" / "data"
DEFAULT_CROWS = HERE.parents[1] / "shared" / "data" / "crows_pairs"
DEFAULT_TRUTHFULQA = HERE.parents[1] / "shared" / "data" / "truthfulqa"
BATCH = 8
MC_TARGET = 2.0
GEN_TARGET = 1.0
NUMBER = r"(-?[0-9][0-9,]*(?:\.[0-9]+)?)"
GEN_TEMPLATE = "Question: {{ question }}\nAnswer:"
GEN_STOPS = ["\n\n", "Question:"]
TEXTS_TEMPLATE = (
    "The following is a multiple choice question about {{ subject }}.\n\n"
    "{{ question.strip() }}\nAnswer:"
)
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True)
class Plan:
    mc: int
    mc_fewshot: int
    mc_texts: int
    gen: int
    gen_fewshot: int
    max_tokens: int


DEFAULT_PLAN = Plan(mc=40, mc_fewshot=24, mc_texts=40, gen=20, gen_fewshot=20, max_tokens=128)
QUICK_PLAN = Plan(mc=12, mc_fewshot=8, mc_texts=12, gen=6, gen_fewshot=6, max_tokens=64)
SHOTS = 3
GEN_SHOTS = 4
"""Few-shot examples in ``mc-fewshot``: one per answer."""


@dataclass
class Side:
    side: str
    samples: int
    seconds: float
    model_s: float
    """Of ``seconds``, the time inside the model calls (log-likelihood or generation)."""
    load_s: float
    rss_after_load_mb: float
    peak_rss_mb: float
    accuracy: float
    runs: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.samples / self.seconds


@dataclass
class Row:
    bench: str
    samples: int
    assay: float
    """assay samples/s."""
    baseline: float
    """lm-eval samples/s."""
    ratio: float
    """assay's samples/s over lm-eval's (> 1: assay is faster)."""
    model_ratio: float
    """The same ratio for the time inside the model calls only."""
    target: str
    passed: bool
    assay_peak_mb: float
    baseline_peak_mb: float
    unshared: float | None = None
    """assay samples/s with prefix_reuse=False (multiple choice only)."""
    padded: float | None = None
    """assay samples/s with batches padded up to the budget (multiple choice only)."""
    no_prefix: float | None = None
    """assay samples/s without the shared few-shot prefix cache (``mc-fewshot`` only)."""
    agreement: str = ""


# -- the tasks, written once for both sides -------------------------------------------------------
def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def lm_eval_yaml(tasks_dir: Path, name: str, data: Path, **config: Any) -> None:
    import yaml

    files = {"test": str(data)}
    if config.get("fewshot_split"):
        files[config["fewshot_split"]] = str(data.parent / f"{config['fewshot_split']}.jsonl")
    body = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": files},
        "test_split": "test",
        **config,
    }
    (tasks_dir / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


MC_METRICS = [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]


def prepare(bench: str, plan: Plan, work: Path, pubmedqa_dir: Path) -> dict[str, Any]:
    """Rows as JSONL, the assay task config and the lm-eval task YAML for one benchmark."""
    from assay.evals.builtin_data import gsm8k, load_builtin, pubmedqa
    from assay.evals.datasets import select
    from assay.evals.task import (
        DatasetConfig,
        ExtractConfig,
        FewShotConfig,
        GenerationConfig,
        TaskConfig,
        load_task,
    )

    tasks_dir = work / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    data = work / f"{bench}.jsonl"
    name = "bench_" + bench.replace("-", "_")
    task: TaskConfig
    if bench in ("mc", "mc-fewshot"):
        fields = ("id", "question", "context", "target")
        test = pubmedqa(pubmedqa_dir)
        if bench == "mc":
            picked = test.rows[: plan.mc]
        else:  # the split's first rows are all "yes": a seeded sample has every label
            picked = select(test, limit=plan.mc_fewshot, shuffle=True, seed=0).rows
        rows = [{k: r[k] for k in fields} for r in picked]
        write_jsonl(data, rows)
        task = load_task("pubmedqa").with_overrides(dataset={"source": str(data)})
        assert task.template is not None and isinstance(task.choices, list)
        config: dict[str, Any] = {
            "output_type": "multiple_choice",
            # assay drops the newline a YAML block scalar leaves; lm-eval's files have none.
            "doc_to_text": task.template.removesuffix("\n"),
            "doc_to_choice": task.choices,
            "doc_to_target": task.target,
            "metric_list": MC_METRICS,
        }
        if bench == "mc-fewshot":
            train = pubmedqa(pubmedqa_dir, split="train").rows
            # The first train question with each answer, in the choices' order.
            shots = [next(r for r in train if r["target"] == c) for c in task.choices]
            pool = write_jsonl(work / "fewshot.jsonl", [{k: r[k] for k in fields} for r in shots])
            task = task.with_overrides(
                fewshot={"k": SHOTS, "method": "first", "pool": {"source": str(pool)}}
            )
            config |= {
                "fewshot_split": "fewshot",
                "num_fewshot": SHOTS,
                "fewshot_config": {"sampler": "first_n"},
            }
        lm_eval_yaml(tasks_dir, name, data, **config)
    elif bench == "bbq":
        import shutil

        import lm_eval
        import yaml

        from assay.evals.bbq_data import bbq

        picked = select(bbq(DEFAULT_BBQ, answers="lm-eval"), limit=plan.mc, shuffle=True, seed=0)
        rows = [dict(r) for r in picked.rows]
        write_jsonl(data, rows)
        task = load_task("bbq").with_overrides(dataset={"builtin": None, "source": str(data)})
        upstream = Path(lm_eval.__file__).parent / "tasks" / "bbq"
        shutil.copy(upstream / "utils.py", tasks_dir / "utils.py")
        spec = yaml.safe_load(
            (upstream / "bbq_multiple_choice.yaml").read_text().replace("!function ", "")
        )
        lm_eval_yaml(
            tasks_dir,
            name,
            data,
            **{k: spec[k] for k in ("output_type", "doc_to_text", "metric_list")},
        )
        path = tasks_dir / f"{name}.yaml"
        text = path.read_text().replace("aggregation: utils.", "aggregation: !function utils.")
        functions = {
            "process_docs": "process_docs",
            "process_results": "process_results_multiple_choice",
            "doc_to_target": "doc_to_target",
            "doc_to_choice": "doc_to_choice",
        }
        path.write_text(text + "".join(f"{k}: !function utils.{v}\n" for k, v in functions.items()))
    elif bench == "crows":
        from assay.evals.bias_data import crows_pairs

        picked = select(crows_pairs(DEFAULT_CROWS), limit=plan.mc, shuffle=True, seed=0)
        rows = [dict(r) for r in picked.rows]
        write_jsonl(data, rows)
        task = load_task("crows-pairs").with_overrides(
            dataset={"builtin": None, "source": str(data)}
        )
        lm_eval_yaml(
            tasks_dir,
            name,
            data,
            output_type="multiple_choice",
            doc_to_text="",
            doc_to_choice="{{[sent_more, sent_less]}}",
            doc_to_target=0,
            target_delimiter="",
            metric_list=MC_METRICS,
        )
    elif bench == "truthfulqa":
        from assay.evals.truthfulqa_data import truthfulqa

        picked = select(truthfulqa(DEFAULT_TRUTHFULQA), limit=plan.mc, shuffle=True, seed=0)
        rows = [dict(r) for r in picked.rows]
        write_jsonl(data, rows)
        task = load_task("truthfulqa-mc1").with_overrides(
            dataset={"builtin": None, "source": str(data)}
        )
        assert task.template is not None
        lm_eval_yaml(
            tasks_dir,
            name,
            data,
            output_type="multiple_choice",
            doc_to_text=task.template.removesuffix("\n"),
            doc_to_choice="{{mc1_choices}}",
            doc_to_target=0,
            metric_list=MC_METRICS,
        )
    elif bench == "mc-texts":
        picked = select(load_builtin("mmlu"), limit=plan.mc_texts, shuffle=True, seed=0).rows
        rows = [dict(r) for r in picked]
        write_jsonl(data, rows)
        task = load_task("mmlu").with_overrides(
            dataset={"source": str(data)}, template=TEXTS_TEMPLATE, choice_format=" {{ choice }}"
        )
        lm_eval_yaml(
            tasks_dir,
            name,
            data,
            output_type="multiple_choice",
            doc_to_text=TEXTS_TEMPLATE,
            doc_to_choice="{{ choices }}",
            doc_to_target=task.target,
            metric_list=MC_METRICS,
        )
    else:
        fields = ("id", "question", "answer", "target")
        test = gsm8k().rows
        n = plan.gen if bench == "gen" else plan.gen_fewshot
        rows = [{k: r[k] for k in fields} for r in test[:n]]
        write_jsonl(data, rows)
        task = TaskConfig(
            name="gsm8k-raw",
            kind="generate",
            chat=False,
            dataset=DatasetConfig(source=str(data)),
            template=GEN_TEMPLATE,
            target="target",
            generation=GenerationConfig(
                max_tokens=plan.max_tokens, temperature=0.0, stop=GEN_STOPS
            ),
            extract=ExtractConfig(strategy="regex", args={"pattern": NUMBER, "select": "last"}),
            scorers=["exact_match"],
        )
        shots: dict[str, Any] = {}
        if bench == "gen-fewshot":
            # Worked solutions as examples; the packaged GSM8K is the test split only, so they
            # are test questions far from the evaluated ones.
            pool = [{k: r[k] for k in fields} for r in test[1000 : 1000 + GEN_SHOTS]]
            source = write_jsonl(work / "fewshot.jsonl", pool)
            task = task.model_copy(
                update={
                    "fewshot": FewShotConfig(
                        k=GEN_SHOTS,
                        method="first",
                        pool=DatasetConfig(source=str(source)),
                        output="answer",
                    )
                }
            )
            shots = {
                "fewshot_split": "fewshot",
                "num_fewshot": GEN_SHOTS,
                "fewshot_config": {"sampler": "first_n", "doc_to_target": "{{ answer }}"},
            }
        lm_eval_yaml(
            tasks_dir,
            name,
            data,
            **shots,
            output_type="generate_until",
            doc_to_text=GEN_TEMPLATE,
            doc_to_target="target",
            generation_kwargs={
                "until": GEN_STOPS,
                "do_sample": False,
                "max_gen_toks": plan.max_tokens,
            },
            filter_list=[
                {
                    "name": "last_number",
                    "filter": [
                        {"function": "regex", "regex_pattern": NUMBER, "group_select": -1},
                        {"function": "take_first"},
                    ],
                }
            ],
            metric_list=[
                {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}
            ],
        )
    return {
        "bench": bench,
        "kind": task.kind,
        "n": len(rows),
        "task": task.model_dump(mode="json"),
        "tasks_dir": str(tasks_dir),
        "lm_eval_task": name,
    }


# -- one side, in its own process -----------------------------------------------------------------
def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class CallTimer:
    """Adds up the wall time spent in some methods of an object (the model calls)."""

    def __init__(self, obj: Any, *names: str) -> None:
        self.seconds = 0.0
        for name in names:
            setattr(obj, name, self._timed(getattr(obj, name)))

    def _timed(self, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def child_assay(spec: dict[str, Any]) -> dict[str, Any]:
    import assay
    from assay.config import Settings
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.runs import RunStore
    from assay.evals.task import TaskConfig
    from assay.workspace import Workspace

    start = time.perf_counter()
    model = assay.load(
        f"hf:{spec['folder']}",
        workspace=Workspace(Path(spec["workdir"]) / "assay-ws"),
        settings=Settings(cache=False),
    )
    model.backend.prefix_reuse = spec["side"] != "assay-unshared"  # type: ignore[attr-defined]
    if spec["side"] == "assay-padded":
        from assay.models import hf

        hf.PAD_TOKENS = 1 << 30  # any padding goes: batches fill up to the logits budget
    if spec["side"] == "assay-no-prefix-cache":
        from assay.models import shared_prefix

        shared_prefix.MIN_TOKENS = 1 << 30  # no prefix is ever long enough to keep
    load_s = time.perf_counter() - start
    rss_load = _rss_mb()
    task = TaskConfig.model_validate(spec["task"])
    quiet = EvalOptions(progress=False, limit=2, rerun=True)
    evaluate(task, model, quiet, on_status=lambda _: None)  # warm-up
    timer = CallTimer(model.backend, "loglikelihood", "generate")
    start = time.perf_counter()
    run = evaluate(
        task,
        model,
        EvalOptions(progress=False, batch_size=BATCH, rerun=True),
        on_status=lambda _: None,
    )
    seconds = time.perf_counter() - start
    samples = RunStore(model.workspace).samples(run.id)
    assert run.metrics is not None
    metric = "mc_acc" if spec["kind"] == "multiple_choice" else "exact_match"
    if spec["bench"] == "crows":  # lm-eval's acc with target 0 (the stereotyping sentence)
        metric = "pct_stereotype"
    if spec["kind"] == "multiple_choice":
        outputs: list[Any] = [s["loglikelihoods"] for s in samples]
    else:
        outputs = [[s["output"], s["extracted"] if s["extraction_ok"] else None] for s in samples]
    return {
        "seconds": seconds,
        "model_s": timer.seconds,
        "load_s": load_s,
        "rss_after_load_mb": rss_load,
        "peak_rss_mb": _peak_mb(),
        "accuracy": run.metrics["metrics"][metric]["value"],
        "ids": [s["id"] for s in samples],
        "outputs": outputs,
    }


def child_lm_eval(spec: dict[str, Any]) -> dict[str, Any]:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    start = time.perf_counter()
    lm = HFLM(pretrained=spec["folder"], device="cpu", batch_size=BATCH, dtype="float32")
    load_s = time.perf_counter() - start
    rss_load = _rss_mb()
    manager = TaskManager(include_path=spec["tasks_dir"], include_defaults=False)
    name = spec["lm_eval_task"]
    common: dict[str, Any] = {"task_manager": manager, "bootstrap_iters": 0, "verbosity": "ERROR"}
    simple_evaluate(model=lm, tasks=[name], limit=2, log_samples=False, **common)  # warm-up
    timer = CallTimer(lm, "loglikelihood", "generate_until")
    start = time.perf_counter()
    out = simple_evaluate(model=lm, tasks=[name], log_samples=True, **common)
    seconds = time.perf_counter() - start
    assert out is not None
    samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
    results = out["results"][name]
    if spec["kind"] == "multiple_choice":
        outputs: list[Any] = [[r[0][0] for r in s["resps"]] for s in samples]
        accuracy = results["acc,none"]
    else:
        outputs = [
            [
                s["resps"][0][0],
                None if s["filtered_resps"][0] == "[invalid]" else s["filtered_resps"][0],
            ]
            for s in samples
        ]
        accuracy = results["exact_match,last_number"]
    return {
        "seconds": seconds,
        "model_s": timer.seconds,
        "load_s": load_s,
        "rss_after_load_mb": rss_load,
        "peak_rss_mb": _peak_mb(),
        "accuracy": accuracy,
        "ids": [str(s["doc"]["id"]) for s in samples],
        "outputs": outputs,
    }


def run_child(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    spec_file = workdir / f"spec-{spec['bench']}-{spec['side']}.json"
    out_file = spec_file.with_suffix(".out.json")
    spec_file.write_text(json.dumps({**spec, "workdir": str(workdir)}))
    env = {**os.environ, **OFFLINE, "HF_DATASETS_CACHE": str(workdir / "hf-datasets")}
    if spec.get("threads"):
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(spec["threads"])
    print(f"running {spec['bench']} / {spec['side']} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(spec_file), "--out", str(out_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['side']} on {spec['bench']} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out_file.read_text())
    return result


# -- comparing and reporting ----------------------------------------------------------------------
def agreement(kind: str, ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[str, bool]:
    if ours["ids"] != theirs["ids"]:
        return "sample ids differ", False
    pairs = list(zip(ours["outputs"], theirs["outputs"], strict=True))
    if kind == "multiple_choice":
        worst = max(abs(a - b) for x, y in pairs for a, b in zip(x, y, strict=True))
        same = sum(
            max(range(len(x)), key=lambda i: (x[i], -i))
            == max(range(len(y)), key=lambda i: (y[i], -i))
            for x, y in pairs
        )
        ok = worst <= 1e-4 and same == len(pairs)
        return f"max |dll| {worst:.1e}; {same}/{len(pairs)} predictions equal", ok
    texts = sum(x[0] == y[0] for x, y in pairs)
    answers = sum(x[1] == y[1] for x, y in pairs)
    return (
        f"{texts}/{len(pairs)} greedy outputs identical; {answers}/{len(pairs)} extracted equal",
        texts == len(pairs),
    )


def summarise(results: list[dict[str, Any]], side: str, n: int) -> Side:
    seconds = [r["seconds"] for r in results]
    return Side(
        side=side,
        samples=n,
        seconds=statistics.median(seconds),
        model_s=statistics.median(r["model_s"] for r in results),
        load_s=statistics.median(r["load_s"] for r in results),
        rss_after_load_mb=max(r["rss_after_load_mb"] for r in results),
        peak_rss_mb=max(r["peak_rss_mb"] for r in results),
        accuracy=results[0]["accuracy"],
        runs=seconds,
    )


def markdown(rows: list[Row]) -> str:
    lines = [
        "| benchmark | samples | assay (samples/s) | lm-eval (samples/s) | ratio | target | result "
        "| ratio, model calls only | peak RSS assay / lm-eval (MB) | assay unshared (samples/s) "
        "| assay padded (samples/s) | assay, no prefix cache (samples/s) | agreement |",
        "|---|---:|---:|---:|---:|---|---|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        unshared = f"{r.unshared:.2f}" if r.unshared is not None else "-"
        padded = f"{r.padded:.2f}" if r.padded is not None else "-"
        no_prefix = f"{r.no_prefix:.2f}" if r.no_prefix is not None else "-"
        lines.append(
            f"| {r.bench} | {r.samples} | {r.assay:.2f} | {r.baseline:.2f} | {r.ratio:.2f}x "
            f"| {r.target} | {'pass' if r.passed else 'FAIL'} | {r.model_ratio:.2f}x "
            f"| {r.assay_peak_mb:.0f} / {r.baseline_peak_mb:.0f} | {unshared} | {padded} "
            f"| {no_prefix} | {r.agreement} |"
        )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    return machine.environment(("assay", "torch", "transformers", "lm_eval", "datasets"))


def model_folder(home: Path) -> Path:
    """The default model's converted safetensors folder (converting the GGUF once)."""
    from assay.config import DEFAULT_ALIASES
    from assay.models.fingerprint import file_sha256
    from assay.models.gguf_convert import convert_gguf
    from assay.models.registry import local_path
    from assay.workspace import Workspace

    workspace = Workspace(home)
    path = local_path(DEFAULT_ALIASES["default"].removeprefix("hf:"))
    return convert_gguf(path, file_sha256(path, workspace), workspace)


BENCHES = ("mc", "mc-fewshot", "mc-texts", "bbq", "crows", "truthfulqa", "gen", "gen-fewshot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer samples and tokens")
    parser.add_argument("--rounds", type=int, default=1, help="processes per side (median)")
    parser.add_argument("--name", default="eval-vs-lm-eval", help="result file name prefix")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="assay workspace")
    parser.add_argument("--model-dir", type=Path, help="a model folder instead of the default")
    parser.add_argument("--pubmedqa", type=Path, default=DEFAULT_PUBMEDQA, help="data folder")
    parser.add_argument(
        "--threads", type=int, help="torch threads on both sides (default: torch's choice)"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        spec = json.loads(args.child.read_text())
        fn = child_lm_eval if spec["side"] == "lm-eval" else child_assay
        args.out.write_text(json.dumps(fn(spec)))
        return 0

    benches = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in benches if b not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    import importlib.util

    if importlib.util.find_spec("lm_eval") is None:
        parser.error("lm_eval is not installed: pip install lm_eval")
    os.environ.update(OFFLINE)
    plan = QUICK_PLAN if args.quick else DEFAULT_PLAN
    folder = args.model_dir.resolve() if args.model_dir else model_folder(args.home.resolve())

    rows: list[Row] = []
    details: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="assay-vs-lm-eval-") as tmp:
        work = Path(tmp)
        for bench in benches:
            spec = prepare(bench, plan, work, args.pubmedqa)
            spec["folder"] = str(folder)
            spec["threads"] = args.threads
            sides = ["assay", "lm-eval"]
            if bench in ("mc-fewshot", "gen-fewshot"):
                # One pass per choice over ~1,200 tokens would take longer than the rest together.
                sides += ["assay-no-prefix-cache"]
            elif spec["kind"] == "multiple_choice":
                sides += ["assay-unshared", "assay-padded"]
            raw: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
            for r in range(args.rounds):
                # Alternate the order so slow drift on a shared machine hits both sides.
                for side in sides if r % 2 == 0 else sides[::-1]:
                    raw[side].append(run_child({**spec, "side": side}, work))
            summary = {s: summarise(raw[s], s, spec["n"]) for s in sides}
            ours, theirs = summary["assay"], summary["lm-eval"]
            text, agreed = agreement(spec["kind"], raw["assay"][0], raw["lm-eval"][0])
            same_acc = ours.accuracy == theirs.accuracy
            text += f"; accuracy {ours.accuracy:.3f} vs {theirs.accuracy:.3f}"
            ratio = ours.rate / theirs.rate
            target = MC_TARGET if spec["kind"] == "multiple_choice" else GEN_TARGET
            if bench == "crows":  # no context to share: both sides run the same passes
                target = GEN_TARGET
            rows.append(
                Row(
                    bench=bench,
                    samples=spec["n"],
                    assay=ours.rate,
                    baseline=theirs.rate,
                    ratio=ratio,
                    model_ratio=theirs.model_s / ours.model_s,
                    target=f">= {target:.1f}x",
                    passed=ratio >= target and agreed and same_acc,
                    assay_peak_mb=ours.peak_rss_mb,
                    baseline_peak_mb=theirs.peak_rss_mb,
                    unshared=summary["assay-unshared"].rate
                    if "assay-unshared" in summary
                    else None,
                    padded=summary["assay-padded"].rate if "assay-padded" in summary else None,
                    no_prefix=summary["assay-no-prefix-cache"].rate
                    if "assay-no-prefix-cache" in summary
                    else None,
                    agreement=text,
                )
            )
            details[bench] = {
                "sides": {s: asdict(v) | {"rate": v.rate} for s, v in summary.items()},
                "agreement": text,
                "agreed": agreed,
                "same_accuracy": same_acc,
                "outputs": {s: raw[s][0]["outputs"] for s in sides if spec["kind"] == "generate"},
            }

    table = markdown(rows)
    print(table)
    machine.save(
        args.name,
        {
            "plan": asdict(plan),
            "batch_size": BATCH,
            "rounds": args.rounds,
            "threads": args.threads,
            "model": str(folder),
            "elapsed_s": round(time.perf_counter() - started, 1),
            "environment": environment(),
            "results": [asdict(r) for r in rows],
            "details": details,
            "table": table,
        },
    )
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
