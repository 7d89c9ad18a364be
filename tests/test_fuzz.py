"""Property-based tests (hypothesis) of the code that reads what users write: document readers,
row files, the chunker, prompt templates, answer extraction and the config loaders. Whatever the
input, each either works (and its result keeps its promises) or refuses with assay's own error,
never another exception."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.config import load_settings
from assay.errors import AssayError
from assay.evals.task import load_task
from assay.prompting.extract import answer_line, choice_letter, json_field, last_number
from assay.prompting.rows import read_rows
from assay.prompting.templates import PromptTemplate
from assay.rag.chunking import ChunkingConfig, chunk_document
from assay.rag.document import ParsedDocument
from assay.rag.readers import read_document

# A fixed draw of 40 examples per test in the suite; ASSAY_FUZZ_EXAMPLES=2000 hunts further,
# with a new random draw each time.
HUNT = int(os.environ.get("ASSAY_FUZZ_EXAMPLES", "0"))
FAST = settings(
    max_examples=HUNT or 40,
    derandomize=not HUNT,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
# Text that looks like what the readers and the chunker meet: words, punctuation, blank lines,
# headings, tags, unicode, control characters.
PIECES = st.sampled_from(
    [
        "word", "Cats", "sleep.", " ", "  ", "\n", "\n\n", "# Title\n", "## Part\n", "<p>", "</p>",
        "<h1>", "</h1>", "<script>x()</script>", "é", "数据", "\u200b", "\t", "3.14", "-", "...",
        "?", "\r\n", "\x00", "{{", "}}", "{%", "%}", "\ud7ff", "Ω", "!", "'", '"', "&amp;",
    ]
)  # fmt: skip
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=60).map("".join)


def _file(suffix: str, data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="assay-fuzz-"))
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    return path


# -- document readers ----------------------------------------------------------------------------
@FAST
@given(
    suffix=st.sampled_from([".md", ".txt", ".html"]),
    data=st.one_of(st.binary(max_size=300), TEXTS.map(lambda t: t.encode("utf-8", "replace"))),
)
def test_readers_parse_or_refuse(suffix: str, data: bytes) -> None:
    try:
        doc = read_document(Path(f"doc{suffix}"), data=data)
    except AssayError:
        return
    assert isinstance(doc.text, str)
    for h in doc.headings:
        assert 0 <= h.start <= len(doc.text)


# -- row files -----------------------------------------------------------------------------------
@FAST
@given(
    suffix=st.sampled_from([".jsonl", ".csv"]),
    data=st.one_of(
        st.binary(max_size=200),
        st.lists(
            st.dictionaries(st.text(max_size=5), st.text(max_size=8), max_size=3), max_size=6
        ).map(lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode()),
        TEXTS.map(str.encode),
    ),
)
def test_row_files_give_numbered_rows_or_one_error(suffix: str, data: bytes) -> None:
    try:
        rows = read_rows(_file(suffix, data))
    except AssayError:
        return
    lines = [r.line for r in rows]
    assert lines == sorted(lines) and all(line >= 1 for line in lines)
    for row in rows:
        assert (row.values is None) == (row.error is not None)
        assert row.values is None or isinstance(row.values, dict)


# -- the chunker ---------------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+|[^\w\s]")


def _count(texts: list[str]) -> list[int]:
    return [len(_TOKEN.findall(t)) for t in texts]


def _spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN.finditer(text)]


@FAST
@given(
    text=TEXTS,
    max_tokens=st.integers(16, 48),
    overlap=st.integers(0, 7),
    sections=st.booleans(),
)
def test_chunks_are_slices_in_order_within_size_covering_every_word(
    text: str, max_tokens: int, overlap: int, sections: bool
) -> None:
    doc = ParsedDocument(text=text, kind="text")
    config = ChunkingConfig(
        max_tokens=max_tokens, overlap_tokens=overlap, respect_sections=sections
    )
    chunks = chunk_document(doc, config, _count, _spans)
    covered = [False] * len(text)
    for i, c in enumerate(chunks):
        assert c.seq == i and 0 <= c.start < c.end <= len(text)
        assert c.text == text[c.start : c.end]
        assert c.n_tokens <= max_tokens
        for k in range(c.start, c.end):
            covered[k] = True
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    # No word of the text is left out of every chunk.
    for a, b in _spans(text):
        assert all(covered[a:b]), (text[a:b], a)


# -- prompt templates ----------------------------------------------------------------------------
@FAST
@given(source=TEXTS, value=TEXTS)
def test_templates_render_or_refuse_with_their_name(source: str, value: str) -> None:
    try:
        template = PromptTemplate.from_string(source, name="t.jinja")
        messages = template.render({v: value for v in template.variables})
    except AssayError as exc:
        assert "t.jinja" in exc.message or "template" in exc.message.lower(), exc.message
        return
    assert all(isinstance(m.content, str) for m in messages)


@FAST
@given(value=TEXTS.filter(lambda t: t.strip() != ""))
def test_a_variable_reaches_the_prompt_as_given(value: str) -> None:
    (message,) = PromptTemplate.from_string("Question: {{ q }}").render({"q": value})
    assert value.strip() in message.content


# -- answer extraction ---------------------------------------------------------------------------
@FAST
@given(before=TEXTS, number=st.integers(-(10**9), 10**9), after=st.sampled_from(["", ".", " ."]))
def test_the_last_number_is_found(before: str, number: int, after: str) -> None:
    got = last_number(f"{before} {number}{after}")
    assert got.ok and got.value == str(number)


@FAST
@given(text=TEXTS)
def test_extractors_never_raise(text: str) -> None:
    for extraction in (
        last_number(text),
        choice_letter(text),
        answer_line(text),
        json_field(text, "answer"),
    ):
        assert extraction.ok == (extraction.value is not None)


@FAST
@given(answer=st.one_of(st.text(max_size=20), st.integers(), st.booleans()), before=TEXTS)
def test_a_json_answer_is_read_back(answer: object, before: str) -> None:
    got = json_field(before.replace("{", "(") + " " + json.dumps({"answer": answer}), "answer")
    want = answer.strip() if isinstance(answer, str) else json.dumps(answer)
    assert got.ok == bool(want) and got.value == (want or None)


# -- config loaders ------------------------------------------------------------------------------
YAMLISH = st.one_of(
    TEXTS,
    st.dictionaries(
        st.sampled_from(["batch_size", "device", "openai", "cache", "aliases", "prices", "typo"]),
        st.one_of(st.integers(-3, 3), st.text(max_size=6), st.none(), st.lists(st.integers())),
        max_size=4,
    ).map(json.dumps),
)


@FAST
@given(text=YAMLISH)
def test_the_workspace_config_loads_or_refuses(text: str) -> None:
    path = _file(".yaml", text.encode("utf-8", "surrogatepass"))
    try:
        load_settings(path)
    except AssayError as exc:
        assert str(path) in exc.message or "config" in exc.message, exc.message


@FAST
@given(text=YAMLISH)
def test_task_files_load_or_refuse(text: str) -> None:
    path = _file(".yaml", text.encode("utf-8", "surrogatepass"))
    try:
        load_task(str(path))
    except AssayError as exc:
        assert str(path) in exc.message or "task" in exc.message, exc.message
