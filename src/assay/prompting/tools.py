"""Python functions as tools a model can call, and a bounded loop that runs the calls.

    >>> @assay.tool
    ... def add(a: float, b: float) -> float:
    ...     '''Add two numbers.
    ...
    ...     Args:
    ...         a: the first number
    ...         b: the second number
    ...     '''
    ...     return a + b
    >>> run = assay.run_tools(model, "What is 2.5 + 4?", [add], max_steps=4)
    >>> run.answer, [(c.tool, c.arguments, c.result) for c in run.calls]

Schemas
    A tool's JSON Schema comes from the function's type hints (through pydantic, so
    ``Literal``, ``list[int]``, pydantic models and defaults all work) and its docstring: the
    text before the argument section is the description; ``Args:`` (Google style) or
    ``:param name:`` lines describe the parameters. A parameter without a type hint is an error.

Two ways a model calls tools
    ``openai:`` models get the tools in the API's ``tools`` parameter and answer with
    ``tool_calls`` (:mod:`assay.models.openai_tools`). Local models choose by structured
    output: at each step the reply must fit a schema that is one of ``{"tool": NAME,
    "arguments": {...}}`` per tool (its arguments under that tool's schema) or ``{"tool":
    "answer", "answer": "..."}``, decoded under the schema where the backend can constrain
    (:func:`assay.prompting.structured.generate_structured`). ``assay serve`` offers the same
    choice to API clients, so one script runs both ways.

The loop
    At most ``max_steps`` model calls; the last one may only answer (``tool_choice="none"`` on
    the API), so a run always ends with an answer unless the model's reply cannot be read.
    A tool that raises does not end the run: the error (``ValueError: ...``) goes back to the
    model as the tool's result and is logged. Every call, with its arguments, result or error
    and time, is in :attr:`ToolRun.calls` and in the workspace table ``tool_calls`` under the
    run's id.
"""

from __future__ import annotations

import inspect
import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_type_hints

from pydantic import BaseModel, ValidationError, create_model

from assay.errors import ConfigError
from assay.models.types import Message, Sampling

if TYPE_CHECKING:
    from assay.models.facade import Model

ANSWER = "answer"
TOOLS_INSTRUCTION = (
    "You can call tools to help answer. Tools:\n{tools}\n\n"
    'To call a tool, reply {{"tool": "<name>", "arguments": {{...}}}}. When you can answer, '
    'reply {{"tool": "answer", "answer": "<your answer>"}}. Tool results come back as tool turns.'
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


# -- tools ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    """JSON Schema of the arguments (an object)."""
    fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    """None for a tool described by a client (``assay serve``): it is run elsewhere."""
    args_model: type[BaseModel] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None) -> Tool:
        tool_name = name or fn.__name__
        if not _NAME.match(tool_name) or tool_name == ANSWER:
            raise ConfigError(
                f"'{tool_name}' cannot be a tool name",
                hint="use letters, digits, _ and - (and not 'answer', which ends a run)",
            )
        description, docs = parse_docstring(inspect.getdoc(fn) or "")
        try:
            hints = get_type_hints(fn)
        except (NameError, TypeError) as exc:
            raise ConfigError(f"tool {tool_name}: cannot read its type hints ({exc})") from None
        fields: dict[str, Any] = {}
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise ConfigError(f"tool {tool_name}: *{p.name} cannot be described as a schema")
            if p.name not in hints:
                raise ConfigError(
                    f"tool {tool_name}: parameter '{p.name}' has no type hint",
                    hint="the schema the model sees comes from the type hints",
                )
            from pydantic import Field

            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (hints[p.name], Field(default, description=docs.get(p.name)))
        model = create_model(f"{tool_name}_arguments", **fields)
        schema = model.model_json_schema()
        schema.pop("title", None)
        return cls(tool_name, description or tool_name, schema, fn, model)

    def openai_spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def call(self, arguments: dict[str, Any]) -> str:
        """Run the tool; its result as text (JSON for anything but a string). Raises what the
        function raises, and ``ValueError`` for arguments that do not fit the schema."""
        if self.fn is None:
            raise ConfigError(f"tool {self.name} has no function here")
        kwargs = arguments
        if self.args_model is not None:
            try:
                parsed = self.args_model.model_validate(arguments)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "arguments"
                raise ValueError(
                    f"invalid arguments for {self.name}: {where}: {first['msg']}"
                ) from None
            kwargs = {k: getattr(parsed, k) for k in type(parsed).model_fields}
        result = self.fn(**kwargs)
        if isinstance(result, str):
            return result
        if isinstance(result, BaseModel):
            return result.model_dump_json()
        return json.dumps(result, ensure_ascii=False, default=str)


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Decorator: ``@tool`` or ``@tool(name="search")`` turns a function into a :class:`Tool`."""
    if fn is None:
        return lambda f: Tool.from_function(f, name)
    return Tool.from_function(fn, name)


def as_tools(tools: Sequence[Tool | Callable[..., Any]]) -> list[Tool]:
    out = [t if isinstance(t, Tool) else Tool.from_function(t) for t in tools]
    names = [t.name for t in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"two tools are called {', '.join(dupes)}")
    if not out:
        raise ConfigError("a tool run needs at least one tool")
    return out


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Examples?|Yields|Note)s?:?\s*$")
_GOOGLE_ARG = re.compile(r"^\s+(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_ARG = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (text before any section) and per-parameter descriptions."""
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    last: str | None = None
    for line in doc.splitlines():
        head = _SECTION.match(line.strip())
        if head and not line.startswith(" "):
            section, last = head.group(1), None
            continue
        sphinx = _SPHINX_ARG.match(line)
        if sphinx:
            section, last = "Args", sphinx.group(1)
            params[last] = sphinx.group(2).strip()
            continue
        if section is None:
            if not line.strip().startswith(":"):
                description.append(line)
            continue
        if section in ("Args", "Arguments", "Parameters"):
            arg = _GOOGLE_ARG.match(line)
            if arg:
                last = arg.group(1).lstrip("*")
                params[last] = arg.group(2).strip()
            elif last and line.strip():
                params[last] = f"{params[last]} {line.strip()}".strip()
    text = " ".join(" ".join(description).split())
    return text, params


# -- choosing a tool by structured output ---------------------------------------------------------
def choice_schema(
    tools: Sequence[Tool],
    *,
    allow_answer: bool = True,
    allow_calls: bool = True,
    only: str | None = None,
) -> dict[str, Any]:
    """The JSON Schema of one step: a call of one of ``tools`` (or of ``only``), or an answer."""
    options: list[dict[str, Any]] = []
    for t in tools:
        if not allow_calls or (only is not None and t.name != only):
            continue
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": t.name}, "arguments": t.parameters},
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    if allow_answer and only is None:
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": ANSWER}, "answer": {"type": "string"}},
                "required": ["tool", "answer"],
                "additionalProperties": False,
            }
        )
    if not options:
        raise ConfigError(f"no tool called '{only}' was offered" if only else "no choice left")
    return options[0] if len(options) == 1 else {"anyOf": options}


def tools_instruction(tools: Sequence[Tool]) -> str:
    lines = [f"- {t.name}: {t.description} Arguments: {json.dumps(t.parameters)}" for t in tools]
    return TOOLS_INSTRUCTION.format(tools="\n".join(lines))


def with_tools_instruction(chat: Sequence[Message], tools: Sequence[Tool]) -> list[Message]:
    """``chat`` with the tool list added to its system turn (one is made if missing)."""
    text = tools_instruction(tools)
    own = next((m.content for m in chat if m.role == "system"), None)
    head = Message(role="system", content=f"{own}\n\n{text}" if own else text)
    return [head, *[m for m in chat if m.role != "system"]]


def choose(
    model: Model,
    chat: Sequence[Message],
    tools: Sequence[Tool],
    *,
    sampling: Sampling | None = None,
    allow_answer: bool = True,
    allow_calls: bool = True,
    only: str | None = None,
    max_attempts: int = 2,
) -> Any:
    """One structured step: a :class:`~assay.prompting.structured.StructuredResult` whose value
    is ``{"tool": ..., "arguments": {...}}`` or ``{"tool": "answer", "answer": ...}``."""
    from assay.prompting.structured import generate_structured

    schema = choice_schema(tools, allow_answer=allow_answer, allow_calls=allow_calls, only=only)
    return generate_structured(
        model,
        [with_tools_instruction(chat, tools)],
        schema,
        sampling=sampling,
        max_attempts=max_attempts,
    )[0]


# -- the loop ------------------------------------------------------------------------------------
@dataclass
class ToolCall:
    step: int
    tool: str
    arguments: dict[str, Any]
    result: str | None
    error: str | None
    latency_s: float
    call_id: str = ""


@dataclass
class ToolRun:
    run_id: str
    answer: str | None
    calls: list[ToolCall]
    transcript: list[dict[str, Any]]
    """Every turn, as OpenAI-style message dicts (assistant ``tool_calls``, ``tool`` results)."""
    steps: int
    """Model calls made."""
    stopped: Literal["answer", "max_steps", "invalid_reply"]
    mode: Literal["api", "structured"]
    errors: list[str] = field(default_factory=list)


def execute(tool_: Tool | None, name: str, arguments: Any) -> tuple[str | None, str | None, float]:
    """(result, error, seconds) of one call; an exception becomes the error text."""
    start = time.perf_counter()
    if tool_ is None:
        return None, f"unknown tool '{name}'", 0.0
    if not isinstance(arguments, dict):
        return None, f"arguments must be a JSON object, got {type(arguments).__name__}", 0.0
    try:
        return tool_.call(arguments), None, time.perf_counter() - start
    except Exception as exc:  # the model hears about any failure; the run goes on
        return None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start


def run_tools(
    model: Model,
    prompt: str | Sequence[Message],
    tools: Sequence[Tool | Callable[..., Any]],
    *,
    max_steps: int = 5,
    sampling: Sampling | None = None,
    system: str | None = None,
    mode: Literal["auto", "api", "structured"] = "auto",
    conversation_id: str | None = None,
) -> ToolRun:
    """Let ``model`` call ``tools`` until it answers, for at most ``max_steps`` model calls."""
    if max_steps < 1:
        raise ConfigError(f"max_steps must be at least 1, got {max_steps}")
    specs = as_tools(tools)
    chat = [Message(role="user", content=prompt)] if isinstance(prompt, str) else list(prompt)
    if system is not None:
        chat = [Message(role="system", content=system), *[m for m in chat if m.role != "system"]]
    if mode == "auto":
        mode = "api" if model.capabilities.tools else "structured"
    run = ToolRun(
        run_id="tools-" + uuid.uuid4().hex[:12],
        answer=None,
        calls=[],
        transcript=[{"role": m.role, "content": m.content} for m in chat],
        steps=0,
        stopped="max_steps",
        mode=mode,
    )
    step_fn = _api_step if mode == "api" else _structured_step
    by_name = {t.name: t for t in specs}
    for step in range(1, max_steps + 1):
        run.steps = step
        last = step == max_steps
        calls = step_fn(model, run, specs, sampling, last)
        if calls is None:
            break
        for call_id, name, arguments in calls:
            result, error, seconds = execute(by_name.get(name), name, arguments)
            args = arguments if isinstance(arguments, dict) else {"_raw": arguments}
            call = ToolCall(step, name, args, result, error, seconds, call_id)
            run.calls.append(call)
            _log_call(model, run, call, conversation_id)
            run.transcript.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "name": name,
                    "content": result if error is None else f"error: {error}",
                }
            )
    return run


StepCalls = list[tuple[str, str, Any]]


def _structured_step(
    model: Model, run: ToolRun, tools: list[Tool], sampling: Sampling | None, last: bool
) -> StepCalls | None:
    chat = [transcript_message(m) for m in run.transcript]
    # The last step may only answer, so a run ends with an answer.
    choice = choose(model, chat, tools, sampling=sampling, allow_calls=not last)
    if not choice.valid:
        run.stopped = "invalid_reply"
        run.errors.extend(choice.errors)
        return None
    value = choice.json_value()
    if value["tool"] == ANSWER:
        run.answer = str(value["answer"])
        run.stopped = "answer"
        run.transcript.append({"role": "assistant", "content": run.answer})
        return None
    call_id = f"call_{run.steps}"
    run.transcript.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [_call_dict(call_id, value["tool"], value["arguments"])],
        }
    )
    return [(call_id, value["tool"], value["arguments"])]


def _api_step(
    model: Model, run: ToolRun, tools: list[Tool], sampling: Sampling | None, last: bool
) -> StepCalls | None:
    from assay.models.openai_tools import chat_with_tools

    reply = chat_with_tools(
        model,
        run.transcript,
        [t.openai_spec() for t in tools],
        sampling=sampling,
        tool_choice="none" if last else "auto",
    )
    if not reply.tool_calls:
        run.answer = reply.content or ""
        run.stopped = "answer"
        run.transcript.append({"role": "assistant", "content": run.answer})
        return None
    run.transcript.append(
        {
            "role": "assistant",
            "content": reply.content,
            "tool_calls": [_call_dict(c.id, c.name, c.arguments) for c in reply.tool_calls],
        }
    )
    return [(c.id, c.name, c.parsed_arguments()) for c in reply.tool_calls]


def _call_dict(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def transcript_message(turn: dict[str, Any]) -> Message:
    """A transcript turn as a chat message for a local model (calls written as JSON)."""
    if turn.get("tool_calls"):
        fn = turn["tool_calls"][0]["function"]
        try:
            arguments = json.loads(fn["arguments"])
        except (TypeError, ValueError):
            arguments = fn["arguments"]
        text = json.dumps({"tool": fn["name"], "arguments": arguments}, ensure_ascii=False)
        return Message(role="assistant", content=text)
    if turn["role"] == "tool":
        return Message(
            role="tool", content=f"{turn.get('name', 'tool')} returned: {turn['content']}"
        )
    return Message(role=turn["role"], content=turn.get("content") or "")


def _log_call(model: Model, run: ToolRun, call: ToolCall, conversation_id: str | None) -> None:
    from assay.prompting.conversation_store import log_tool_call

    log_tool_call(
        model.workspace,
        run_id=run.run_id,
        conversation_id=conversation_id,
        step=call.step,
        tool=call.tool,
        arguments=call.arguments,
        result=call.result,
        error=call.error,
        latency_s=call.latency_s,
    )


__all__ = [
    "ANSWER",
    "Tool",
    "ToolCall",
    "ToolRun",
    "as_tools",
    "choice_schema",
    "choose",
    "execute",
    "parse_docstring",
    "run_tools",
    "tool",
    "tools_instruction",
    "transcript_message",
    "with_tools_instruction",
]
