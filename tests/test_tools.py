"""Tools: schemas from functions, the local loop by structured output, the API loop against
``assay serve`` (fake backend with scripted choices), errors that do not end a run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Literal

import httpx
import pytest

import assay
from assay.errors import ConfigError
from assay.models.fake import scripted
from assay.prompting.conversation_store import tool_calls
from assay.prompting.tools import Tool, choice_schema, parse_docstring, run_tools, tool
from assay.serve.app import create_app
from assay.serve.background import BackgroundServer


@tool
def add(a: float, b: float = 1.0) -> float:
    """Add two numbers.

    Args:
        a: the first number
        b: the second number,
            one by default
    """
    return a + b


def divide(a: float, b: float) -> float:
    """Divide a by b.

    :param a: the dividend
    :param b: the divisor
    """
    return a / b


def unit(kind: Literal["length", "mass"]) -> str:
    """The SI unit of a quantity."""
    return {"length": "metre", "mass": "kilogram"}[kind]


def call(name: str, **arguments: object) -> str:
    return json.dumps({"tool": name, "arguments": arguments})


def answer(text: str) -> str:
    return json.dumps({"tool": "answer", "answer": text})


def test_schema_from_type_hints_and_docstring() -> None:
    assert isinstance(add, Tool) and add.description == "Add two numbers."
    props = add.parameters["properties"]
    assert props["a"] == {"description": "the first number", "title": "A", "type": "number"}
    assert (
        props["b"]["default"] == 1.0
        and props["b"]["description"] == "the second number, one by default"
    )
    assert add.parameters["required"] == ["a"]
    d = Tool.from_function(divide)
    assert d.parameters["properties"]["b"]["description"] == "the divisor"
    assert Tool.from_function(unit).parameters["properties"]["kind"]["enum"] == ["length", "mass"]
    assert add.openai_spec()["function"]["name"] == "add"
    assert parse_docstring("Do it.\n\nReturns:\n    x") == ("Do it.", {})
    assert add.call({"a": 2, "b": 3}) == "5.0"
    with pytest.raises(ValueError, match="invalid arguments for add: a"):
        add.call({"a": "two"})


def test_bad_tool_definitions() -> None:
    def untyped(x):
        return x

    with pytest.raises(ConfigError, match="parameter 'x' has no type hint"):
        Tool.from_function(untyped)
    with pytest.raises(ConfigError, match="cannot be a tool name"):
        Tool.from_function(divide, name="answer")
    with pytest.raises(ConfigError, match="two tools are called add"):
        run_tools(scripted([answer("x")]), "q", [add, add])
    schema = choice_schema([add], allow_answer=False)
    assert schema["properties"]["tool"] == {"const": "add"}


def test_local_loop_calls_tools_logs_everything_and_survives_a_tool_error() -> None:
    model = scripted(
        [
            call("divide", a=1, b=0),  # raises ZeroDivisionError: goes back to the model
            call("add", a=2, b=3),
            answer("The sum is 5."),
        ]
    )
    run = run_tools(model, "What is 2 + 3?", [add, divide], max_steps=5)
    assert run.mode == "structured" and run.stopped == "answer" and run.steps == 3
    assert run.answer == "The sum is 5."
    assert [(c.tool, c.result, c.error) for c in run.calls] == [
        ("divide", None, "ZeroDivisionError: float division by zero"),
        ("add", "5.0", None),
    ]
    roles = [t["role"] for t in run.transcript]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert run.transcript[2]["content"] == "error: ZeroDivisionError: float division by zero"
    # The model saw the error and the result as tool turns.
    seen = model.backend.seen  # type: ignore[attr-defined]
    assert "divide returned: error: ZeroDivisionError" in seen[1]
    assert "add returned: 5.0" in seen[2]
    logged = tool_calls(model.workspace, run.run_id)
    assert [(r["step"], r["tool"], json.loads(r["arguments"])) for r in logged] == [
        (1, "divide", {"a": 1, "b": 0}),
        (2, "add", {"a": 2, "b": 3}),
    ]
    assert logged[0]["error"].startswith("ZeroDivisionError") and logged[1]["result"] == "5.0"


def test_the_loop_is_bounded_and_its_last_step_may_only_answer() -> None:
    model = scripted([call("add", a=1), call("add", a=2), answer("3")])
    run = run_tools(model, "q", [add], max_steps=2)
    # Step 2 asked for an answer only; the scripted call was rejected and re-asked.
    assert run.steps == 2 and run.answer == "3" and len(run.calls) == 1
    assert "not valid" in model.backend.seen[-1]  # type: ignore[attr-defined]
    bad = run_tools(scripted(["not json"]), "q", [add], max_steps=1)
    assert bad.stopped == "invalid_reply" and bad.answer is None and bad.errors
    with pytest.raises(ConfigError, match="max_steps"):
        run_tools(model, "q", [add], max_steps=0)


@pytest.fixture
def served() -> Iterator[BackgroundServer]:
    model = scripted(
        [call("add", a=2, b=3), answer("2 + 3 = 5"), call("unit", kind="mass")], context_length=4096
    )
    server = BackgroundServer(create_app(model)).start()
    server.served_model = model  # type: ignore[attr-defined]
    yield server
    server.stop()


def test_api_loop_against_assay_serve(served: BackgroundServer) -> None:
    remote = assay.load(f"openai:fake:@{served.base_url}")
    run = run_tools(remote, "What is 2 + 3?", [add, unit], max_steps=3)
    assert run.mode == "api" and run.stopped == "answer" and run.answer == "2 + 3 = 5"
    assert [(c.tool, c.arguments, c.result) for c in run.calls] == [
        ("add", {"a": 2, "b": 3}, "5.0")
    ]
    assert run.transcript[1]["tool_calls"][0]["function"]["name"] == "add"
    assert run.transcript[2]["tool_call_id"] == run.transcript[1]["tool_calls"][0]["id"]
    seen = served.served_model.backend.seen  # type: ignore[attr-defined]
    assert "add returned: 5.0" in seen[-1]  # the tool result reached the served model
    ops = [r["op"] for r in remote.workspace.db.execute("SELECT op FROM calls")]
    assert ops.count("tools") == 2


def test_serve_answers_tool_calls_and_rejects_what_it_cannot_do(served: BackgroundServer) -> None:
    url = served.base_url + "/chat/completions"
    tools = [add.openai_spec()]
    body = {"model": "fake:", "messages": [{"role": "user", "content": "2+3?"}], "tools": tools}
    data = httpx.post(url, json=body, timeout=30).json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {
        "a": 2,
        "b": 3,
    }
    r = httpx.post(url, json={**body, "stream": True}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "stream"
    r = httpx.post(url, json={**body, "tools": [{"type": "function"}]}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"
    r = httpx.post(url, json={**body, "tool_choice": {"function": {"name": "nope"}}}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tool_choice"
    bad_schema = {"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}
    r = httpx.post(url, json={**body, "tools": [bad_schema]}, timeout=30)
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] == "tools"
    assert "tools[0].function.parameters: schema: not a valid JSON Schema" in error["message"]
