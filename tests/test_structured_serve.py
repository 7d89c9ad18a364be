"""Structured output over HTTP: ``assay serve`` takes ``response_format`` and decodes under it;
the ``openai:`` backend sends it, falls back when a server refuses it, and the structured layer
re-asks when a server accepts it but does not follow it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest

import assay
from assay.config import load_settings
from assay.models.facade import Model
from assay.models.fake import FakeBackend, scripted
from assay.prompting.structured import generate_structured, load_schema
from assay.serve.app import create_app
from assay.serve.background import BackgroundServer

SCHEMA: dict[str, Any] = {
    "title": "Pet",
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 10},
        "species": {"enum": ["cat", "dog", "fish"]},
        "legs": {"type": "integer", "minimum": 0, "maximum": 4},
    },
    "required": ["name", "species"],
    "additionalProperties": False,
}
VALID = '{"name": "Rex", "species": "dog", "legs": 4}'


def remote(server: BackgroundServer) -> Model:
    return assay.load(f"openai:{server.model_id}@{server.base_url}", settings=load_settings())


class RefuseResponseFormat:
    """Like servers without structured output: HTTP 400 naming ``response_format``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.refused = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("completions"):
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if "response_format" in json.loads(body):
            self.refused += 1
            payload = json.dumps(
                {"error": {"message": "Unrecognized request argument: response_format"}}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return

        replayed = False

        async def replay() -> dict[str, Any]:
            # The body once; after that the real channel (a streamed reply waits on it).
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def test_served_local_model_decodes_under_the_schema(serve_app, tiny_model_dir: Path) -> None:
    local = assay.load(f"hf:{tiny_model_dir}", settings=load_settings(overrides={"device": "cpu"}))
    server = serve_app(create_app(local, served_name="tiny"), model_id="tiny")
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    fmt = {"type": "json_schema", "json_schema": {"name": "Pet", "schema": SCHEMA, "strict": True}}
    chat = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "A pet?"}],
        max_tokens=80,
        temperature=0,
        response_format=fmt,  # type: ignore[arg-type]
    )
    jsonschema.validate(json.loads(chat.choices[0].message.content or ""), SCHEMA)
    completion = client.completions.create(
        model="tiny",
        prompt="JSON:",
        max_tokens=80,
        temperature=0,
        extra_body={"response_format": fmt},
    )
    jsonschema.validate(json.loads(completion.choices[0].text), SCHEMA)
    # Through the openai: backend and the structured layer: valid at once, and constrained.
    results = generate_structured(remote(server), ["Rex barks.", "Tom meows."], SCHEMA)
    assert all(r.valid and r.attempts == 1 and r.constrained for r in results)


def test_response_format_reaches_the_model_and_bad_ones_are_400(serve_app) -> None:
    served = scripted([VALID])
    server = serve_app(create_app(served))
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    client.completions.create(
        model="fake:", prompt="hi", extra_body={"response_format": {"type": "json_object"}}
    )
    client.completions.create(
        model="fake:", prompt="hi", extra_body={"response_format": {"type": "text"}}
    )
    backend = served.backend
    assert isinstance(backend, FakeBackend)
    assert [r.sampling.json_schema for r in backend.requests] == ['{"type":"object"}', None]
    for fmt in (
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 3}}},
        {"type": "json_schema"},
    ):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(
                model="fake:",
                messages=[{"role": "user", "content": "hi"}],
                response_format=fmt,  # type: ignore[arg-type]
            )
        assert info.value.body["param"] == "response_format"  # type: ignore[index]


def test_server_that_ignores_the_schema_is_re_asked(serve_app) -> None:
    served = scripted(['{"name": "Rex", "species": "wolf"}', VALID])
    server = serve_app(create_app(served))
    [result] = generate_structured(remote(server), "Rex is a dog.", SCHEMA)
    assert result.valid and result.attempts == 2 and result.value == json.loads(VALID)
    assert "$.species" in result.errors[0]
    # The schema reached the served model (which, being scripted, did not follow it).
    backend = served.backend
    assert isinstance(backend, FakeBackend)
    assert [r.sampling.json_schema for r in backend.requests] == [load_schema(SCHEMA).text] * 2


def test_server_that_refuses_response_format_gets_plain_requests(serve_app) -> None:
    served = scripted(["no JSON here", VALID, VALID])
    wrapper = RefuseResponseFormat(create_app(served))
    server = serve_app(wrapper)
    model = remote(server)
    [result] = generate_structured(model, "Rex is a dog.", SCHEMA)
    assert result.valid and result.attempts == 2 and not result.constrained
    # Refused once; after that this schema is sent without response_format.
    assert wrapper.refused == 1
    backend = served.backend
    assert isinstance(backend, FakeBackend)
    assert all(r.sampling.json_schema is None for r in backend.requests)
    assert "JSON Schema" in backend.seen[0]  # the schema still travels in the prompt


def test_streamed_requests_carry_the_schema_and_survive_a_refusal(serve_app) -> None:
    schema = load_schema(SCHEMA).text
    served = scripted([VALID])
    model = remote(serve_app(create_app(served)))
    for prompt in ("Rex is a dog.", [{"role": "user", "content": "Rex is a dog."}]):
        assert "".join(model.stream(prompt, json_schema=schema)) == VALID
    backend = served.backend
    assert isinstance(backend, FakeBackend)
    assert [r.sampling.json_schema for r in backend.requests] == [schema, schema]

    refusing = scripted([VALID])
    wrapper = RefuseResponseFormat(create_app(refusing))
    model = remote(serve_app(wrapper))
    assert "".join(model.stream("Rex is a dog.", json_schema=schema)) == VALID
    # Another prompt: the server answers a plain repeat of the first from its cache.
    assert "".join(model.stream("Tom is a cat.", json_schema=schema)) == VALID
    assert wrapper.refused == 1  # then remembered: sent plainly
    backend = refusing.backend
    assert isinstance(backend, FakeBackend)
    assert [r.sampling.json_schema for r in backend.requests] == [None, None]


def test_text_prompts_send_the_schema_in_the_completions_body(serve_app) -> None:
    schema = load_schema(SCHEMA).text
    served = scripted([VALID])
    model = remote(serve_app(create_app(served)))
    [gen] = model.generate("Rex is a dog.", json_schema=schema)
    assert gen.text == VALID and gen.constrained
    backend = served.backend
    assert isinstance(backend, FakeBackend)
    assert backend.requests[0].sampling.json_schema == schema
