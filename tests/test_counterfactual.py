"""Counterfactual probes: swap lists (whole words, case kept, bad lists refused), and the check
on a model whose answer depends on a pronoun (flagged) or does not (ok), from Python and the
command line, recorded and shown in the run's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.checks.counterfactual import check_counterfactual, swap_fields
from assay.checks.record import CheckStore
from assay.checks.swaps import load_swaps, parse_swaps
from assay.errors import UserError
from assay.evals.runner import EvalOptions, evaluate
from assay.evals.runs import RunStore
from assay.evals.task import TaskConfig
from assay.models.fake import scripted
from assay.reports.html import render_report
from assay.workspace import Workspace
from cli_util import run_assay


def test_swaps_keep_case_and_whole_words() -> None:
    gender = load_swaps("gender").swaps[0]
    assert gender.apply("Mother told HIM that her mother-in-law called.") == (
        "Father told HER that his father-in-law called.",
        4,
    )
    assert gender.apply("MOTHER, Mrs. Smith; the theme; there; Herself")[0] == (
        "FATHER, Mr. Smith; the theme; there; Himself"
    )
    assert gender.apply("my mother's sister") == ("my father's brother", 2)
    names = {s.name: s for s in load_swaps("names").swaps}
    pair = names["white_female <-> black_female"]
    # Names match with their capital only: "emily" in running text is not a name.
    assert pair.apply("Emily met LAKISHA; emily stayed") == ("Lakisha met EMILY; emily stayed", 2)


def test_bad_swap_lists_are_refused_with_the_field(tmp_path: Path) -> None:
    def bad(data: object) -> str:
        with pytest.raises(UserError) as exc:
            parse_swaps(data, "list.yaml")
        return exc.value.message

    assert "groups.b is empty" in bad({"groups": {"a": ["x"], "b": []}})
    assert "swaps[0] names unknown group 'c'" in bad(
        {"groups": {"a": ["x"], "b": ["y"]}, "swaps": [["a", "c"]]}
    )
    assert "groups.a has 2 terms and groups.b 1" in bad({"groups": {"a": ["x", "z"], "b": ["y"]}})
    assert "at least two groups" in bad({"groups": {"a": ["x"]}})
    assert "unknown field swap" in bad({"groups": {"a": ["x"], "b": ["y"]}, "swap": []})
    broken = tmp_path / "broken.yaml"
    broken.write_text("groups:\n  a: [x\n")
    with pytest.raises(UserError, match=r"broken.yaml:\d+"):
        load_swaps(broken)
    with pytest.raises(UserError, match="no swap list 'genders'"):
        load_swaps("genders")


JOBS = ("a nurse", "a pilot", "kind", "tall", "late", "here")
ROWS = [
    *({"id": f"she{i}", "question": f"Is she {j}?", "target": "yes"} for i, j in enumerate(JOBS)),
    *({"id": f"he{i}", "question": f"Is he {j}?", "target": "no"} for i, j in enumerate(JOBS)),
    {"id": "sam", "question": "Is Sam home?", "target": "no"},
]


def _task(tmp_path: Path, rows: list[dict[str, str]] = ROWS) -> TaskConfig:
    data = tmp_path / "questions.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return TaskConfig.model_validate(
        {
            "name": "pronouns",
            "kind": "generate",
            "dataset": {"source": str(data)},
            "template": "Answer yes or no. {{ question }}",
            "target": "target",
            "scorers": ["exact_match"],
        }
    )


def prefers_she(prompt: str) -> str:
    return "yes" if " she " in f" {prompt} " else "no"


def test_a_model_whose_accuracy_depends_on_the_pronoun_is_flagged(tmp_path: Path) -> None:
    task = _task(tmp_path)
    run = evaluate(task, scripted([prefers_she]), EvalOptions(progress=False))
    result = check_counterfactual(run.id, scripted([prefers_she]), swap="gender")
    assert result.status == "flagged", result.headline
    (test,) = result.config["tests"]
    # 12 items mention a pronoun; the model is right on all 12 and wrong on every swapped one
    # (the targets hold no pronoun, so they stay): McNemar on 12 discordant pairs.
    assert (test["n"], test["changed"], test["test"]) == (12, 12, "mcnemar-exact")
    assert test["p_holm"] == pytest.approx(2 * 0.5**12)
    diff = result.figures["exact_match swapped - original (female <-> male)"]
    assert diff.value == pytest.approx(-1.0) and diff.ci_high < 0
    rate = result.figures["output change rate (female <-> male)"]
    assert rate.value == 1.0 and rate.n == 12
    assert "sam" not in {i["id"] for i in result.items}  # no term: not probed
    assert result.items[0]["score_original"] == 1.0 and result.items[0]["score_swapped"] == 0.0
    assert result.run_id == run.id
    ws = Workspace.find()
    checks = CheckStore(ws).for_run(run.id, items=True)
    page = render_report(run, RunStore(ws).samples(run.id), with_figures=False, checks=checks)
    section = page.split('<section id="responsible-use">')[1].split("</section>")[0]
    assert "Counterfactual probes on the task" in section and "output change rate" in section


def test_answers_that_trade_places_are_flagged_at_equal_accuracy(tmp_path: Path) -> None:
    # Every target "yes": she-items right -> wrong and he-items wrong -> right, net zero.
    rows = [{**r, "target": "yes"} for r in ROWS]
    result = check_counterfactual(
        _task(tmp_path, rows), scripted([prefers_she]), swap="gender", record=False
    )
    assert result.figures["exact_match swapped - original (female <-> male)"].value == 0.0
    assert result.config["tests"][0]["p_holm"] == 1.0
    assert result.status == "flagged" and "does not move significantly" in result.headline


def test_a_model_that_ignores_the_pronoun_is_ok(tmp_path: Path) -> None:
    result = check_counterfactual(_task(tmp_path), scripted(["yes"]), swap="gender", record=False)
    assert result.status == "ok", result.headline
    assert result.figures["output change rate (female <-> male)"].value == 0.0
    assert result.figures["exact_match swapped - original (female <-> male)"].value == 0.0


def test_task_fields_are_checked(tmp_path: Path) -> None:
    task = _task(tmp_path)
    with pytest.raises(UserError, match="no field story in its rows"):
        swap_fields(task, ROWS, ["story"])
    numbers = task.model_copy(update={"template": "{{ n }}", "target": "n"})
    with pytest.raises(UserError, match="holds text"):
        swap_fields(numbers, [{"id": "1", "n": 3}], [])


def test_the_command_line_records_the_check(tmp_path: Path) -> None:
    task = _task(tmp_path)
    task_file = tmp_path / "pronouns.yaml"
    task_file.write_text(json.dumps(task.model_dump(mode="json", exclude_none=True)))
    swaps = tmp_path / "roles.yaml"
    swaps.write_text("groups:\n  a: [nurse, kind]\n  b: [pilot, tall]\n")
    code, out, err = run_assay(
        ["check", "counterfactual", str(task_file), "-m", "fake:", "--swap", str(swaps)]
    )
    assert code == 0, err
    # fake: echoes the prompt, so its answer swapped back is the original one: nothing changed
    assert "counterfactual: ok" in out and "answers changed in 0 of 8 swapped items" in out
    (check,) = CheckStore(Workspace.find()).list()
    assert check.kind == "counterfactual" and check.config["fields"] == ["question", "target"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("groups:\n  a: []\n  b: [x]\n")
    code, _, err = run_assay(["check", "counterfactual", str(task_file), "--swap", str(empty)])
    assert code != 0 and "groups.a is empty" in err and "Traceback" not in err
    assert len(CheckStore(Workspace.find()).list()) == 1  # nothing written
