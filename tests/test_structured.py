"""Structured output: schema loading, validation and re-asking (fake backend), constrained
decoding on a tiny random transformers model, and ``assay generate --schema``."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

import assay
from assay.config import load_settings
from assay.errors import ConfigError, SamplingError
from assay.models.facade import Model
from assay.models.fake import FakeBackend, scripted
from assay.models.types import GenerateRequest, Generation, Message, Sampling
from assay.prompting.structured import (
    StructuredResult,
    generate_structured,
    load_schema,
    parse_json,
    validity,
)
from cli_util import run_assay as run_cli


class Person(BaseModel):
    name: str = Field(max_length=40)
    age: int | None = Field(default=None, ge=0, le=130)
    occupation: Literal["scientist", "teacher", "artist", "other"]


# A nested schema a random model must still satisfy: every string and array is bounded, and no
# extra keys, so any path through the grammar ends within the token budget.
NESTED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 12},
        "kind": {"enum": ["paper", "book", "talk"]},
        "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
        "open": {"type": "boolean"},
        "authors": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 8},
                    "role": {"enum": ["lead", "other"]},
                },
                "required": ["name", "role"],
                "additionalProperties": False,
            },
        },
        "note": {"type": ["string", "null"], "maxLength": 6},
    },
    "required": ["title", "kind", "year", "authors"],
    "additionalProperties": False,
}


def calls(home: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(home / "assay.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY id")]
    finally:
        conn.close()


# -- schemas -------------------------------------------------------------------------------------
def test_load_schema_from_class_dict_and_file(tmp_path: Path) -> None:
    from_class = load_schema(Person)
    assert from_class.model is Person and from_class.name == "Person"
    assert json.loads(from_class.text)["required"] == ["name", "occupation"]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(NESTED))
    from_file = load_schema(path)
    assert from_file.schema == NESTED and from_file.source == str(path)
    # Property order is kept: it is the order the model writes the keys in.
    assert list(json.loads(from_file.text)["properties"]) == list(NESTED["properties"])
    assert load_schema(NESTED).text == from_file.text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not a JSON file"),
        ('{"type": "strnig"}', "not a valid JSON Schema at type"),
        ('{"properties": {"a": {"maxLength": -1}}}', "at properties/a/maxLength"),
    ],
)
def test_bad_schema_files_name_the_file_and_problem(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_schema(path)
    assert str(path) in info.value.message and expected in info.value.message
    with pytest.raises(ConfigError, match="cannot read"):
        load_schema(tmp_path / "missing.json")


def test_sampling_checks_and_hashes_the_schema() -> None:
    plain = Sampling()
    assert "json_schema" not in plain.model_dump()  # old cache keys and output files unchanged
    with_schema = Sampling(json_schema=NESTED)
    assert json.loads(with_schema.json_schema or "") == NESTED
    assert Sampling(json_schema=json.dumps(NESTED, indent=2)) == with_schema
    keys = {
        GenerateRequest(prompt="p", sampling=s).key()
        for s in (plain, with_schema, Sampling(json_schema={"type": "array"}))
    }
    assert len(keys) == 3
    with pytest.raises(SamplingError, match="not a valid JSON Schema at type"):
        Sampling(json_schema={"type": "nope"})
    with pytest.raises(SamplingError, match="not JSON"):
        Sampling(json_schema="{oops")


def test_parse_json_forgives_fences_and_prose_only() -> None:
    assert parse_json(' {"a": 1} ') == {"a": 1}
    assert parse_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json('Sure: {"a": [1, 2]} hope it helps') == {"a": [1, 2]}
    with pytest.raises(ValueError, match="not JSON"):
        parse_json("no json here")
    with pytest.raises(ValueError, match="empty"):
        parse_json("  ")


# -- validation and re-asking (fake backend) -----------------------------------------------------
def test_invalid_answers_are_re_asked_with_the_error(assay_home: Path) -> None:
    model = scripted(
        [
            "Sure! The person is Ada.",  # not JSON
            '{"name": "Ada", "age": -3, "occupation": "scientist"}',  # violates minimum
            '{"name": "Ada", "age": 36, "occupation": "scientist"}',
        ]
    )
    [result] = generate_structured(model, "Ada Lovelace, 36, was a scientist.", Person)
    assert result.valid and result.attempts == 3 and not result.constrained
    assert result.value == Person(name="Ada", age=36, occupation="scientist")
    assert len(result.errors) == 2
    assert "not JSON" in result.errors[0]
    assert "$.age" in result.errors[1] and "minimum" in result.errors[1]
    backend = model.backend
    assert isinstance(backend, FakeBackend)
    # Every request carried the schema; the last one holds the whole conversation.
    assert all(r.sampling.json_schema == load_schema(Person).text for r in backend.requests)
    last = backend.seen[-1]
    assert "JSON Schema" in last and '"occupation"' in last
    assert "That reply is not valid: at $.age" in last
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    row = calls(assay_home)[-1]
    assert row["op"] == "structured" and row["error"] is None
    summary = json.loads(row["preview"])
    assert summary["schema"] == "Person" and summary["prompts"] == summary["valid"] == 1
    assert summary["calls"] == 3 and summary["retries"] == 2


def test_gives_up_after_max_attempts_and_batches(assay_home: Path) -> None:
    def reply(prompt: str) -> str:
        # Valid for "Ben" at once; never valid for "Cy".
        return '{"name": "Ben", "occupation": "artist"}' if "Ben" in prompt else "[]"

    model = scripted([reply])
    results = generate_structured(model, ["Ben paints.", "Cy?"], Person, max_attempts=2)
    assert [r.valid for r in results] == [True, False]
    assert [r.attempts for r in results] == [1, 2]
    assert results[1].value is None and results[1].raw == "[]" and len(results[1].errors) == 2
    counts = validity(results)
    assert counts["validity_rate"] == 0.5 and counts["retries"] == 1
    row = calls(assay_home)[-1]
    assert row["op"] == "structured" and row["error"] == "1 of 2 replies invalid"
    # Two model calls: both prompts in the first batch, then only the invalid one.
    generate_rows = [c for c in calls(assay_home) if c["op"] == "generate"]
    assert [c["n_requests"] for c in generate_rows] == [2, 1]


def test_a_re_ask_that_outgrows_the_context_stops_cleanly(assay_home: Path) -> None:
    model = scripted([" ".join(["blah"] * 50)], context_length=40)
    [result] = generate_structured(model, "hi", Person, show_schema=False)
    assert not result.valid and result.attempts == 1
    assert result.errors[1] == "the re-ask no longer fits the model's context"


def test_chat_prompts_keep_their_turns_and_system(assay_home: Path) -> None:
    model = scripted(['{"name": "Al", "occupation": "other"}'])
    chat = [Message(role="system", content="Be exact."), Message(role="user", content="Al?")]
    [result] = assay.structured(model, chat, Person)
    assert isinstance(result, StructuredResult) and result.valid
    seen = model.backend.seen[0]  # type: ignore[attr-defined]
    assert seen.startswith("System: Be exact.\n\nReply with one JSON value")
    with pytest.raises(SamplingError, match="n \\(samples per prompt\\) must be 1"):
        generate_structured(model, "x", Person, sampling=Sampling(n=2))


VALID_PERSON = '{"name": "Ada", "age": 36, "occupation": "scientist"}'


def test_a_re_ask_that_would_repeat_the_failure_is_not_made(assay_home: Path) -> None:
    # The same error twice: no third attempt, and the result says why.
    model = scripted(['{"name": "Ada"}', '{"name": "Bo"}', VALID_PERSON])
    [result] = generate_structured(model, "Ada.", Person, max_attempts=3)
    assert not result.valid and result.attempts == 2 and len(result.errors) == 2
    assert result.errors[0] == result.errors[1]
    assert result.gave_up == "the re-ask gave the same error again"
    # Cut off at max_tokens twice: the same budget would cut a third reply too.
    long = '{"name": "Ada", "occupation": "scientist", "note": "' + "very " * 20 + '"}'
    model = scripted([long, long.replace("Ada", "Al"), VALID_PERSON])
    [result] = generate_structured(model, "Ada.", Person, sampling=Sampling(max_tokens=8))
    assert not result.valid and result.attempts == 2
    assert all(e.startswith("cut off at max_tokens=8") for e in result.errors)
    assert result.gave_up is not None and "cut off at max_tokens twice" in result.gave_up
    # Different errors are worth the attempts; a valid last one ends with no note.
    model = scripted(["not json", '{"name": "Ada"}', VALID_PERSON])
    [result] = generate_structured(model, "Ada.", Person)
    assert result.valid and result.attempts == 3 and result.gave_up is None
    # Out of attempts is not giving up early.
    model = scripted(['{"name": "Ada"}'] * 2)
    [result] = generate_structured(model, "Ada.", Person, max_attempts=1)
    assert result.attempts == 1 and result.gave_up is None


def test_a_constrained_reply_cut_off_is_not_re_asked(assay_home: Path) -> None:
    cut = Generation(
        text='{"name": "Ad',
        prompt_tokens=5,
        completion_tokens=4,
        finish_reason="length",
        constrained=True,
    )

    class CutOff(FakeBackend):
        def generate(self, requests: Any, on_finished: Any = None) -> list[Generation]:
            return [cut for _ in requests]

    model = scripted()
    model.backend = CutOff()
    [result] = generate_structured(model, "Ada.", Person)
    assert result.attempts == 1 and not result.valid
    assert result.gave_up is not None and "same max_tokens would cut it again" in result.gave_up


# -- constrained decoding on a real (tiny, random) transformers model ----------------------------
@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> Model:
    return assay.load(
        f"hf:{tiny_model_dir}", settings=load_settings(overrides={"device": "cpu", "cache": False})
    )


def test_random_model_output_is_schema_valid_when_constrained(tiny: Model) -> None:
    prompts = [f"Describe item {i}." for i in range(6)]
    greedy = Sampling(max_tokens=120, json_schema=NESTED)
    sampled = Sampling(max_tokens=120, json_schema=NESTED, temperature=1.0, top_p=0.9, seed=7)
    gens = tiny.generate(prompts, greedy) + tiny.generate(prompts[:3], sampled)
    for g in gens:
        assert g.constrained and g.finish_reason == "stop"
        jsonschema.validate(json.loads(g.text), NESTED)
    # Unconstrained rows in the same batch are left alone.
    mixed = tiny.backend.generate(
        [
            GenerateRequest(prompt="a", sampling=greedy),
            GenerateRequest(prompt="a", sampling=Sampling(max_tokens=20)),
        ]
    )
    jsonschema.validate(json.loads(mixed[0].text), NESTED)
    assert mixed[0].constrained and not mixed[1].constrained
    assert mixed[1].text == tiny.complete("a", max_tokens=20)


def test_structured_on_tiny_model_is_valid_first_time(tiny: Model) -> None:
    results = generate_structured(
        tiny, ["Ann is 30.", "Bo teaches."], Person, sampling=Sampling(max_tokens=300)
    )
    assert all(r.valid and r.attempts == 1 and r.constrained for r in results)
    assert all(isinstance(r.value, Person) for r in results)


def test_open_schemas_decode_closed_and_validate_as_given(tiny: Model) -> None:
    # JSON Schema objects are open by default; decoding under the open schema lets a model
    # invent keys until it is cut off. Decoding is held to the closed form; checks use the
    # schema as given.
    open_schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 12}, "n": {"type": "integer"}},
        "required": ["name", "n"],
    }
    js = load_schema(open_schema)
    assert js.schema == open_schema
    assert json.loads(js.text)["additionalProperties"] is False
    assert js.validate_value({"name": "a", "n": 1, "extra": True}) == (
        {"name": "a", "n": 1, "extra": True},
        None,
    )
    results = generate_structured(
        tiny, [f"Item {i}." for i in range(4)], open_schema, sampling=Sampling(max_tokens=80)
    )
    for r in results:
        assert r.valid and r.attempts == 1 and r.constrained
        assert set(r.value) == {"name", "n"}


def test_stream_is_constrained_too(tiny: Model) -> None:
    text = "".join(tiny.stream("x", Sampling(max_tokens=120, json_schema=NESTED)))
    jsonschema.validate(json.loads(text), NESTED)


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_schema_prints_validated_json(tmp_path: Path, assay_home: Path) -> None:
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(Person.model_json_schema()))
    script = tmp_path / "script.yaml"
    script.write_text(
        'replies:\n  - "not json"\n  - \'{"name": "Ada", "age": 36, "occupation": "scientist"}\'\n'
    )
    code, out, err = run_cli(
        ["generate", f"fake:{script}", "Ada, 36, scientist", "--schema", str(schema)]
    )
    assert code == 0, err
    assert json.loads(out) == {"name": "Ada", "age": 36, "occupation": "scientist"}
    assert "2 attempts" in err
    code, out, err = run_cli(
        ["generate", f"fake:{script}", "Ada", "--schema", str(schema), "--json"]
    )
    data = json.loads(out)
    assert data["valid"] and data["value"]["name"] == "Ada" and data["schema"] == str(schema)


def test_cli_bad_schema_file_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": 5}')
    code, out, err = run_cli(["generate", "fake:", "hi", "--schema", str(bad)])
    assert code == 2 and out == ""
    assert err.startswith(f"error: {bad}: not a valid JSON Schema") and "Traceback" not in err
    code, _, err = run_cli(["generate", "fake:", "hi", "--schema", str(tmp_path / "none.json")])
    assert code == 2 and "cannot read the JSON Schema file" in err


def test_cli_invalid_after_all_attempts_exits_1(tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object", "required": ["a"]}')
    code, out, err = run_cli(["generate", "fake:", "hi", "--schema", str(schema)])
    assert code == 1 and out.startswith("echo: ")  # the last raw reply, for a look
    # The echo model fails the same way each time: the third attempt is not spent.
    assert "no answer valid against" in err and "after 2 attempts" in err
    assert "no more re-asks: the re-ask gave the same error again" in err


def test_cli_file_run_records_value_valid_attempts_errors(tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps(Person.model_json_schema()))
    template = tmp_path / "t.jinja"
    template.write_text("Who is {{ who }}?")
    rows = tmp_path / "in.jsonl"
    rows.write_text('{"who": "Ada"}\n{"who": "Cy"}\n')
    script = tmp_path / "script.json"

    def reply(name: str, valid: bool) -> str:
        return json.dumps({"name": name, "occupation": "artist" if valid else "pirate"})

    script.write_text(
        json.dumps({"replies": [reply("Ada", True), reply("Cy", False), reply("Cy", True)]})
    )
    out_path = tmp_path / "out.jsonl"
    args = ["generate", f"fake:{script}", "--schema", str(schema), "--template", str(template)]
    code, _, err = run_cli([*args, "--input", str(rows), "--output", str(out_path)])
    assert code == 0, err
    records = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert [r["valid"] for r in records] == [True, True]
    assert [r["attempts"] for r in records] == [1, 2]
    assert records[0]["value"] == {"name": "Ada", "occupation": "artist"}
    assert records[1]["errors"] and "pirate" in records[1]["errors"][0]
    assert records[0]["sampling"]["json_schema"] == load_schema(schema).text
    assert "2 valid, 0 invalid, 1 re-asks" in err


# -- worked examples (fake backend here; `python examples/structured_*.py` runs the real model) --
def _example(name: str) -> Any:
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_example_structured_person() -> None:
    example = _example("structured_person")

    def reply(prompt: str) -> str:
        if "Amara" in prompt:  # invalid first (age out of range), then right
            if "not valid" not in prompt:
                return '{"name": "Amara Okafor", "age": 420, "occupation": "x", "field": "science"}'
            return '{"name": "Amara Okafor", "age": 42, "occupation": "biologist", "field": "science", "city": "Lagos"}'
        return '{"name": "Nobody", "occupation": "none", "field": "other"}'

    result = example.main(scripted([reply]), quiet=True)
    assert result["validity"]["valid"] == 6 and result["validity"]["retries"] == 1
    assert result["rows"][0]["hits"] == {"name": True, "age": True, "field": True, "city": True}
    # 4 of 4 fields for Amara; for the others only the senator's missing city matches (None).
    assert result["field_accuracy"] == 5 / 24


@pytest.mark.skipif(importlib.util.find_spec("aclsum") is None, reason="ACLSum ships in aclsum")
def test_example_structured_abstract() -> None:
    example = _example("structured_abstract")
    reply = '{"task": "machine translation of terms", "method": "analogy", "result": "better"}'
    result = example.main(scripted([reply]), n=2, quiet=True)
    assert result["validity"]["valid"] == 2 and len(result["rows"]) == 2
    assert 0 < result["word_recall"]["task"] < 1
