"""Structured output: ask for JSON that fits a schema, and get back a validated object.

    >>> from pydantic import BaseModel
    >>> class Person(BaseModel):
    ...     name: str
    ...     age: int | None = None
    >>> [r] = assay.structured("default", "Ada Lovelace died at 36.", Person)
    >>> r.value, r.valid, r.attempts          # Person(name='Ada Lovelace', age=36), True, 1

How it works, once for every backend:

1. The schema (a pydantic model, a dict, or a ``.json`` file) is checked and put into the
   request's sampling settings (``Sampling.json_schema``), where local backends decode under it
   (``hf``: llguidance; ``gguf``: llama.cpp's grammar) and OpenAI-compatible servers get it as
   ``response_format``. Backends that cannot constrain (``fake:``) ignore it.
2. Each prompt is sent as a chat whose system turn asks for JSON (after ``system``, if given)
   and, for backends that do not constrain decoding themselves, shows the schema; a text prompt
   becomes its user turn.
3. Every reply is parsed and validated (JSON Schema, then the pydantic model if one was given).
   A reply that fails is answered with the validation error and asked again, up to
   ``max_attempts`` model calls per prompt. All prompts of an attempt go in one batch. A re-ask
   that would only repeat the failure is not made, and ``gave_up`` says why: the same error
   twice in a row, a constrained reply cut off at ``max_tokens`` (the same budget cuts it
   again), or an unconstrained one cut off twice.

Each :class:`StructuredResult` records the value, the raw text, whether it is valid, the
attempts used, one error message per failed attempt, whether decoding was constrained, and the
tokens and time spent. One ``structured`` row per call in the workspace call log
(``assay log``) records how many replies were valid and how many model calls it took.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from assay.errors import ConfigError, ContextLengthError, SamplingError
from assay.models.types import (
    Generation,
    Message,
    Prompt,
    Sampling,
    as_messages,
    canonical_schema,
)

if TYPE_CHECKING:
    from assay.models.facade import Model

SCHEMA_INSTRUCTION = (
    "Reply with one JSON value, and nothing else, that is valid against this JSON Schema:\n{schema}"
)
JSON_INSTRUCTION = "Reply with one JSON value, and nothing else."
"""Used instead of :data:`SCHEMA_INSTRUCTION` for backends that decode under the schema: the
keys and allowed values reach the model as forced tokens, and a schema in the prompt would cost
hundreds of prompt tokens per request."""
RETRY_INSTRUCTION = "That reply is not valid: {error}. Reply again with only the corrected JSON."
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*?)\n?```\s*$", re.S)


# -- schemas ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JsonSchema:
    """A checked JSON Schema, where it came from, and the pydantic model behind it (if any)."""

    schema: dict[str, Any] | bool
    source: str = "schema"
    """A file name, a class name or ``"schema"``: named in error messages."""
    model: type[BaseModel] | None = None
    text: str = field(default="", compare=False)
    """Compact JSON text of the schema decoding is held to (what ``Sampling.json_schema``
    holds): ``schema`` with its objects closed (see :func:`_closed`). Every reply valid against
    it is valid against ``schema``, which is what replies are checked against."""

    @property
    def name(self) -> str:
        title = self.schema.get("title") if isinstance(self.schema, dict) else None
        return str(title or (self.model.__name__ if self.model is not None else "answer"))

    def validate_text(self, text: str) -> tuple[Any, str | None]:
        """``(value, None)`` for a valid reply, ``(None, why not)`` otherwise."""
        try:
            data = parse_json(text)
        except ValueError as exc:
            return None, str(exc)
        return self.validate_value(data)

    def validate_value(self, data: Any) -> tuple[Any, str | None]:
        from jsonschema.exceptions import best_match
        from jsonschema.validators import validator_for

        validator = validator_for(self.schema)(self.schema)
        error = best_match(validator.iter_errors(data))
        if error is not None:
            return None, f"at {error.json_path}: {error.message}"
        if self.model is None:
            return data, None
        try:
            return self.model.model_validate(data), None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            return None, f"at {where}: {first['msg']}"


def load_schema(
    schema: type[BaseModel] | dict[str, Any] | str | os.PathLike[str] | JsonSchema,
) -> JsonSchema:
    """Check a schema given as a pydantic model class, a dict, JSON text, or a ``.json`` file.

    Decoding is held to the schema with its objects closed to keys they do not declare (see
    :func:`_closed`); replies are validated against the schema as given.

    A file that cannot be read, is not JSON, or is not a valid JSON Schema raises
    :class:`ConfigError` naming the file and the problem.
    """
    if isinstance(schema, JsonSchema):
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return _checked(schema.model_json_schema(), schema.__name__, schema)
    if isinstance(schema, dict | bool):
        return _checked(schema, "schema")
    if isinstance(schema, str) and schema.lstrip().startswith("{"):
        try:
            return _checked(json.loads(schema), "schema")
        except ValueError as exc:
            raise ConfigError(f"the schema text is not JSON: {exc}") from None
    if isinstance(schema, str | os.PathLike):
        path = Path(schema).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot read the JSON Schema file ({exc.strerror or exc})"
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at byte offset "
                f"{exc.start})",
                hint="save the schema as UTF-8",
            ) from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not a JSON file ({exc})") from None
        return _checked(data, str(path))
    raise ConfigError(
        f"a schema is a pydantic model class, a dict or a .json file, not {type(schema).__name__}"
    )


def _closed(node: Any) -> Any:
    """The schema with ``additionalProperties: false`` on every object that does not say
    otherwise. JSON Schema leaves objects open by default (and pydantic, which drops unknown
    keys, writes nothing for it), so a model decoding under the open schema can spend its
    whole budget inventing keys: SmolLM2 on a person schema went on to
    ``family_family_family_name`` until it was cut off. Objects that say ``true``/``false`` or
    have ``patternProperties`` are kept as they are."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in ("properties", "$defs", "definitions"):  # name -> subschema
        if isinstance(out.get(key), dict):
            out[key] = {name: _closed(sub) for name, sub in out[key].items()}
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):  # lists of subschemas
        if isinstance(out.get(key), list):
            out[key] = [_closed(sub) for sub in out[key]]
    for key in ("items", "additionalProperties", "not"):  # one subschema
        if isinstance(out.get(key), dict):
            out[key] = _closed(out[key])
    if "properties" in out and "additionalProperties" not in out and "patternProperties" not in out:
        out["additionalProperties"] = False
    return out


def _checked(schema: Any, source: str, model: type[BaseModel] | None = None) -> JsonSchema:
    try:
        canonical_schema(schema)  # the schema as given must be valid, not only its closed form
        text = canonical_schema(_closed(schema))
    except SamplingError as exc:
        message = exc.message.removeprefix("json_schema ").removeprefix("is ")
        raise ConfigError(f"{source}: {message}") from None
    return JsonSchema(schema=schema, source=source, model=model, text=text)


def parse_json(text: str) -> Any:
    """The JSON value in a reply: the whole text, else a fenced block, else the first value.

    Constrained replies are exactly JSON; unconstrained models often wrap it in a Markdown
    fence or a sentence, which is forgiven here (the value must still be valid).
    """
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as first:
        fenced = _FENCE.match(stripped)
        if fenced:
            try:
                return json.loads(fenced.group(1))
            except ValueError:
                pass
        starts = [i for i in (stripped.find("{"), stripped.find("[")) if i != -1]
        if starts:
            try:
                return json.JSONDecoder().raw_decode(stripped[min(starts) :])[0]
            except ValueError:
                pass
        if not stripped:
            raise ValueError("the reply is empty, not JSON") from None
        raise ValueError(f"the reply is not JSON ({first.msg} at character {first.pos})") from None


# -- results ---------------------------------------------------------------------------------------
class StructuredResult(BaseModel):
    value: Any | None = None
    """The validated value: an instance of the pydantic model when one was given, else the
    parsed JSON (dict, list, ...). None when no attempt was valid."""
    raw: str = ""
    """The last raw text from the model."""
    valid: bool = False
    attempts: int = 0
    """Model calls used for this prompt (1: the first answer was valid)."""
    errors: list[str] = []
    """One validation error message per failed attempt, in order."""
    gave_up: str | None = None
    """Why no more attempts were made before ``max_attempts`` (a re-ask that would repeat the
    same failure), if so."""
    constrained: bool = False
    """The backend decoded under the schema (on the last attempt)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)

    def json_value(self) -> Any:
        """The value as plain JSON data (a pydantic instance is dumped)."""
        if isinstance(self.value, BaseModel):
            return self.value.model_dump(mode="json")
        return self.value


def validity(results: Sequence[StructuredResult]) -> dict[str, Any]:
    """Counts over a run: valid replies, the validity rate, model calls and re-asks."""
    total = len(results)
    valid = sum(r.valid for r in results)
    calls = sum(r.attempts for r in results)
    return {
        "prompts": total,
        "valid": valid,
        "validity_rate": valid / total if total else 1.0,
        "first_try_valid": sum(r.valid and r.attempts == 1 for r in results),
        "calls": calls,
        "retries": calls - total,
        "constrained": sum(r.constrained for r in results),
    }


# -- generation ------------------------------------------------------------------------------------
def _prompt_list(prompts: Any) -> list[Prompt]:
    if isinstance(prompts, str):
        return [prompts]
    items = list(prompts)
    if items and isinstance(items[0], Message | dict):
        return [as_messages(items)]
    return [p if isinstance(p, str) else as_messages(p) for p in items]


def schema_chat(
    prompt: Prompt, schema: JsonSchema, system: str | None = None, *, show_schema: bool = True
) -> list[Message]:
    """The chat sent for ``prompt``: its system turn (``system``, else the chat's own) followed
    by the JSON instruction (with the schema when ``show_schema``), then the rest of the chat (a
    text prompt is one user turn)."""
    chat = [Message(role="user", content=prompt.strip())] if isinstance(prompt, str) else prompt
    own = next((m.content for m in chat if m.role == "system"), None)
    head = system if system is not None else own
    instruction = SCHEMA_INSTRUCTION.format(schema=schema.text) if show_schema else JSON_INSTRUCTION
    content = f"{head}\n\n{instruction}" if head else instruction
    return [Message(role="system", content=content), *[m for m in chat if m.role != "system"]]


def structured_sampling(sampling: Sampling | None, schema: JsonSchema) -> Sampling:
    """``sampling`` (default: greedy) with the schema set; one sample per prompt."""
    base = sampling or Sampling()
    if base.n != 1:
        raise SamplingError(
            f"n (samples per prompt) must be 1 for structured output, got {base.n}",
            hint="call it several times with different seeds for several samples",
        )
    return Sampling.model_validate({**base.model_dump(), "json_schema": schema.text})


def generate_structured(
    model: Model | str,
    prompts: Sequence[Prompt] | Prompt,
    schema: type[BaseModel] | dict[str, Any] | str | os.PathLike[str] | JsonSchema,
    *,
    sampling: Sampling | None = None,
    max_attempts: int = 3,
    system: str | None = None,
    show_schema: bool | None = None,
) -> list[StructuredResult]:
    """One validated JSON answer per prompt (see the module docstring); batched over prompts.

    ``model`` is a loaded :class:`~assay.models.facade.Model` or an address (``"default"``).
    ``sampling`` defaults to greedy decoding with 256 new tokens at most. Invalid answers are
    re-asked with the validation error until ``max_attempts`` model calls per prompt.
    ``show_schema``: put the schema in the system turn; by default only for backends that do not
    decode under it themselves (API and scripted models).
    """
    if max_attempts < 1:
        raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
    if isinstance(model, str):
        from assay.models.facade import Model

        model = Model.load(model)
    checked = load_schema(schema)
    settings = structured_sampling(sampling, checked)
    if show_schema is None:
        show_schema = not model.capabilities.constrained_decoding
    chats = [
        schema_chat(p, checked, system, show_schema=show_schema) for p in _prompt_list(prompts)
    ]
    results = [StructuredResult() for _ in chats]
    pending = list(range(len(chats)))
    start = time.perf_counter()
    try:
        for attempt in range(max_attempts):
            if not pending:
                break
            if attempt == 0:  # a prompt that does not fit is the caller's error
                gens: list[Generation | None] = list(
                    model.generate([chats[i] for i in pending], settings)
                )
            else:
                gens = _generate_fitting(model, [chats[i] for i in pending], settings)
            still: list[int] = []
            for i, gen in zip(pending, gens, strict=True):
                result = results[i]
                if gen is None:
                    result.errors.append("the re-ask no longer fits the model's context")
                    continue
                result.attempts += 1
                result.raw = gen.text
                result.constrained = gen.constrained
                result.prompt_tokens += gen.prompt_tokens
                result.completion_tokens += gen.completion_tokens
                result.latency_s += gen.latency_s
                value, error = checked.validate_text(gen.text)
                if error is None:
                    result.value, result.valid = value, True
                    continue
                if gen.finish_reason == "length":
                    error = f"cut off at max_tokens={settings.max_tokens} ({error})"
                result.errors.append(error)
                if attempt + 1 < max_attempts:
                    result.gave_up = _futile(result.errors, gen)
                    if result.gave_up is not None:
                        continue
                chats[i] = [
                    *chats[i],
                    Message(role="assistant", content=gen.text),
                    Message(role="user", content=RETRY_INSTRUCTION.format(error=error)),
                ]
                still.append(i)
            pending = still
    finally:
        _log(model, checked, results, time.perf_counter() - start)
    return results


structured = generate_structured
"""Short name, exported as ``assay.structured``."""


def _futile(errors: list[str], gen: Generation) -> str | None:
    """Why asking again would only repeat the failure just recorded (the last of ``errors``),
    or None if a re-ask may help: a constrained reply cut off at ``max_tokens`` is cut off again
    with the same budget; an unconstrained one is given one more chance; the same error twice
    in a row is not worth a third try."""
    if gen.finish_reason == "length" and gen.constrained:
        return "a reply held to the schema was cut off; the same max_tokens would cut it again"
    if len(errors) >= 2 and all(e.startswith("cut off at max_tokens=") for e in errors[-2:]):
        return "cut off at max_tokens twice; the same budget would cut a third reply too"
    if len(errors) >= 2 and errors[-1] == errors[-2]:
        return "the re-ask gave the same error again"
    return None


def _generate_fitting(
    model: Model, chats: list[list[Message]], sampling: Sampling
) -> list[Generation | None]:
    """Generations for the chats; None for a chat longer than the model's context (a re-ask
    conversation that grew too long), the others still run."""
    try:
        return list(model.generate(chats, sampling))
    except ContextLengthError:
        if len(chats) == 1:
            return [None]
    return [_generate_fitting(model, [chat], sampling)[0] for chat in chats]


def _log(model: Model, schema: JsonSchema, results: list[StructuredResult], seconds: float) -> None:
    """One ``structured`` row in the call log: validity and re-asks for the whole call. Its
    tokens and cost are zero: the model calls are logged (and counted) as ``generate`` rows."""
    done = [r for r in results if r.attempts]
    counts = validity(done)
    invalid = counts["prompts"] - counts["valid"]
    model._log(
        "structured",
        len(results),
        0,
        0,
        seconds,
        0,
        f"{invalid} of {counts['prompts']} replies invalid" if invalid else None,
        json.dumps({"schema": schema.name, **counts}),
    )


__all__ = [
    "JsonSchema",
    "StructuredResult",
    "generate_structured",
    "load_schema",
    "parse_json",
    "schema_chat",
    "structured",
    "structured_sampling",
    "validity",
]
