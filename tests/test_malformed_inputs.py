"""A corpus of malformed inputs, one case per file a command reads: documents, row files, prompt
templates, JSON schemas, few-shot pools, task configs and their datasets, training configs and
their data, bibliographies, images, scripted-model files and the workspace config. Each must end
in one ``error:`` line naming the file (or its line or field), a non-zero
exit, no traceback, and nothing half-written: no output file, no run, no collection, no model
folder, no citation check. Runs in-process through the CLI's ``main``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli_util import run_assay
from faulty_api import FaultyAPI

BAD_UTF8 = b"caf\xe9 \xff\xfe au lait"
GOOD_ROWS = b'{"q": "What is 2 plus 2?"}\n'
GOOD_TEMPLATE = b"Question: {{ q }}\n"
GOOD_DATA = b'{"id": "a", "q": "1 plus 1", "a": "2"}\n{"id": "b", "q": "2 plus 2", "a": "4"}\n'


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, bytes]
    """Files written into the test folder, by name (``{dir}`` in their text is the folder)."""
    args: tuple[str, ...]
    """The command line; ``{dir}`` is the folder."""
    says: str
    """A fragment the error must contain (case-insensitive): the file, line or field."""
    config: bytes | None = None
    """The workspace's config.yaml, when the case is about it."""


def generate(extra: str, **files: bytes) -> tuple[dict[str, bytes], tuple[str, ...]]:
    base = {"rows.jsonl": GOOD_ROWS, "t.jinja": GOOD_TEMPLATE}
    base.update({k.replace("__", "."): v for k, v in files.items()})
    args = ("generate", "fake:", "--output", "{dir}/out/answers.jsonl", *extra.split())
    return base, args


def rows_case(id: str, name: str, content: bytes, says: str) -> Case:
    files, args = generate(f"--template {{dir}}/t.jinja --input {{dir}}/{name}")
    return Case(id, {**files, name: content}, args, says)


def template_case(id: str, content: bytes, says: str) -> Case:
    files, args = generate("--template {dir}/bad.jinja --input {dir}/rows.jsonl")
    return Case(id, {**files, "bad.jinja": content}, args, says)


def schema_case(id: str, content: bytes, says: str) -> Case:
    return Case(
        id,
        {"s.json": content},
        ("generate", "fake:", "Ada, 36", "--schema", "{dir}/s.json"),
        says,
    )


def doc_case(id: str, name: str, content: bytes, says: str) -> Case:
    # Embedded over the API (``{api}``): loading a local embedder would take most of the time.
    args = ("docs", "add", f"{{dir}}/{name}", "-c", "notes", "--no-progress", "--embedder", "{api}")
    return Case(id, {name: content}, args, says)


def task_case(id: str, task: bytes, says: str, data: bytes = GOOD_DATA) -> Case:
    return Case(
        id,
        {"task.yaml": task, "data.jsonl": data},
        ("eval", "{dir}/task.yaml", "-m", "fake:"),
        says,
    )


TASK = b"name: t\ndataset: {source: {dir}/data.jsonl, id_field: id}\ninput: q\ntarget: a\n"


def train_case(id: str, config: bytes, says: str, data: bytes | None = None) -> Case:
    files = {"run.yaml": config}
    two_classes = b'{"text": "a b", "label": "x"}\n{"text": "c d", "label": "y"}\n' * 4
    files["train.jsonl"] = data if data is not None else two_classes
    return Case(id, files, ("train", "{dir}/run.yaml"), says)


TRAIN = b"recipe: classifier\nmodel: {dir}/no-such-model\ndata: {train: {dir}/train.jsonl}\n"


def bib_case(id: str, name: str, content: bytes, says: str) -> Case:
    return Case(
        id,
        {"reply.txt": b"As shown by Smith (2020), cats sleep.\n", name: content},
        ("check", "citations", "{dir}/reply.txt", "--bib", f"{{dir}}/{name}"),
        says,
    )


def examples_case(id: str, content: bytes, says: str) -> Case:
    files, args = generate("--template {dir}/t.jinja --input {dir}/rows.jsonl")
    return Case(
        id, {**files, "pool.jsonl": content}, (*args, "--examples", "{dir}/pool.jsonl"), says
    )


def image_case(id: str, name: str, content: bytes, says: str) -> Case:
    return Case(
        id, {name: content}, ("generate", "fake:", "hi", "--image", f"{{dir}}/{name}"), says
    )


PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def script_case(id: str, content: bytes, says: str) -> Case:
    return Case(id, {"script.yaml": content}, ("generate", "fake:{dir}/script.yaml", "hi"), says)


def config_case(id: str, content: bytes, says: str) -> Case:
    return Case(id, {}, ("generate", "fake:", "hi"), says, config=content)


CASES = [
    # -- documents ---------------------------------------------------------------------------
    doc_case("pdf-not-a-pdf", "paper.pdf", b"just some text, no PDF at all\n", "paper.pdf"),
    doc_case("pdf-empty", "paper.pdf", b"", "paper.pdf"),
    doc_case("pdf-header-only", "paper.pdf", b"%PDF-1.4\n", "paper.pdf"),
    doc_case("pdf-truncated", "paper.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pa", "paper.pdf"),
    doc_case("pdf-garbage", "paper.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8, "paper.pdf"),
    doc_case("md-empty", "notes.md", b"", "notes.md"),
    doc_case("md-whitespace", "notes.md", b"  \n\n\t\n", "notes.md"),
    doc_case("md-binary", "notes.md", b"\x00\x01\x02\x03" * 64, "notes.md"),
    doc_case("txt-empty", "notes.txt", b"", "notes.txt"),
    doc_case("txt-nul-bytes", "notes.txt", b"text\x00with\x00nul" * 20, "notes.txt"),
    doc_case("html-empty", "page.html", b"", "page.html"),
    doc_case("html-no-text", "page.html", b"<html><script>var x = 1;</script></html>", "page.html"),
    doc_case("unsupported-docx", "report.docx", b"PK\x03\x04" + b"\x00" * 40, "report.docx"),
    doc_case("unsupported-xlsx", "sheet.xlsx", b"PK\x03\x04" + b"\x00" * 40, "sheet.xlsx"),
    doc_case("no-suffix", "README", b"plain words\n", "README"),
    # -- row files (generate --input) --------------------------------------------------------
    rows_case("jsonl-not-json", "in.jsonl", b'{"q": "a"}\n{"q": \n', "line 2"),
    rows_case("jsonl-array-row", "in.jsonl", b'{"q": "a"}\n["q", "b"]\n', "line 2"),
    rows_case("jsonl-scalar-row", "in.jsonl", b"42\n", "line 1"),
    rows_case("jsonl-missing-var", "in.jsonl", b'{"q": "a"}\n{"x": "b"}\n', "line 2"),
    rows_case("jsonl-bad-utf8", "in.jsonl", b'{"q": "' + BAD_UTF8 + b'"}\n', "in.jsonl"),
    rows_case("jsonl-pretty-printed", "in.jsonl", b'{\n  "q": "a"\n}\n', "line 1"),
    rows_case("jsonl-nul", "in.jsonl", b'{"q": "a"}\x00\n', "line 1"),
    rows_case("csv-header-only-bad", "in.csv", b'"q\n', "in.csv"),
    rows_case("csv-ragged", "in.csv", b"q,extra\nfirst,1\nsecond,2,3,4\n", "line 3"),
    rows_case("csv-missing-column", "in.csv", b"question\nWhat?\n", "line 2"),
    rows_case("csv-bad-utf8", "in.csv", b"q\n" + BAD_UTF8 + b"\n", "in.csv"),
    rows_case("csv-unclosed-quote", "in.csv", b'q\n"never closed\n', "in.csv"),
    rows_case("rows-unsupported-suffix", "in.xlsx", b"PK\x03\x04", "in.xlsx"),
    # -- prompt templates --------------------------------------------------------------------
    template_case("template-unclosed-expression", b"Question: {{ q \n", "bad.jinja"),
    template_case("template-unclosed-block", b"{% for x in q %}{{ x }}\n", "bad.jinja"),
    template_case("template-unknown-filter", b"{{ q | no_such_filter }}\n", "bad.jinja"),
    template_case("template-unknown-role", b"{# role: wizard #}\n{{ q }}\n", "wizard"),
    template_case("template-bad-utf8", b"Question: " + BAD_UTF8 + b" {{ q }}\n", "bad.jinja"),
    template_case("template-empty", b"", "bad.jinja"),
    template_case("template-nul", b"Q: {{ q }}\x00\n", "bad.jinja"),
    # -- JSON schemas ------------------------------------------------------------------------
    schema_case("schema-not-json", b"{type: object", "s.json"),
    schema_case("schema-array", b'["type", "object"]', "s.json"),
    schema_case("schema-unknown-type", b'{"type": "nosuch"}', "s.json"),
    schema_case("schema-empty", b"", "s.json"),
    schema_case(
        "schema-bad-ref", b'{"type": "object", "properties": {"a": {"$ref": "#/x"}}}', "s.json"
    ),
    schema_case("schema-bad-utf8", b'{"type": "string", "title": "' + BAD_UTF8 + b'"}', "s.json"),
    # -- few-shot pools ----------------------------------------------------------------------
    examples_case("pool-not-json", b'{"input": "a", "output": "b"}\n{oops\n', "pool.jsonl"),
    examples_case("pool-missing-output", b'{"input": "a"}\n{"input": "b"}\n', "pool.jsonl"),
    examples_case("pool-empty", b"", "pool.jsonl"),
    # -- task configs and their datasets -----------------------------------------------------
    task_case("task-yaml-syntax", b"name: t\ndataset: {source: [\n", "task.yaml"),
    task_case("task-a-list", b"- name: t\n- input: q\n", "task.yaml"),
    task_case("task-empty", b"", "task.yaml"),
    task_case("task-no-dataset", b"name: t\ninput: q\ntarget: a\n", "dataset"),
    task_case("task-typo-key", TASK + b"templte: '{{ q }}'\n", "templte"),
    task_case("task-unknown-scorer", TASK + b"scorers: [no_such_scorer]\n", "no_such_scorer"),
    task_case("task-unknown-extract", TASK + b"extract: {strategy: guess}\n", "guess"),
    task_case("task-negative-shots", TASK + b"fewshot: {k: -2}\n", "task.yaml:5: fewshot.k"),
    task_case("task-bad-utf8", TASK + b"description: " + BAD_UTF8 + b"\n", "task.yaml"),
    task_case(
        "task-missing-data-file",
        b"name: t\ndataset: {source: {dir}/nowhere.jsonl}\ninput: q\ntarget: a\n",
        "nowhere.jsonl",
    ),
    task_case(
        "data-bad-line", TASK, "data.jsonl:2", data=b'{"id": "a", "q": "x", "a": "1"}\n{"id":\n'
    ),
    task_case(
        "data-missing-field",
        TASK,
        "data.jsonl:2",
        data=b'{"id": "a", "q": "x", "a": "1"}\n{"id": "b"}\n',
    ),
    task_case("data-empty", TASK, "data.jsonl", data=b""),
    task_case(
        "data-bad-utf8",
        TASK,
        "data.jsonl",
        data=b'{"id": "a", "q": "' + BAD_UTF8 + b'", "a": "1"}\n',
    ),
    # -- training configs and their data -----------------------------------------------------
    train_case("train-yaml-syntax", b"recipe: classifier\nmodel: [\n", "run.yaml"),
    train_case("train-empty", b"", "run.yaml"),
    train_case("train-a-list", b"- recipe\n- model\n", "run.yaml"),
    train_case("train-unknown-recipe", TRAIN.replace(b"classifier", b"alchemy"), "alchemy"),
    train_case("train-typo-key", TRAIN + b"optimm: {max_steps: 2}\n", "optimm"),
    train_case("train-negative-lr", TRAIN + b"optim: {learning_rate: -1}\n", "learning_rate"),
    train_case("train-steps-not-a-number", TRAIN + b"optim: {max_steps: ten}\n", "max_steps"),
    train_case("train-no-data", b"recipe: classifier\nmodel: {dir}/m\n", "data"),
    train_case("train-missing-model", TRAIN, "no-such-model"),
    train_case("train-bad-utf8", TRAIN + b"run_id: " + BAD_UTF8 + b"\n", "run.yaml"),
    # -- bibliographies ----------------------------------------------------------------------
    bib_case(
        "bib-unclosed-brace", "refs.bib", b"@article{smith2020,\n  title = {Cats\n", "refs.bib"
    ),
    bib_case("bib-empty", "refs.bib", b"", "refs.bib"),
    bib_case("bib-bad-utf8", "refs.bib", b"@article{a, title = {" + BAD_UTF8 + b"}}\n", "refs.bib"),
    bib_case("bib-not-bibtex", "refs.bib", b"this is not a bibliography\n", "refs.bib"),
    bib_case("csl-not-json", "refs.json", b'[{"title": "Cats"', "refs.json"),
    bib_case("csl-not-a-list", "refs.json", b'{"title": "Cats"}', "refs.json"),
    bib_case("csl-items-not-objects", "refs.json", b'["Cats", 3]', "refs.json"),
    bib_case("bib-unsupported-suffix", "refs.ris", b"TY  - JOUR\n", "refs.ris"),
    # -- images (read before the model is asked, so a text-only model still names the file) ----
    image_case("image-empty", "fig.png", b"", "fig.png"),
    image_case("image-text-as-png", "fig.png", b"not an image at all\n", "fig.png"),
    image_case("image-png-header-only", "fig.png", PNG_HEAD, "fig.png"),
    image_case(
        "image-png-broken-chunk",
        "fig.png",
        PNG_HEAD + b"\x00\x00\x00\rIHDR" + b"\xff" * 9,
        "fig.png",
    ),
    image_case("image-jpeg-garbage", "photo.jpg", b"\xff\xd8\xff" + bytes(range(200)), "photo.jpg"),
    image_case("image-pdf-broken", "page.pdf", b"%PDF-1.4\n1 0 obj <<", "page.pdf"),
    image_case("image-unsupported", "fig.tiff", b"II*\x00" + b"\x00" * 20, "fig.tiff"),
    # -- scripted-model files ----------------------------------------------------------------
    script_case("script-yaml-syntax", b"replies: [\n", "script.yaml"),
    script_case("script-replies-not-a-list", b"replies: 42\n", "replies"),
    script_case("script-unknown-key", b"replys: [hi]\n", "replys"),
    script_case("script-negative-delay", b"replies: [hi]\ndelay_s: -1\n", "delay_s"),
    # -- the workspace config ----------------------------------------------------------------
    config_case("config-yaml-syntax", b"batch_size: [\n", "config.yaml"),
    config_case("config-wrong-type", b"batch_size: many\n", "batch_size"),
    config_case("config-a-list", b"- batch_size\n", "config.yaml"),
    config_case("config-typo-key", b"batchsize: 4\n", "batchsize"),
]


@pytest.fixture(scope="module")
def api() -> Iterator[FaultyAPI]:
    server = FaultyAPI(fault_rate=0.0)
    yield server
    server.close()


def _state(home: Path) -> dict[str, int]:
    """Rows a half-done command would leave behind."""
    db_path = home / "assay.db"
    if not db_path.exists():
        return {}
    db = sqlite3.connect(db_path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        watched = ("runs", "samples", "rag_collections", "rag_documents", "responses", "checks")
        return {
            t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in watched if t in tables
        }
    finally:
        db.close()


def test_the_corpus_is_large_and_its_names_unique() -> None:
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input(case: Case, tmp_path: Path, assay_home: Path, api: FaultyAPI) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, content in case.files.items():
        (folder / name).write_bytes(content.replace(b"{dir}", str(folder).encode()))
    if case.config is not None:
        assay_home.mkdir(parents=True, exist_ok=True)
        (assay_home / "config.yaml").write_bytes(case.config)
    before = sorted(p.name for p in folder.iterdir())
    embedder = f"openai:emb@{api.base_url}"
    args = [a.replace("{dir}", str(folder)).replace("{api}", embedder) for a in case.args]
    code, out, err = run_assay(args)

    assert code != 0, err
    assert "Traceback" not in err, err
    # One error line (after what the command said as it started); below it only the bad rows
    # it lists (indented) or what to do.
    lines = err.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith(("  ", "hint: ")) for line in lines[errors[0] + 1 :]), err
    # (``docs add`` reports each file on standard output, then fails on standard error.)
    assert case.says.lower() in (out + err).lower(), out + err
    # Nothing half-written: no new file next to the inputs, no records in the workspace.
    assert sorted(p.name for p in folder.iterdir()) == before
    assert not any(_state(assay_home).values()), _state(assay_home)
    models = assay_home / "models"
    assert not models.exists() or not any(models.iterdir())
