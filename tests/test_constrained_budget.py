"""Constrained replies always end as complete, valid JSON within ``max_tokens``, and arrays stop
at a repeated item: a random tiny Llama (an adversary that rambles) under many schemas and small
budgets, plus the closing search and the repetition stop on their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch

from assay.errors import SamplingError
from assay.models.constrain import JsonSchemaProcessor, SchemaCompiler
from assay.models.hf import HFBackend
from assay.models.json_items import JsonItems
from assay.models.types import GenerateRequest, Sampling, canonical_schema
from tiny_models import hf_backend

TAGS = {"type": "array", "items": {"type": "string"}}
"""Unbounded: the array and its strings end only because the budget says so."""

SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "tags": TAGS,
    "numbers": {"type": "array", "items": {"type": "number"}, "minItems": 2},
    "person": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "age": {"type": "integer", "minimum": 18, "maximum": 99},
            "tags": TAGS,
        },
        "required": ["name", "age"],
        "additionalProperties": False,
    },
    "paper": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "kind": {"enum": ["journal article", "book", "conference talk"]},
            "authors": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "affiliation": {"type": ["string", "null"]},
                        "keywords": TAGS,
                    },
                    "required": ["name", "affiliation"],
                    "additionalProperties": False,
                },
            },
            "score": {"type": "number", "minimum": 0, "maximum": 10},
            "open": {"type": "boolean"},
        },
        "required": ["title", "kind", "authors"],
        "additionalProperties": False,
    },
    "bounded": {
        "type": "object",
        "properties": {
            "words": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 5}},
            "nested": {
                "type": "object",
                "properties": {"deep": {"type": "array", "items": TAGS}},
                "required": ["deep"],
                "additionalProperties": False,
            },
        },
        "required": ["words", "nested"],
        "additionalProperties": False,
    },
}

GREEDY_MARGINS = (0, 1, 3, 8, 25)
"""Budgets tried, in tokens over the schema's shortest reply."""
SAMPLED_MARGINS = (0, 5, 20)


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> HFBackend:
    return hf_backend(tiny_model_dir)


def _requests(schema: dict[str, Any], max_tokens: int, **sampling: Any) -> list[GenerateRequest]:
    settings = Sampling(max_tokens=max_tokens, json_schema=json.dumps(schema), **sampling)
    return [GenerateRequest(prompt=f"Item {i}: {'x' * i}", sampling=settings) for i in range(3)]


def _shortest(backend: HFBackend, schema: Any) -> int:
    shortest = backend._schemas.shortest(canonical_schema(schema))
    assert shortest is not None and shortest >= 1
    return shortest


def _assert_valid(backend: HFBackend, requests: list[GenerateRequest], schema: Any) -> None:
    for gen in backend.generate(requests):
        assert gen.constrained
        assert gen.completion_tokens <= requests[0].sampling.max_tokens
        jsonschema.validate(json.loads(gen.text), schema)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_reply_is_complete_within_any_budget_that_fits(backend: HFBackend, name: str) -> None:
    schema = SCHEMAS[name]
    shortest = _shortest(backend, schema)
    for margin in GREEDY_MARGINS:
        _assert_valid(backend, _requests(schema, shortest + margin), schema)
    for margin in SAMPLED_MARGINS:
        requests = _requests(schema, shortest + margin, temperature=1.5, top_p=0.95)
        _assert_valid(backend, requests, schema)


@pytest.mark.slow
def test_every_budget_from_the_shortest_up_gives_valid_json(backend: HFBackend) -> None:
    # Every budget from the shortest reply to 25 tokens over it, greedy and sampled, for every
    # schema: the random model's reply is cut at a different point of its structure each time.
    for schema in SCHEMAS.values():
        shortest = _shortest(backend, schema)
        for margin in range(26):
            sampling = {} if margin % 2 else {"temperature": 1.2, "seed": margin}
            _assert_valid(backend, _requests(schema, shortest + margin, **sampling), schema)


def test_a_budget_below_the_shortest_reply_is_refused_before_any_work(
    backend: HFBackend,
) -> None:
    schema = SCHEMAS["paper"]
    shortest = _shortest(backend, schema)
    with pytest.raises(SamplingError, match=f"shortest valid reply takes {shortest} tokens") as e:
        backend.generate(_requests(schema, shortest - 1))
    assert f"at least {shortest}" in str(e.value)
    with pytest.raises(SamplingError, match="too small for the JSON Schema"):
        list(backend.stream(_requests(schema, 2)[0]))


def test_max_items_and_max_length_hold_under_budget_pressure(backend: HFBackend) -> None:
    schema = SCHEMAS["bounded"]
    for gen in backend.generate(_requests(schema, 120)):
        value = json.loads(gen.text)
        assert len(value["words"]) <= 2 and all(len(w) <= 5 for w in value["words"])


# -- the closing search and the repetition stop, driven by scripted preferences -----------------
@pytest.fixture(scope="module")
def compiler(backend: HFBackend) -> SchemaCompiler:
    return backend._schemas


def _decode(compiler: SchemaCompiler, schema: Any, wanted: str, max_tokens: int) -> tuple[str, int]:
    """Greedy decoding under a "model" that scores highest the next token of ``wanted`` (a
    reply that loops) as long as the reply follows it, and end-of-sequence once it does not.
    Returns the text and its number of tokens."""
    matcher = compiler.matcher(canonical_schema(schema))
    assert matcher is not None
    processor = JsonSchemaProcessor(compiler, [matcher], 1, lambda i: False, caps=[max_tokens])
    script = compiler.tokenizer.tokenize_str(wanted)
    ids = torch.zeros((1, 1), dtype=torch.long)
    out: list[int] = []
    for _ in range(max_tokens):
        scores = torch.zeros((1, compiler.vocab_size))
        on_script = out == script[: len(out)] and len(out) < len(script)
        scores[0, script[len(out)] if on_script else compiler.eos_ids[0]] = 100.0
        scores = processor(ids, scores)  # type: ignore[arg-type]
        token = int(scores[0].argmax())
        if token in compiler.eos_ids:
            break
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)  # type: ignore[assignment]
    return compiler.tokenizer.decode_str(out), len(out)


def test_a_looping_array_ends_at_its_first_repeated_item(compiler: SchemaCompiler) -> None:
    text, _ = _decode(compiler, TAGS, '["data", "more", ' + '"data", ' * 50, max_tokens=200)
    assert json.loads(text) == ["data", "more", "data"]
    # Items of an array of objects, likewise; the object goes on after the array.
    schema = {
        "type": "object",
        "properties": {"people": {"type": "array", "items": SCHEMAS["person"]}, "n": {}},
        "required": ["people", "n"],
        "additionalProperties": False,
    }
    item = '{"name": "Ann", "age": 30}, '
    text, _ = _decode(compiler, schema, '{"people": [' + item * 50, max_tokens=300)
    value = json.loads(text)
    jsonschema.validate(value, schema)
    assert value["people"] == [{"name": "Ann", "age": 30}] * 2


def test_a_looping_string_is_closed_exactly_at_the_budget(compiler: SchemaCompiler) -> None:
    schema = SCHEMAS["person"]
    shortest = compiler.shortest(canonical_schema(schema))
    assert shortest is not None
    for budget in (shortest, shortest + 1, shortest + 6, shortest + 17):
        text, n = _decode(compiler, schema, '{"name": "' + "data" * 100, max_tokens=budget)
        assert n == budget
        value = json.loads(text)
        jsonschema.validate(value, schema)
        assert value["name"].startswith("data") or budget == shortest


def test_json_items_finds_repeated_items_at_their_own_depth() -> None:
    items = JsonItems()
    items.feed(b'{"a": ["x, y", "q\\"", [1, 2], {"k": [3]}, ')
    assert items.in_string == (False, False) and len(items.frames) == 2
    assert items.repeats(b'"x, y"]') is None and items.repeats(b'"x, y", ') == 1
    assert items.repeats(b"[1, 2],") == 1 and items.repeats(b"[1, 3],") is None
    assert items.repeats(b'{"k": [3]},') == 1 and items.repeats(b'{"k": [3, 4]},') is None
    items.feed(b'{"k": [3')
    assert items.repeats(b"]},") == 1 and items.repeats(b", 3") is None
    items.feed(b"]}")
    assert items.at_repeat() == 1
    items.feed(b', "q\\""')
    assert items.at_repeat() == 1
    items.feed(b', "open \\')
    assert items.in_string == (True, True) and items.at_repeat() is None
    numbers = JsonItems()
    numbers.feed(b"[1, 1")
    assert numbers.at_repeat() is None and numbers.repeats(b", ") == 0
