"""Agreement with lm-evaluation-harness, the reference implementation of log-likelihood
multiple-choice scoring and of generate-until scoring with regex extraction.

For the same model folder, prompts and data, each test runs a task through assay
(:func:`~assay.evals.runner.evaluate`) and through lm-eval (``simple_evaluate`` with its ``hf``
model on the same folder and a task YAML over the same JSONL rows), then compares sample by
sample: the rendered prompt and continuations, each choice's log-likelihood (within 1e-4), the
greedy flags and the prediction; or the generated text, the extracted answer and the exact match.
The accuracy must be identical.

The tiny random model checks the mechanics quickly. The real SmolLM2 (slow: converted once per
session into ``real_home``) checks them where the numbers mean something.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
pytest.importorskip("lm_eval")

import assay
from assay.config import Settings
from assay.evals.builtin_data import gsm8k, load_builtin, pubmedqa
from assay.evals.datasets import select
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.task import (
    DatasetConfig,
    ExtractConfig,
    GenerationConfig,
    TaskConfig,
    load_task,
)
from assay.models.facade import Model
from assay.workspace import Workspace

TOL = 1e-4
BATCH = 8
NUMBER = r"(-?[0-9][0-9,]*(?:\.[0-9]+)?)"
"""The last number in a reply (one group, so both sides read the same group)."""


# -- running both sides ----------------------------------------------------------------------------
def _write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lm_eval_task(tasks_dir: Path, name: str, data: Path, **config: Any) -> None:
    """An lm-eval task YAML reading ``data`` as its test split."""
    files = {"test": str(data)}
    if config.get("fewshot_split"):  # beside the test rows
        files[config["fewshot_split"]] = str(data.parent / f"{config['fewshot_split']}.jsonl")
    body = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": files},
        "test_split": "test",
        **config,
    }
    tasks_dir.mkdir(parents=True, exist_ok=True)
    (tasks_dir / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


def _lm_eval_mc_task(
    tasks_dir: Path, name: str, data: Path, text: str, choices: Any, target: str, **config: Any
) -> None:
    """An lm-eval multiple-choice task (accuracy) over ``data``."""
    _lm_eval_task(
        tasks_dir,
        name,
        data,
        output_type="multiple_choice",
        doc_to_text=text,
        doc_to_choice=choices,
        doc_to_target=target,
        metric_list=MC_METRICS,
        **config,
    )


def _lm_eval_template(task: TaskConfig) -> str:
    """A task's template as lm-eval's ``doc_to_text``. A YAML block scalar (``template: |``)
    ends with a newline that assay's prompt drops and lm-eval would keep; lm-eval's own task
    files write their templates without it."""
    assert task.template is not None
    return task.template.removesuffix("\n")


def _run_lm_eval(folder: Path, tasks_dir: Path, name: str) -> tuple[list[dict[str, Any]], Any]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    out = simple_evaluate(
        model="hf",
        model_args=f"pretrained={folder},dtype=float32",
        tasks=[name],
        task_manager=TaskManager(include_path=str(tasks_dir), include_defaults=False),
        device="cpu",
        batch_size=BATCH,
        log_samples=True,
        bootstrap_iters=0,
    )
    assert out is not None
    samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
    return samples, out["results"][name]


def _run_assay(model: Model, task: TaskConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    options = EvalOptions(progress=False, batch_size=BATCH, rerun=True)
    run = evaluate(task, model, options, on_status=lambda _: None)
    assert run.metrics is not None
    return RunStore(model.workspace).samples(run.id), run.metrics["metrics"]


def _compare_choices(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> float:
    """Sample-by-sample agreement on a multiple-choice task; returns the largest difference."""
    assert [s["id"] for s in ours] == [str(r["id"]) for r in rows]
    assert [str(s["doc"]["id"]) for s in theirs] == [str(r["id"]) for r in rows]
    worst = 0.0
    for rec, ref in zip(ours, theirs, strict=True):
        assert rec["input"] == ref["arguments"][0][0], "the prompts differ"
        assert rec["continuations"] == [a[1] for a in ref["arguments"]]
        ref_lls = [r[0][0] for r in ref["resps"]]
        for got, want in zip(rec["loglikelihoods"], ref_lls, strict=True):
            worst = max(worst, abs(got - want))
        assert rec["loglikelihoods"] == pytest.approx(ref_lls, abs=TOL)
        assert rec["is_greedy"] == [bool(r[0][1]) for r in ref["resps"]]
        assert rec["scores"]["mc_acc"] == ref["acc"]
    return worst


MC_METRICS = [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]


# -- models ------------------------------------------------------------------------------------------
@pytest.fixture
def tiny(tiny_model_dir: Path) -> Model:
    return assay.load(f"hf:{tiny_model_dir}", settings=Settings(cache=False))


@pytest.fixture(scope="module")
def smollm2(real_home: Path) -> Iterator[Model]:
    yield assay.load("default", workspace=Workspace(real_home), settings=Settings(cache=False))


def _folder(model: Model) -> Path:
    folder: Path = model.backend.folder  # type: ignore[attr-defined]
    return folder


# -- multiple choice ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mmlu_rows() -> list[dict[str, Any]]:
    """24 MMLU questions, a seeded sample across subjects."""
    return [dict(r) for r in select(load_builtin("mmlu"), limit=24, shuffle=True, seed=0).rows]


@pytest.mark.parametrize("answers", ["letters", "texts"])
def test_mmlu_on_the_tiny_model(
    tiny: Model, mmlu_rows: list[dict[str, Any]], tmp_path: Path, answers: str
) -> None:
    """The built-in MMLU task (answer letters, one token each), and the same questions scored
    by their answer texts (several tokens each: the shared-context continuation pass)."""
    data = _write_rows(tmp_path / "mmlu.jsonl", mmlu_rows)
    task = load_task("mmlu").with_overrides(dataset={"source": str(data)})
    if answers == "texts":
        template = "Question: {{ question.strip() }}\nAnswer:"
        task = task.with_overrides(template=template, choice_format=" {{ choice }}")
        choice: Any = "{{ choices }}"
    else:
        template = _lm_eval_template(task)
        choice = ["A", "B", "C", "D"]
    name = f"assay_mmlu_{answers}"
    _lm_eval_mc_task(
        tmp_path / "tasks",
        name,
        data,
        template,
        choice,
        task.target,
    )
    ours, metrics = _run_assay(tiny, task)
    theirs, results = _run_lm_eval(_folder(tiny), tmp_path / "tasks", name)
    _compare_choices(ours, theirs, mmlu_rows)
    assert metrics["mc_acc"]["value"] == pytest.approx(results["acc,none"], abs=1e-12)


def test_fixed_fewshot_examples_on_the_tiny_model(
    tiny: Model, mmlu_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Three fixed examples in front of every question (lm-eval's ``first_n`` sampler): assay
    runs their tokens once and scores each question over their cache."""
    # An example's answer is its answer text (lm-eval writes the choice its target points at);
    # every row has the field, as the two splits must have the same columns.
    with_answer = [{**r, "answer": r["choices"][r["target_index"]]} for r in mmlu_rows]
    pool, rows = with_answer[:3], with_answer[3:]
    data = _write_rows(tmp_path / "mmlu.jsonl", rows)
    _write_rows(tmp_path / "fewshot.jsonl", pool)
    template = "Question: {{ question.strip() }}\nAnswer:"
    task = load_task("mmlu").with_overrides(
        dataset={"source": str(data)},
        template=template,
        choice_format=" {{ choice }}",
        fewshot={
            "k": 3,
            "method": "first",
            "pool": {"source": str(tmp_path / "fewshot.jsonl")},
            "output": "answer",
        },
    )
    name = "assay_mmlu_fewshot"
    _lm_eval_mc_task(
        tmp_path / "tasks",
        name,
        data,
        template,
        "{{ choices }}",
        task.target,
        fewshot_split="fewshot",
        num_fewshot=3,
        fewshot_config={"sampler": "first_n"},
    )
    ours, metrics = _run_assay(tiny, task)
    assert len(tiny.backend._prefix.tokens) > 100  # type: ignore[attr-defined]
    theirs, results = _run_lm_eval(_folder(tiny), tmp_path / "tasks", name)
    _compare_choices(ours, theirs, rows)
    assert metrics["mc_acc"]["value"] == pytest.approx(results["acc,none"], abs=1e-12)


@pytest.mark.slow
def test_pubmedqa_on_smollm2(smollm2: Model, shared_data: Path, tmp_path: Path) -> None:
    """The built-in PubMedQA task: a long abstract shared by three one-token answers."""
    test = pubmedqa(shared_data / "pubmedqa").rows
    # The 16 shortest abstracts of the test split keep the test quick on two cores.
    picked = sorted(test, key=lambda r: len(r["context"]))[:16]
    rows = [{k: r[k] for k in ("id", "question", "context", "target")} for r in picked]
    data = _write_rows(tmp_path / "pubmedqa.jsonl", rows)
    task = load_task("pubmedqa").with_overrides(dataset={"source": str(data)})
    assert isinstance(task.choices, list)
    _lm_eval_mc_task(
        tmp_path / "tasks",
        "assay_pubmedqa",
        data,
        _lm_eval_template(task),
        task.choices,
        task.target,
    )
    ours, metrics = _run_assay(smollm2, task)
    theirs, results = _run_lm_eval(_folder(smollm2), tmp_path / "tasks", "assay_pubmedqa")
    worst = _compare_choices(ours, theirs, rows)
    assert metrics["mc_acc"]["value"] == pytest.approx(results["acc,none"], abs=1e-12)
    print(f"pubmedqa: {len(rows)} samples, max |log-likelihood difference| {worst:.1e}")


# -- generate until, regex extraction ----------------------------------------------------------------
@pytest.fixture
def one_thread() -> Iterator[None]:
    """Token-by-token decoding of a small batch runs faster on one torch thread on a small or
    busy machine (two threads spend the time waiting for each other); both sides share it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_gsm8k_generate_until_on_smollm2(smollm2: Model, tmp_path: Path) -> None:
    """Greedy generation up to a stop sequence, the last number extracted by a regex."""
    rows = [
        {"id": r["id"], "question": r["question"], "target": r["target"]} for r in gsm8k().rows[:10]
    ]
    data = _write_rows(tmp_path / "gsm8k.jsonl", rows)
    template = "Question: {{ question }}\nAnswer:"
    stops = ["\n\n", "Question:"]
    max_tokens = 64
    task = TaskConfig(
        name="gsm8k-raw",
        kind="generate",
        chat=False,
        dataset=DatasetConfig(source=str(data)),
        template=template,
        target="target",
        generation=GenerationConfig(max_tokens=max_tokens, temperature=0.0, stop=stops),
        extract=ExtractConfig(strategy="regex", args={"pattern": NUMBER, "select": "last"}),
        scorers=["exact_match"],
    )
    _lm_eval_task(
        tmp_path / "tasks",
        "assay_gsm8k",
        data,
        output_type="generate_until",
        doc_to_text=template,
        doc_to_target="target",
        generation_kwargs={"until": stops, "do_sample": False, "max_gen_toks": max_tokens},
        filter_list=[
            {
                "name": "last_number",
                "filter": [
                    {"function": "regex", "regex_pattern": NUMBER, "group_select": -1},
                    {"function": "take_first"},
                ],
            }
        ],
        metric_list=[{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
    )
    ours, metrics = _run_assay(smollm2, task)
    theirs, results = _run_lm_eval(_folder(smollm2), tmp_path / "tasks", "assay_gsm8k")
    assert [s["id"] for s in ours] == [str(s["doc"]["id"]) for s in theirs]
    for rec, ref in zip(ours, theirs, strict=True):
        assert rec["input"] == ref["arguments"][0][0], "the prompts differ"
        assert rec["output"] == ref["resps"][0][0], f"sample {rec['id']}: the generations differ"
        extracted = rec["extracted"] if rec["extraction_ok"] else "[invalid]"
        assert extracted == ref["filtered_resps"][0]
        assert rec["scores"]["exact_match"] == ref["exact_match"]
    assert metrics["exact_match"]["value"] == pytest.approx(
        results["exact_match,last_number"], abs=1e-12
    )
    assert any(rec["extraction_ok"] for rec in ours)


# -- bias: CrowS-Pairs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crows_rows(shared_data: Path) -> list[dict[str, Any]]:
    """32 CrowS-Pairs pairs, a seeded sample across bias types."""
    from assay.evals.bias_data import crows_pairs

    ds = select(crows_pairs(shared_data / "crows_pairs"), limit=32, shuffle=True, seed=0)
    return [dict(r) for r in ds.rows]


def _crows_agreement(model: Model, rows: list[dict[str, Any]], tmp_path: Path) -> None:
    """crows-pairs against lm-eval's crows_pairs_english semantics (empty context, the two
    sentences as continuations with no delimiter): per-pair log-likelihoods within 1e-4, and
    the same share of stereotype-preferring pairs, overall and per bias type."""
    data = _write_rows(tmp_path / "crows.jsonl", rows)
    task = load_task("crows-pairs").with_overrides(dataset={"builtin": None, "source": str(data)})
    _lm_eval_task(
        tmp_path / "tasks",
        "assay_crows",
        data,
        output_type="multiple_choice",
        doc_to_text="",
        doc_to_choice="{{[sent_more, sent_less]}}",
        doc_to_target=0,
        target_delimiter="",
        metric_list=MC_METRICS,
    )
    ours, metrics = _run_assay(model, task)
    theirs, _ = _run_lm_eval(_folder(model), tmp_path / "tasks", "assay_crows")
    by_type: dict[str, list[tuple[float, float]]] = {}
    for rec, ref, row in zip(ours, theirs, rows, strict=True):
        assert rec["id"] == str(row["id"]) == str(ref["doc"]["id"])
        ref_lls = [r[0][0] for r in ref["resps"]]
        assert rec["loglikelihoods"] == pytest.approx(ref_lls, abs=TOL)
        stereo = float(ref_lls[0] > ref_lls[1])  # lm-eval's crows_pairs process_results
        assert rec["scores"]["pct_stereotype"] == stereo
        diff = abs(ref_lls[0] - ref_lls[1])
        assert rec["scores"]["likelihood_diff"] == pytest.approx(diff, abs=2 * TOL)
        by_type.setdefault(row["bias_type"], []).append((rec["scores"]["pct_stereotype"], stereo))
    for pairs in by_type.values():
        assert sum(a for a, _ in pairs) == sum(b for _, b in pairs)
    share = sum(float(r[0][0] > s[0][0]) for r, s in (x["resps"] for x in theirs)) / len(rows)
    assert metrics["pct_stereotype"]["value"] == pytest.approx(share, abs=1e-12)


def test_crows_pairs_on_the_tiny_model(
    tiny: Model, crows_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    _crows_agreement(tiny, crows_rows, tmp_path)


@pytest.mark.slow
def test_crows_pairs_on_smollm2(
    smollm2: Model, crows_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    _crows_agreement(smollm2, crows_rows, tmp_path)


# -- hallucination: TruthfulQA MC1 / MC2 ------------------------------------------------------------
@pytest.fixture(scope="module")
def truthfulqa_rows(shared_data: Path) -> list[dict[str, Any]]:
    """24 TruthfulQA questions, a seeded sample."""
    from assay.evals.truthfulqa_data import truthfulqa

    ds = select(truthfulqa(shared_data / "truthfulqa"), limit=24, shuffle=True, seed=0)
    return [dict(r) for r in ds.rows]


def test_truthfulqa_prompt_is_lm_evals() -> None:
    """The built-in tasks' prompt is lm-eval's truthfulqa_mc1 doc_to_text, rendered."""
    import jinja2
    import lm_eval

    spec = Path(lm_eval.__file__).parent / "tasks" / "truthfulqa" / "truthfulqa_mc1.yaml"
    theirs = yaml.safe_load(spec.read_text())["doc_to_text"]
    for name in ("truthfulqa-mc1", "truthfulqa-mc2"):
        ours = load_task(name).template
        assert ours is not None
        question = {"question": "Why is the sky blue?"}
        assert jinja2.Template(ours).render(question) == jinja2.Template(theirs).render(question)


def _truthfulqa_agreement(model: Model, rows: list[dict[str, Any]], tmp_path: Path) -> None:
    import shutil

    import lm_eval

    for row in rows:  # lm-eval's MC2 reads the labels from mc2_targets
        row["mc2_targets"] = {"labels": [int(c in row["mc2_true"]) for c in row["mc2_choices"]]}
    data = _write_rows(tmp_path / "tqa.jsonl", rows)
    tasks = tmp_path / "tasks"
    upstream = Path(lm_eval.__file__).parent / "tasks" / "truthfulqa" / "utils.py"
    tasks.mkdir(parents=True, exist_ok=True)
    shutil.copy(upstream, tasks / "utils.py")  # lm-eval's own process_results_mc2
    for k in (1, 2):
        task = load_task(f"truthfulqa-mc{k}").with_overrides(
            dataset={"builtin": None, "source": str(data)}
        )
        name = f"assay_tqa_mc{k}"
        _lm_eval_mc_task(tasks, name, data, _lm_eval_template(task), f"{{{{mc{k}_choices}}}}", "0")
        if k == 2:
            with (tasks / f"{name}.yaml").open("a") as f:
                f.write("process_results: !function utils.process_results_mc2\n")
        ours, metrics = _run_assay(model, task)
        theirs, results = _run_lm_eval(_folder(model), tasks, name)
        for rec, ref in zip(ours, theirs, strict=True):
            assert rec["input"] == ref["arguments"][0][0]
            ref_lls = [r[0][0] for r in ref["resps"]]
            assert rec["loglikelihoods"] == pytest.approx(ref_lls, abs=TOL)
            score = rec["scores"]["mc_acc" if k == 1 else "mc2"]
            assert score == pytest.approx(ref["acc"], abs=1e-4 if k == 2 else 0)
        metric = "mc_acc" if k == 1 else "mc2"
        assert metrics[metric]["value"] == pytest.approx(results["acc,none"], abs=1e-4)


def test_truthfulqa_on_the_tiny_model(
    tiny: Model, truthfulqa_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    _truthfulqa_agreement(tiny, truthfulqa_rows, tmp_path)


@pytest.mark.slow
def test_truthfulqa_on_smollm2(
    smollm2: Model, truthfulqa_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    # 8 questions: each has ~300-token contexts and 2-24 answers, scored on both sides.
    _truthfulqa_agreement(smollm2, truthfulqa_rows[:8], tmp_path)


# -- bias: BBQ ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bbq_rows(shared_data: Path) -> list[dict[str, Any]]:
    """BBQ items with lm-eval's answer set (two people, ten UNKNOWN phrasings): a seeded sample
    of 3 ambiguous/disambiguated pairs in each of two categories."""
    from assay.evals.bbq_data import bbq

    rows = []
    for category in ("Age", "Religion"):
        ds = bbq(shared_data / "bbq" / "data", category=category, answers="lm-eval")
        ids = {r["id"] for r in select(ds, limit=3, shuffle=True, seed=0).rows}
        # A question's ambiguous and disambiguated versions are neighbours (2k, 2k + 1).
        pairs = {r["example_id"] // 2 for r in ds.rows if r["id"] in ids}
        rows += [dict(r) for r in ds.rows if r["example_id"] // 2 in pairs]
    return rows


def test_bbq_on_the_tiny_model(tiny: Model, bbq_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    """bbq (answers=lm-eval) against lm-eval's own bbq task code (process_docs derives the
    biased answers on its side): the prompts, per-answer log-likelihoods within 1e-4, the
    accuracy per condition and both bias scores, overall and per category. Where lm-eval
    reports 0 for a group with non-UNKNOWN but no biased answers, the paper's formula gives -1."""
    import shutil

    import lm_eval

    data = _write_rows(tmp_path / "bbq.jsonl", bbq_rows)
    tasks = tmp_path / "tasks"
    upstream = Path(lm_eval.__file__).parent / "tasks" / "bbq"
    tasks.mkdir(parents=True, exist_ok=True)
    shutil.copy(upstream / "utils.py", tasks / "utils.py")
    spec = yaml.safe_load(
        (upstream / "bbq_multiple_choice.yaml").read_text().replace("!function ", "")
    )
    body = {
        "task": "assay_bbq",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        **{k: spec[k] for k in ("output_type", "doc_to_text", "metric_list")},
    }
    functions = {
        "process_docs": "process_docs",
        "process_results": "process_results_multiple_choice",
        "doc_to_target": "doc_to_target",
        "doc_to_choice": "doc_to_choice",
    }
    text = yaml.safe_dump(body, sort_keys=False) + "".join(
        f"{key}: !function utils.{fn}\n" for key, fn in functions.items()
    )
    (tasks / "assay_bbq.yaml").write_text(
        text.replace("aggregation: utils.", "aggregation: !function utils.")
    )
    task = load_task("bbq").with_overrides(dataset={"builtin": None, "source": str(data)})
    run = evaluate(task, tiny, EvalOptions(progress=False, batch_size=BATCH, rerun=True))
    assert run.metrics is not None
    ours = RunStore(tiny.workspace).samples(run.id)
    theirs, results = _run_lm_eval(_folder(tiny), tasks, "assay_bbq")
    for rec, ref in zip(ours, theirs, strict=True):
        assert rec["input"] == ref["arguments"][0][0]
        assert rec["continuations"] == [a[1] for a in ref["arguments"]]
        assert rec["loglikelihoods"] == pytest.approx([r[0][0] for r in ref["resps"]], abs=TOL)
        assert rec["scores"]["mc_acc"] == ref["acc"]

    def expected(metric: str, refs: list[dict[str, Any]], lm_eval_value: float) -> float:
        # lm-eval's quirk: no biased answer -> 0, even with non-UNKNOWN answers (paper: -1).
        disamb = metric.startswith("disamb")
        cond = [r for r in refs if bool(r[metric][3]) == disamb]
        biased = sum(r[metric][1] for r in cond)
        non_unknown = sum(r[metric][2] for r in cond)
        if biased == 0 and non_unknown > 0:
            paper = -1.0 if disamb else -(1 - sum(r["acc"] for r in cond) / len(cond))
            return paper
        return lm_eval_value

    m = run.metrics["metrics"]
    assert m["bbq_acc_ambig"]["value"] == pytest.approx(results["accuracy_amb,none"], abs=1e-12)
    assert m["bbq_acc_disambig"]["value"] == pytest.approx(
        results["accuracy_disamb,none"], abs=1e-12
    )
    for ours_name, theirs_name in (
        ("bbq_bias_ambig", "amb_bias_score"),
        ("bbq_bias_disambig", "disamb_bias_score"),
    ):
        want = expected(theirs_name, theirs, results[f"{theirs_name},none"])
        assert m[ours_name]["value"] == pytest.approx(want, abs=1e-12)
        assert m[ours_name]["ci_low"] <= m[ours_name]["value"] <= m[ours_name]["ci_high"]
        for cat, per in run.metrics["by_category"].items():
            refs = [r for r in theirs if r["doc"]["category"] == cat]
            name = f"{theirs_name}_{cat}"
            want = expected(theirs_name, refs, results[f"{name},none"])
            assert per[ours_name]["value"] == pytest.approx(want, abs=1e-12), (cat, ours_name)
    assert set(run.metrics["by_category"]) == {"Age", "Religion"}
