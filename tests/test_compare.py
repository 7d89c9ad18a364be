"""Corpus metrics in paired comparisons: the metric recomputed on every resample, from summed
per-sample statistics that must reproduce the scorer's own corpus value exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assay import stats
from assay.errors import UserError
from assay.evals.compare import compare_runs, to_markdown
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.scorers import get_scorer
from assay.evals.scorers.classification import macro_f1
from assay.evals.task import TaskConfig
from assay.models.fake import scripted
from assay.stats.corpus import summed_statistic
from assay.workspace import Workspace

LABELS = ["business", "sport", "tech"]


def _resamples(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(k, n))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("macro_f1", {}),
        ("macro_f1", {"labels": ["business", "sport", "tech", "politics"]}),
        ("macro_precision", {"ignore_case": True}),
        ("macro_recall", {}),
    ],
)
def test_summed_statistics_reproduce_macro_metrics_on_resamples(
    name: str, options: dict[str, object]
) -> None:
    rng = np.random.default_rng(3)
    golds = list(rng.choice(LABELS, size=40, p=[0.6, 0.3, 0.1]))
    preds = [g if rng.random() < 0.6 else str(rng.choice([*LABELS, "Sport", "??"])) for g in golds]
    scorer = get_scorer(name, **options)
    summed = scorer.corpus_stats(preds, golds)
    assert summed is not None
    metric = summed_statistic(*summed)
    rows = _resamples(len(golds), 200, seed=4)
    got = metric(rows)
    want = [scorer.aggregate([preds[i] for i in r], [golds[i] for i in r]) for r in rows]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_summed_statistics_reproduce_bleu_chrf_and_perplexity() -> None:
    refs = [
        f"the {w} sat on the mat near {v}" for w, v in zip("abcdefghij", "klmnopqrst", strict=True)
    ]
    preds = [r if i % 3 else r.replace("the", "a", 1) + " again" for i, r in enumerate(refs)]
    rows = _resamples(len(refs), 30, seed=5)
    for name in ("bleu", "chrf"):
        scorer = get_scorer(name)
        summed = scorer.corpus_stats(preds, refs)
        assert summed is not None
        got = summed_statistic(*summed)(rows)
        want = [scorer.aggregate([preds[i] for i in r], [refs[i] for i in r]) for r in rows]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    lls = [{"logprob": -1.5 * (i + 1), "n_tokens": i + 2} for i in range(10)]
    ppl = get_scorer("perplexity")
    summed = ppl.corpus_stats(lls, [None] * 10)
    assert summed is not None
    got = summed_statistic(*summed)(rows)
    want = [ppl.aggregate([lls[i] for i in r], [None] * 10) for r in rows]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def _paired_null_world(rng: np.random.Generator, n: int) -> tuple[list[str], list[str], list[str]]:
    """Gold labels and two runs with the same skill: each sample has a difficulty both runs see,
    and each run errs on its own draw (so the runs are correlated but exchangeable)."""
    golds = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    easy = rng.random(n)
    runs = []
    for _ in range(2):
        right = rng.random(n) < 0.35 + 0.6 * easy
        wrong = (golds + rng.integers(1, 3, size=n)) % 3
        runs.append(np.where(right, golds, wrong))
    to_text = np.array(LABELS)
    return list(to_text[golds]), list(to_text[runs[0]]), list(to_text[runs[1]])


def test_paired_bootstrap_of_macro_f1_keeps_false_positive_rate_near_alpha() -> None:
    # 400 simulated pairs of equally good runs; a rate from K datasets has SE sqrt(a(1-a)/K).
    k, n, alpha = 400, 150, 0.05
    rng = np.random.default_rng(11)
    boot_rng = np.random.default_rng(12)
    scorer = get_scorer("macro_f1")
    rejections = 0
    for _ in range(k):
        golds, a, b = _paired_null_world(rng, n)
        summed = scorer.corpus_stats(a + b, golds + golds)
        assert summed is not None
        result = stats.paired_bootstrap(
            np.arange(n),
            np.arange(n) + n,
            summed_statistic(*summed),
            vectorized=True,
            n_resamples=400,
            method="percentile",
            seed=boot_rng,
        )
        assert result.a == pytest.approx(macro_f1(a, golds))
        rejections += result.p_value <= alpha
    rate = rejections / k
    tol = 3 * (alpha * (1 - alpha) / k) ** 0.5
    print(f"macro-F1 paired bootstrap false-positive rate: {rate:.4f}")
    assert abs(rate - alpha) <= tol


def test_paired_bootstrap_of_macro_f1_detects_a_real_difference() -> None:
    rng = np.random.default_rng(21)
    golds, a, _ = _paired_null_world(rng, 300)
    # B never predicts the rare class: same accuracy on the others, lower macro-F1.
    b = [p if p != "tech" else "business" for p in a]
    summed = get_scorer("macro_f1").corpus_stats(a + b, golds + golds)
    assert summed is not None
    result = stats.compare_corpus(summed_statistic(*summed), 300, vectorized=True, n_resamples=500)
    assert result.test == "paired-bootstrap-corpus"
    assert result.difference.value == pytest.approx(macro_f1(a, golds) - macro_f1(b, golds))
    assert result.p_value < 0.01 and result.difference.ci_low > 0
    assert result.mde is not None and 0 < result.mde < result.difference.value


# -- compare_runs on stored runs ---------------------------------------------------------------


def _news_task(tmp_path: Path, ids: list[str] | None = None) -> TaskConfig:
    ids = ids or [f"n{i}" for i in range(40)]
    rows = [
        {"id": rid, "text": f"story {i}", "label": LABELS[0 if i % 4 else 1 + i % 8 // 4]}
        for i, rid in enumerate(ids)
    ]
    path = tmp_path / f"news-{len(ids)}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return TaskConfig.model_validate(
        {
            "name": "news",
            "dataset": {"source": str(path), "id_field": "id"},
            "template": "{{ text }}",
            "target": "label",
            "scorers": ["accuracy", "macro_f1"],
        }
    )


def always_business(prompt: str) -> str:
    return "business"


def mostly_right(prompt: str) -> str:
    i = int(prompt.split("story ")[1].split()[0])
    return LABELS[0 if i % 4 else 1 + i % 8 // 4] if i % 5 else "sport"


def test_compare_runs_recomputes_corpus_metrics_on_resamples(tmp_path: Path) -> None:
    task = _news_task(tmp_path)
    base = evaluate(task, scripted([always_business]), EvalOptions(progress=False))
    other = evaluate(task, scripted([mostly_right]), EvalOptions(progress=False))
    rows = compare_runs(RunStore(Workspace.find()), [base.id, other.id])
    by_metric = {r.metric: r for r in rows}
    assert by_metric["accuracy"].result.test == "mcnemar-exact"
    corpus = by_metric["macro_f1"].result
    assert corpus.test == "paired-bootstrap-corpus" and corpus.n_shared == 40
    assert other.metrics is not None and base.metrics is not None
    f1_other = other.metrics["metrics"]["macro_f1"]["value"]
    f1_base = base.metrics["metrics"]["macro_f1"]["value"]
    # The corpus difference, not the difference of the per-sample correctness means.
    assert corpus.difference.value == pytest.approx(f1_other - f1_base)
    assert corpus.a.value == pytest.approx(f1_other) and corpus.b.value == pytest.approx(f1_base)
    accuracy_diff = by_metric["accuracy"].result.difference.value
    assert abs(corpus.difference.value - accuracy_diff) > 0.1
    assert "paired-bootstrap-corpus" in to_markdown(rows)


def test_compare_with_few_shared_samples_says_how_many(tmp_path: Path) -> None:
    a = evaluate(_news_task(tmp_path), scripted([always_business]), EvalOptions(progress=False))
    # The same data, 5 of its items.
    b = evaluate(
        _news_task(tmp_path), scripted([always_business]), EvalOptions(progress=False, limit=5)
    )
    for metric in ("accuracy", "macro_f1"):
        with pytest.raises(UserError, match=r"share only 5 sample\(s\) \(5 and 40 in each\)"):
            compare_runs(RunStore(Workspace.find()), [a.id, b.id], [metric])
