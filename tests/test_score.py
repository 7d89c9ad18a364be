"""``assay score`` and ``assay.score``: perplexity and per-token scores checked against a direct
torch computation on the tiny random Llama, paired comparisons, inputs and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import assay
from assay.models.facade import Model
from assay.scoring import Perplexity, TextPerplexity, compare_perplexity, read_texts
from cli_util import run_assay
from tiny_models import save_tiny_llama

TEXTS = [
    "The cat sat on the mat.",
    "Colourless green ideas sleep furiously, or so the linguists say.",
    "One, two, three, four.",
]


@pytest.fixture
def tiny(tiny_model_dir: Path) -> Model:
    return assay.load(f"hf:{tiny_model_dir}")


def _torch_logprobs(folder: Path, ids: list[int]):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits, dim=-1)


def test_perplexity_equals_exp_of_the_mean_nll(tiny: Model, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    result = assay.score(tiny, TEXTS)
    total_nll, total_n = 0.0, 0
    for text, scored in zip(TEXTS, result.texts, strict=True):
        # The first token is predicted from the start-of-text token, as lm-eval's rolling does.
        ids = [tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]
        logprobs = _torch_logprobs(tiny_model_dir, ids)
        nll = -float(sum(logprobs[i, ids[i + 1]] for i in range(len(ids) - 1)))
        n = len(ids) - 1
        assert scored.n_tokens == n
        assert scored.perplexity == pytest.approx(math.exp(nll / n), rel=1e-4)
        total_nll, total_n = total_nll + nll, total_n + n
    assert [t.id for t in result.texts] == ["1", "2", "3"]
    assert result.n_tokens == total_n
    assert result.perplexity == pytest.approx(math.exp(total_nll / total_n), rel=1e-4)
    interval = result.interval()
    assert interval is not None and interval.ci_low <= result.perplexity <= interval.ci_high


def test_continuation_tokens_and_top_k_match_torch(tiny: Model, tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    context, continuation = "The cat sat on the", " mat and purred"
    scored = assay.score_continuation(tiny, context, continuation, top_k=4)
    ids = tok(context + continuation)["input_ids"]
    n_context = len(tok(context)["input_ids"])
    logprobs = _torch_logprobs(tiny_model_dir, ids)
    assert [t.token for t in scored.tokens] == [tok.decode([i]) for i in ids[n_context:]]
    for t, position in zip(scored.tokens, range(n_context, len(ids)), strict=True):
        row = logprobs[position - 1]
        assert t.logprob == pytest.approx(float(row[ids[position]]), abs=1e-4)
        values, top_ids = torch.topk(row, 4)
        assert [a.token for a in t.top] == [tok.decode([i]) for i in top_ids.tolist()]
        assert [a.logprob for a in t.top] == pytest.approx(values.tolist(), abs=1e-4)
        assert t.is_top == (int(top_ids[0]) == ids[position])
    # The same continuation scored whole by the log-likelihood call.
    whole = tiny.loglikelihood([(context, continuation)])[0]
    assert scored.logprob == pytest.approx(whole.logprob, abs=1e-4)
    assert scored.n_tokens == whole.n_tokens
    # Trailing whitespace of the context belongs to the continuation, as in lm-eval.
    moved = assay.score_continuation(tiny, context + " ", continuation.lstrip(), top_k=0)
    assert moved.logprob == pytest.approx(scored.logprob, abs=1e-6)
    assert all(t.top == () for t in moved.tokens)


def test_token_scores_are_cached_and_logged_with_their_tokens(tiny: Model) -> None:
    first = tiny.prompt_logprobs(["The cat sat on the mat."], top=2)
    again = tiny.prompt_logprobs(["The cat sat on the mat."], top=2)
    assert first == again
    rows = list(tiny.workspace.db.execute("SELECT * FROM calls WHERE op = 'token_scores'"))
    assert [r["prompt_tokens"] for r in rows] == [len(first[0].tokens), 0]
    assert [r["cached"] for r in rows] == [0, 1]


def _result(model: str, values: dict[str, float]) -> Perplexity:
    texts = tuple(TextPerplexity(i, f"text {i}", -lp * 10, 10) for i, lp in values.items())
    return Perplexity(model, model, texts)


def test_paired_comparison_matches_texts_by_id() -> None:
    from assay.stats import compare

    before = {str(i): 3.0 + 0.1 * i for i in range(12)}
    after = {str(i): v - 0.2 - 0.01 * (int(i) % 3) for i, v in before.items()}
    # The same texts in another order: pairs are made by id, not by position.
    shuffled = dict(reversed(list(after.items())))
    got = compare_perplexity(_result("after", shuffled), _result("before", before))
    want = compare(after, before, test="bootstrap")
    assert got.n_shared == 12
    assert got.difference.value == pytest.approx(-0.21, abs=1e-9)
    assert got.difference.value == pytest.approx(want.difference.value)
    assert (got.difference.ci_low, got.difference.ci_high, got.p_value) == pytest.approx(
        (want.difference.ci_low, want.difference.ci_high, want.p_value)
    )
    assert got.difference.ci_high < 0
    changed = _result("before", before)
    texts = (TextPerplexity("0", "another text", -30.0, 10), *changed.texts[1:])
    with pytest.raises(assay.errors.UserError, match="not the same text"):
        compare_perplexity(_result("after", after), Perplexity("b", "b", texts))


def test_cli_compares_two_models_on_the_same_texts(
    tiny_model_dir: Path, smollm2_tokenizer_dir: Path, tmp_path: Path
) -> None:
    other = save_tiny_llama(tmp_path / "other", smollm2_tokenizer_dir, hidden_size=32)
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("\n\n".join(f"Sentence number {i} is here." for i in range(12)) + "\n")
    out_csv = tmp_path / "ppl.csv"
    code, out, err = run_assay(
        [
            "score",
            f"hf:{tiny_model_dir}",
            f"hf:{other}",
            "--input",
            str(held_out),
            "--json",
            "-o",
            str(out_csv),
        ]
    )
    assert code == 0, err
    data = json.loads(out)
    ids = [str(i) for i in range(1, 13)]
    assert [t["id"] for t in data["texts"]] == ids
    for model in data["models"]:
        assert [t["id"] for t in model["texts"]] == ids
        assert model["corpus"]["n_texts"] == 12
    (comparison,) = data["comparisons"]
    assert comparison["n_texts"] == 12 and 0 < comparison["p_value"] <= 1
    a, b = ([t["log_perplexity"] for t in m["texts"]] for m in data["models"])
    assert comparison["difference"] == pytest.approx(sum(b) / 12 - sum(a) / 12)
    rows = out_csv.read_text().splitlines()
    assert rows[0].startswith("model,id,n_tokens") and len(rows) == 1 + 24
    code, out, _ = run_assay(["score", f"hf:{tiny_model_dir}", f"hf:{other}", "-i", str(held_out)])
    assert code == 0 and "mean log-perplexity difference" in out and "p=" in out


def test_cli_tables(tiny_model_dir: Path) -> None:
    code, out, err = run_assay(["score", f"hf:{tiny_model_dir}", "The cat sat on the mat."])
    assert code == 0, err
    assert "corpus perplexity" in out and "The cat sat on the mat." in out
    code, out, err = run_assay(
        [
            "score",
            f"hf:{tiny_model_dir}",
            "--context",
            "The cat",
            "--continuation",
            " sat",
            "-k",
            "2",
        ]
    )
    assert code == 0, err
    assert "' sat'" in out and "total log-probability" in out


def test_reading_texts(tmp_path: Path) -> None:
    txt = tmp_path / "t.txt"
    txt.write_text("First paragraph,\nstill the first.\n\n  \nSecond one.\n")
    assert read_texts(str(txt)) == [
        ("1", "First paragraph,\nstill the first."),
        ("2", "Second one."),
    ]
    assert read_texts(str(txt), split="lines") == [
        ("1", "First paragraph,"),
        ("2", "still the first."),
        ("5", "Second one."),
    ]
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"id": "a", "text": "x y"}\n{"text": "z"}\n')
    assert read_texts(str(jsonl)) == [("a", "x y"), ("2", "z")]


@pytest.mark.parametrize(
    ("content", "suffix", "args", "message"),
    [
        (None, ".txt", [], "no such file"),
        ("", ".txt", [], "is empty"),
        ("\n\n", ".txt", [], "is empty"),
        ('{"txt": "x"}\n', ".jsonl", [], ":1: no text to score"),
        ("a b\n", ".txt", ["-o", "out.xlsx"], "use a .json or .csv"),
        ("a b\n", ".xlsx", [], "cannot tell the format"),
        ("id,text\n1,x\n1,y\n", ".csv", [], ":3: id '1' is also used at"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, content: str | None, suffix: str, args: list[str], message: str
) -> None:
    path = tmp_path / f"texts{suffix}"
    if content is not None:
        path.write_text(content)
    script = tmp_path / "fake.yaml"
    script.write_text("loglikelihoods: {' x': -1.0}\n")
    code, out, err = run_assay(["score", f"fake:{script}", "--input", str(path), *args])
    assert code == 2 and out == ""
    assert message in err and err.startswith("error: ") and "Traceback" not in err


def test_a_model_without_log_probabilities_is_refused() -> None:
    code, out, err = run_assay(["score", "fake:", "some text"])
    assert code == 2 and out == ""
    assert "gives no log-probabilities" in err and "hint:" in err
    code, _, err = run_assay(["score", "fake:"])
    assert code == 2 and "nothing to score" in err
