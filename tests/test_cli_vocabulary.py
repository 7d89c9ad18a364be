"""One vocabulary on the command line: a flag means the same thing in every command, and the
old spellings still work for a release, each with one deprecation line on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.cli.vocabulary import Renamed, rewrite

ROOT = Path(__file__).resolve().parents[1]


def leaf_commands() -> dict[str, click.Command]:
    """Every command of ``assay`` by its path (``docs search``), groups opened."""
    ctx = click.Context(cli)
    found: dict[str, click.Command] = {}

    def walk(command: click.Command, path: str) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, f"{path} {name}".strip())
        else:
            found[path] = command

    walk(cli, "")
    return found


def params(path: str, args: list[str]) -> dict[str, Any]:
    command = leaf_commands()[path]
    return command.make_context(path, args).params


def test_rewrite_old_spellings() -> None:
    rules = (Renamed("--k", "-k"), Renamed("-n", "--ngram"), Renamed("--rag", "--collection"))
    assert rewrite(["t", "--k", "4", "--rag=notes", "-n13"], rules) == [
        "t",
        "-k",
        "4",
        "--collection=notes",
        "--ngram=13",
    ]
    # after `--` everything is an argument; a longer flag that starts the same is another flag
    assert rewrite(["--rag-mode", "x", "--", "--k"], rules) == ["--rag-mode", "x", "--", "--k"]
    digits = (Renamed("-m", "--max-tokens", when=str.isdigit),)
    assert rewrite(["-m", "64", "-m", "default", "-m8"], digits) == [
        "--max-tokens",
        "64",
        "-m",
        "default",
        "--max-tokens=8",
    ]


def test_one_deprecation_line_per_old_spelling(capsys: pytest.CaptureFixture[str]) -> None:
    rewrite(["--k", "1", "--k", "2"], (Renamed("--k", "-k"),))
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: --k is deprecated, write -k instead (it will be removed in the next release)"
    ]


def test_eval_old_and_new_spellings_mean_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    new = ["qa.yaml", "-c", "notes", "-k", "3", "--mode", "bm25", "--cot", "step"]
    new += ["--select", "fixed", "a.b=1", "--set", "c=2"]
    assert capsys.readouterr().err == ""
    old = ["qa.yaml", "--rag", "notes", "--k", "3", "--rag-mode", "bm25", "--cot", "step_by_step"]
    old += ["--select", "first", "a.b=1", "--set", "c=2"]
    assert params("eval", old) == params("eval", new)
    err = capsys.readouterr().err
    for spelling in ("--rag ", "--k ", "--rag-mode ", "--cot step_by_step", "--select first"):
        assert f"warning: {spelling}" in err
    assert err.count("\n") == 5
    got = params("eval", new)
    assert (got["rag"], got["rag_k"], got["rag_mode"], got["cot"]) == ("notes", 3, "bm25", "step")
    assert got["overrides"] == ("a.b=1",) and got["sets"] == ("c=2",)


def test_other_renamed_options(capsys: pytest.CaptureFixture[str]) -> None:
    old = params("models info", ["default", "--context", "2048", "--batch", "4"])
    assert old == params(
        "models info", ["default", "--context-tokens", "2048", "--batch-size", "4"]
    )
    assert old["context"] == 2048 and old["batch"] == 4
    assert params("check contamination", ["gsm8k", "--against", "x", "-n", "8"])["ngram"] == 8
    assert params("generate", ["--cot", "reason_then_answer"])["cot"] == "reason-then-answer"
    err = capsys.readouterr().err
    assert "--context is deprecated, write --context-tokens" in err
    assert "-n is deprecated, write --ngram" in err
    assert "--cot reason_then_answer is deprecated, write --cot reason-then-answer" in err


def run(args: list[str]) -> click.testing.Result:
    return CliRunner().invoke(cli, args)


def test_generate_model_first_or_with_m(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    first = run(["generate", "fake:", "Hello", "--json", "--max-tokens", "5"])
    assert first.exit_code == 0, first.output
    with_m = run(["generate", "Hello", "-m", "fake:", "--json", "--max-tokens", "5"])
    assert with_m.exit_code == 0, with_m.output
    assert json.loads(first.stdout)["text"] == json.loads(with_m.stdout)["text"]
    assert json.loads(with_m.stdout)["model"] == "fake:"

    # the old `-m N` still sets the token limit, and says so once
    old = run(["generate", "fake:", "Hello", "--json", "-m", "7"])
    assert old.exit_code == 0, old.output
    assert json.loads(old.stdout)["sampling"]["max_tokens"] == 7
    assert "-m is deprecated, write --max-tokens instead; -m is the model now" in old.stderr

    twice = run(["generate", "fake:", "Hello", "-m", "fake:"])
    assert twice.exit_code == 2 and "one argument (the PROMPT) at most" in twice.output
    none = run(["generate"])
    assert none.exit_code == 2 and "no model given" in none.output


def test_model_option_wherever_a_model_is_an_argument() -> None:
    assert params("serve", ["-m", "default"])["model_option"] == "default"
    assert params("chat talk", ["-m", "default", "-s", "Be terse.", "-t", "0.5"])["system"]
    assert params("models info", ["-m", "default"])["model_option"] == "default"
    assert params("models convert", ["-m", "default"])["model_option"] == "default"
    assert params("score", ["-m", "a", "-m", "b", "some text"])["model_options"] == ("a", "b")
    twice = run(["models", "info", "default", "-m", "other"])
    assert twice.exit_code == 2 and "the model is given twice" in twice.output


def test_train_takes_set_as_eval_does(monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.finetune

    seen: list[list[str]] = []

    def load_config(config: str, overrides: list[str]) -> Any:
        seen.append(overrides)
        raise click.ClickException("stop here")

    monkeypatch.setattr(assay.finetune, "load_config", load_config)
    config = str(ROOT / "examples/finetune/classifier-bbc.yaml")
    run(["train", config, "optim.epochs=2", "--set", "data.limit=5", "--show-config"])
    assert seen == [["optim.epochs=2", "data.limit=5"]]


# A short flag names one long option everywhere (a count, -n, may count different things).
SHORT_FLAGS = {
    "-m": {"--model"},
    "-o": {"--output"},
    "-c": {"--collection"},
    "-i": {"--input"},
    "-s": {"--system"},
    "-t": {"--temperature"},
    "-q": {"--quiet"},
}


def test_a_flag_means_one_thing_in_every_command() -> None:
    seen: dict[str, set[str]] = {}
    for path, command in leaf_commands().items():
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            shorts = [o for o in param.opts if not o.startswith("--")]
            longs = [o for o in param.opts if o.startswith("--")]
            for short in shorts:
                seen.setdefault(short, set()).update(longs or [f"({path})"])
            if "--json" in param.opts:
                assert param.is_flag, f"assay {path}: --json is a flag everywhere"
            if "--model" in param.opts:
                assert "-m" in param.opts, f"assay {path}: --model goes with -m"
    for short, longs in SHORT_FLAGS.items():
        assert seen.get(short, longs) <= longs, f"{short} means {seen[short]}"
