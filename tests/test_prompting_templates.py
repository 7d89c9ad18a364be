"""Prompt templates: the role-marker format, strict variables, errors that name file and line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from assay.errors import UserError
from assay.models.types import Message
from assay.prompting.prompt import make_prompt
from assay.prompting.templates import PromptTemplate, TemplateError, load_template


def write(tmp_path: Path, text: str, name: str = "t.jinja") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_system_and_user_turns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "{# role: system #}\nYou are terse.\n{# role: user #}\nQuestion: {{ question }}\n",
    )
    t = load_template(path)
    assert t.render(question="2+2?") == [
        Message(role="system", content="You are terse."),
        Message(role="user", content="Question: 2+2?"),
    ]
    assert t.variables == {"question"}
    assert t.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert t.name == str(path)


def test_no_marker_is_one_user_turn() -> None:
    t = PromptTemplate.from_string("Translate: {{ text }}\n")
    assert t.render({"text": "bonjour"}) == [Message(role="user", content="Translate: bonjour")]
    assert not t.has_roles


def test_markers_in_a_loop_make_a_conversation() -> None:
    t = PromptTemplate.from_string(
        "{#- role: system -#}\nAnswer with a number.\n"
        "{% for ex in examples %}\n"
        "{# role: user #}\n{{ ex.q }}\n"
        "{# role: assistant #}\n{{ ex.a }}\n"
        "{% endfor %}\n"
        "{# role: user #}\n{{ question }}\n"
    )
    chat = t.render(examples=[{"q": "1+1", "a": "2"}, {"q": "2+3", "a": "5"}], question="4+4")
    assert [(m.role, m.content) for m in chat] == [
        ("system", "Answer with a number."),
        ("user", "1+1"),
        ("assistant", "2"),
        ("user", "2+3"),
        ("assistant", "5"),
        ("user", "4+4"),
    ]
    assert t.variables == {"examples", "question"}


def test_optional_system_turn_is_dropped_when_empty() -> None:
    t = PromptTemplate.from_string(
        "{% if system %}{# role: system #}{{ system }}{% endif %}\n{# role: user #}\nhi {{ name }}"
    )
    assert t.render(system="", name="a") == [Message(role="user", content="hi a")]
    assert t.render(system="be kind", name="a")[0] == Message(role="system", content="be kind")


def test_undefined_variable_names_file_line_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "{# role: system #}\nBe brief.\n{# role: user #}\nQ: {{ question }}\n")
    with pytest.raises(TemplateError) as info:
        load_template(path).render(answer="x")
    msg = info.value.message
    assert str(path) in msg and "line 4" in msg and "'question'" in msg
    assert info.value.line == 4
    assert isinstance(info.value, UserError)


def test_undefined_inside_a_loop_and_missing_attribute(tmp_path: Path) -> None:
    path = write(tmp_path, "{% for x in items %}\n{{ x.name }}\n{% endfor %}\n")
    t = load_template(path)
    with pytest.raises(TemplateError, match=r"t\.jinja line 1: undefined variable 'items'"):
        t.render()
    with pytest.raises(TemplateError, match=r"t\.jinja line 2: .*no attribute 'name'"):
        t.render(items=[{}])


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "line one\n{% if x %}\nno end\n")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert str(path) in info.value.message and "line 3" in info.value.message
    assert "syntax error" in info.value.message
    bad_filter = write(tmp_path, "ok\n{{ x | nosuchfilter }}\n", "f.jinja")
    with pytest.raises(TemplateError, match=r"f\.jinja line 2: .*nosuchfilter"):
        load_template(bad_filter)


def test_unknown_role_and_text_before_first_marker() -> None:
    with pytest.raises(TemplateError, match="line 2: unknown role 'bot'"):
        PromptTemplate.from_string("hi\n{# role: bot #}\nx")
    with pytest.raises(TemplateError, match="text before the first role marker"):
        PromptTemplate.from_string("stray\n{# role: user #}\nx").render()


def test_empty_render_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="empty prompt"):
        PromptTemplate.from_string("{{ x }}").render(x="  ")
    with pytest.raises(TemplateError, match="cannot read template"):
        load_template(tmp_path / "missing.jinja")


def test_sandbox_blocks_python_internals() -> None:
    t = PromptTemplate.from_string("{{ x.__class__.__mro__ }}")
    with pytest.raises(TemplateError):
        t.render(x="s")


def test_make_prompt_system_and_raw() -> None:
    chat = [Message(role="system", content="old"), Message(role="user", content="q")]
    assert make_prompt(chat, system="new") == [
        Message(role="system", content="new"),
        Message(role="user", content="q"),
    ]
    assert make_prompt(" hi\n") == [Message(role="user", content="hi")]
    assert make_prompt("2 + 2 =", raw=True) == "2 + 2 ="
    assert make_prompt([Message(role="user", content="x")], raw=True) == "x"
    with pytest.raises(UserError, match="single user turn"):
        make_prompt(chat, raw=True)
    with pytest.raises(UserError, match="system prompt needs a chat"):
        make_prompt("x", raw=True, system="s")
