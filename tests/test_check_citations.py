"""Fabricated references: reading references out of model outputs, bibliographies (BibTeX,
CSL-JSON) and their errors, matching verdicts, the rate's interval, the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.checks.bibliography import load_bibliography
from assay.checks.citations import check_references, match_reference
from assay.checks.record import CheckStore
from assay.checks.references import extract_references, parse_reference
from assay.errors import UserError
from assay.workspace import Workspace
from cli_util import run_assay

ANSWER = """Here are some key references on bias in language models:

1. Nangia, N., Vania, C., Bhalerao, R., & Bowman, S. R. (2020). CrowS-Pairs: A challenge dataset for measuring social biases in masked language models. *Proceedings of EMNLP*, 1953–1967. https://doi.org/10.18653/v1/2020.emnlp-main.154
2. Parrish, A., Chen, A., Nangia, N., et al. (2022). BBQ: A hand-built bias benchmark for question answering. In Findings of ACL.
3. **Attention Is All You Need** by Vaswani et al. (2017) - introduced the transformer.
   - Summary: a new architecture based on attention, 2017.
4. Ashish Vaswani, Noam Shazeer, Niki Parmar, and Jakob Uszkoreit. 2017. Attention is all you need. In Advances in Neural Information Processing Systems.
[5] T. Brown, B. Mann, and N. Ryder, "Language models are few-shot learners," in Proc. NeurIPS, 2020, pp. 1877–1901.
- Smith J, Doe A. Deep learning for cats. J Feline Stud. 2019;12(3):45-67.
- Lin, S., Hilton, J., & Evans, O. (2022). TruthfulQA: Measuring how models mimic human falsehoods. Proceedings of the 60th Annual Meeting of the ACL,
  3214–3252.
* doi:10.21105/jose.00300

These papers show that models are biased (Smith et al., 2020).
Kahneman, D. (2011). *Thinking, fast and slow*. Farrar, Straus and Giroux.
"""

BIB = r"""@inproceedings{nangia2020,
  title = {{CrowS}-Pairs: A Challenge Dataset for Measuring Social Biases in Masked Language Models},
  author = {Nangia, Nikita and Vania, Clara and Bhalerao, Rasika and Bowman, Samuel R.},
  year = {2020},
  booktitle = {Proceedings of EMNLP},
  doi = {10.18653/v1/2020.emnlp-main.154}
}

@inproceedings{vaswani2017,
  title = {Attention Is All You Need},
  author = {Ashish Vaswani and Noam Shazeer and Niki Parmar},
  year = 2017,
  booktitle = {NeurIPS}
}

@inproceedings{lin2022,
  title = {{TruthfulQA}: Measuring How Models Mimic Human Falsehoods},
  author = {Lin, Stephanie and Hilton, Jacob and Evans, Owain},
  year = {2022},
  booktitle = {ACL}
}

@book{kahneman2011,
  title = {Thinking, Fast and Slow},
  author = {Kahneman, Daniel},
  year = {2011},
  publisher = {Farrar, Straus and Giroux}
}

@article{muller2019,
  title = {Zur {\"U}bersetzung von Fachtexten},
  author = {M{\"u}ller, J{\"o}rg},
  year = {2019},
  journal = {Lebende Sprachen}
}
"""


def fields(text: str) -> list[tuple]:
    return [(r.title, r.authors[:2], r.year, r.doi) for r in extract_references(text)]


def test_references_in_the_styles_models_write() -> None:
    refs = extract_references(ANSWER, "a1")
    got = {r.line: r for r in refs}
    assert sorted(got) == [3, 4, 5, 7, 8, 9, 10, 12, 15]  # not the intro, sub-bullet or prose
    apa = got[3]
    assert apa.title and apa.title.startswith("CrowS-Pairs: A challenge dataset")
    assert apa.authors == ["Nangia", "Vania", "Bhalerao", "Bowman"] and apa.year == 2020
    assert apa.doi == "10.18653/v1/2020.emnlp-main.154" and apa.venue == "Proceedings of EMNLP"
    assert (got[4].authors[:3], got[4].venue) == (["Parrish", "Chen", "Nangia"], "Findings of ACL")
    assert (got[5].title, got[5].authors, got[5].year) == (
        "Attention Is All You Need",
        ["Vaswani"],
        2017,
    )
    acl = got[7]
    assert (acl.title, acl.authors[:2], acl.year) == (
        "Attention is all you need",
        ["Vaswani", "Shazeer"],
        2017,
    )
    ieee = got[8]
    assert (ieee.title, ieee.authors, ieee.year, ieee.venue) == (
        "Language models are few-shot learners",
        ["Brown", "Mann", "Ryder"],
        2020,
        "Proc. NeurIPS",
    )
    vancouver = got[9]
    assert (vancouver.title, vancouver.authors, vancouver.year) == (
        "Deep learning for cats",
        ["Smith", "Doe"],
        2019,
    )
    wrapped = got[10]  # its pages are on the next line
    assert wrapped.title == "TruthfulQA: Measuring how models mimic human falsehoods"
    assert "3214" in wrapped.raw
    assert (got[12].title, got[12].doi) == (None, "10.21105/jose.00300")
    book = got[15]
    assert (book.title, book.authors, book.year) == ("Thinking, fast and slow", ["Kahneman"], 2011)
    assert all(r.output_id == "a1" for r in refs)


@pytest.mark.parametrize(
    "text",
    [
        "Here are five references on climate models:",
        "Smith et al. (2020) showed that bias grows with model size.",
        "1. Transformers are widely used.",
        "- See the 2019 survey.",
    ],
)
def test_prose_is_not_a_reference(text: str) -> None:
    assert parse_reference(text) is None


def test_bibtex_latex_names_and_fields(tmp_path: Path) -> None:
    (tmp_path / "refs.bib").write_text(BIB, encoding="utf-8")
    entries = {e.key: e for e in load_bibliography(tmp_path / "refs.bib")}
    assert entries["nangia2020"].title == (
        "CrowS-Pairs: A Challenge Dataset for Measuring Social Biases in Masked Language Models"
    )
    assert entries["nangia2020"].authors == ["Nangia", "Vania", "Bhalerao", "Bowman"]
    assert entries["vaswani2017"].authors[0] == "Vaswani" and entries["vaswani2017"].year == 2017
    assert entries["muller2019"].title == "Zur Übersetzung von Fachtexten"
    assert entries["muller2019"].authors == ["Müller"]
    assert entries["kahneman2011"].source == "refs.bib:23"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "@article{ok, title={Fine}, year={2020}}\n\n@inproceedings{broken,\n  year = 2019,\n"
            "  title = {Missing brace,\n  author = {X, Y},\n}\n\n@misc{later, title={Later}}\n",
            "refs.bib:5: the @inproceedings entry 'broken' does not parse in field 'title'",
        ),
        (
            '@article{q,\n  title = "Unclosed quote,\n  year = 2020}\n@article{b, title={ok}}\n',
            "refs.bib:2: the @article entry 'q' does not parse in field 'title'",
        ),
        (
            "@article{dup, title={One}, title={Two}}\n",
            "refs.bib:1: the @article entry 'dup' has the field 'title' twice",
        ),
        (
            "@article{a, title={One}}\n@article{notitle,\n  author={Doe, J.}, year={2020}}\n",
            "refs.bib:2: the @article entry 'notitle' has no field 'title'",
        ),
        ("no entries here\n", "refs.bib: no BibTeX entries"),
    ],
)
def test_bibtex_that_does_not_parse_names_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "refs.bib"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_bibliography(path)
    assert message in str(err.value)


def test_csl_json_and_its_errors(tmp_path: Path) -> None:
    items = [
        {
            "id": "lin2022",
            "type": "paper-conference",
            "title": "TruthfulQA: Measuring How Models Mimic Human Falsehoods",
            "author": [{"family": "Lin", "given": "Stephanie"}, {"family": "Hilton"}],
            "issued": {"date-parts": [[2022, 5]]},
            "container-title": ["ACL"],
            "DOI": "10.18653/V1/2022.ACL-LONG.229",
        }
    ]
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(items))
    (entry,) = load_bibliography(path)
    assert (entry.authors, entry.year, entry.venue, entry.doi) == (
        ["Lin", "Hilton"],
        2022,
        "ACL",
        "10.18653/v1/2022.acl-long.229",
    )
    path.write_text('[\n  {"title": "x",, }\n]')
    with pytest.raises(UserError, match=r"refs.json:2: not valid JSON"):
        load_bibliography(path)
    path.write_text(json.dumps([{"title": "A"}, {"author": [{"family": "B"}]}]))
    with pytest.raises(UserError, match=r"refs.json item 2: no field 'title'"):
        load_bibliography(path)
    path.write_text(json.dumps([{"title": "A", "author": "Doe"}]))
    with pytest.raises(UserError, match=r"item 1: field 'author' is not a list"):
        load_bibliography(path)


@pytest.fixture
def bib(tmp_path: Path) -> Path:
    path = tmp_path / "refs.bib"
    path.write_text(BIB, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "verdict", "wrong"),
    [
        ("Vaswani, A. (2017). Attention is all you need. NeurIPS.", "found", []),
        ("Vaswani, A. (2017). Attention is al you need. NeurIPS.", "found", []),  # a typo
        ("Vaswani, A. (2019). Attention is all you need. NeurIPS.", "partial", ["year 2019"]),
        ("Smith, J. (2017). Attention is all you need. NeurIPS.", "partial", ["author Smith"]),
        (
            "Lin, S. (2022). TruthfulQA: Measuring how models mimic human falsehoods. ACL.",
            "found",
            [],
        ),
        ("Lin, S. (2022). TruthfulQA. ACL.", "not_found", []),  # one word: no title read, no DOI
        (
            "Mueller, J. (2019). Zur Ubersetzung von Fachtexten. Lebende Sprachen.",
            "found",
            [],
        ),
        (
            'Nangia et al., "A study of parrots," 2020, doi:10.18653/v1/2020.emnlp-main.154',
            "partial",
            ["title"],
        ),
        (
            "Doe, J. (2021). Neural methods for predicting the weather on Mars. Nature.",
            "not_found",
            [],
        ),
    ],
)
def test_verdicts(bib: Path, line: str, verdict: str, wrong: list[str]) -> None:
    entries = load_bibliography(bib)
    ref = parse_reference(line)
    if ref is None:
        assert verdict == "not_found"
        return
    m = match_reference(ref, entries)
    assert m.verdict == verdict, (m.wrong, m.title_similarity)
    for w in wrong:
        assert any(x.startswith(w) for x in m.wrong), m.wrong


def test_the_rate_and_its_interval(bib: Path) -> None:
    entries = load_bibliography(bib)
    real = "1. Vaswani, A. (2017). Attention is all you need. NeurIPS."
    fake = "2. Doe, J. (2021). Neural methods for predicting the weather on Mars. Nature."
    one = check_references([("a", f"{real}\n{fake}")], entries, subject="x", bibliography="b")
    rate = one.rate("not_found")
    assert (rate.value, rate.method, rate.n) == (0.5, "wilson", 2)
    outputs = [(str(i), real + ("\n" + fake if i % 2 else "")) for i in range(12)]
    many = check_references(outputs, entries, subject="x", bibliography="b")
    rate = many.rate("not_found")
    assert rate.value == pytest.approx(6 / 18)
    assert rate.method == "bootstrap-percentile"  # resampled by output, not by reference
    assert 0 < rate.ci_low < rate.value < rate.ci_high < 1
    check = many.to_check()
    assert check.status == "flagged" and check.figures["fabricated_rate"] is not None
    assert "6 of 18 references not found" in check.headline
    none = check_references(
        [("a", "No references, sorry.")], entries, subject="x", bibliography="b"
    )
    assert none.to_check().status == "inconclusive" and none.to_check().figures == {}


def test_command_records_the_check(bib: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "answers.jsonl"
    outputs.write_text(
        json.dumps({"id": "q1", "answer": ANSWER}) + "\n" + json.dumps({"id": "q2", "answer": ""})
    )
    code, out, err = run_assay(["check", "citations", str(outputs), "--bib", str(bib)])
    assert code == 0, err
    assert "citations: flagged: 4 of 9 references not found in refs.bib" in out
    assert "recorded check-citations-" in out
    (check,) = CheckStore(Workspace.find()).list()
    full = CheckStore(Workspace.find()).get(check.id)
    assert len(full.items) == 9 and full.provenance.get("packages")
    code, out, _ = run_assay(["runs", "list"])
    assert code == 0 and "[check]" in out and check.id in out and "fabricated_rate" in out
    code, out, _ = run_assay(["runs", "list", "--json"])
    assert json.loads(out)[-1]["type"] == "check"


def test_command_bad_input_writes_nothing(bib: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "answers.jsonl"
    outputs.write_text(json.dumps({"id": "q1", "reply": ANSWER}) + "\n")
    code, _, err = run_assay(["check", "citations", str(outputs), "--bib", str(bib)])
    assert code == 2
    assert "answers.jsonl:1: no field 'output' or 'text'" in err and "--field" in err
    assert "Traceback" not in err
    broken = tmp_path / "broken.bib"
    broken.write_text("@article{a,\n  title = {Open,\n  year = 2020\n}\n@article{b, title={B}}\n")
    code, _, err = run_assay(
        ["check", "citations", str(outputs), "--bib", str(broken), "--field", "reply"]
    )
    assert code == 2 and "broken.bib:2:" in err and "field 'title'" in err
    assert len(err.strip().splitlines()) == 2  # the error and its hint
    assert CheckStore(Workspace.find()).list() == []
