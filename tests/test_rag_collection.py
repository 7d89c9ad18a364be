"""Collections end to end with the real embedder: ingest, search modes, incremental updates,
removal, bad inputs in a batch, errors, and the ``assay docs`` CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.rag import Collection, CollectionError, EmbedderMismatchError
from assay.rag.chunking import ChunkingConfig
from assay.rag.errors import DocumentError
from assay.rag.readers import read_document
from assay.rag.store import RagStore
from assay.workspace import Workspace

PAPERS = ["03_inlg_W16-6620.pdf", "05_inlg_W18-6515.pdf"]


@pytest.fixture(scope="module")
def papers(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Collection:
    """Two real papers indexed once for the search tests (module scope: embedding costs seconds)."""
    ws = Workspace.init(tmp_path_factory.mktemp("papers-ws"))
    col = Collection(ws, "papers")
    report = col.add([shared_data / "pdfs" / name for name in PAPERS])
    assert report.count("added") == 2, [r.line() for r in report.results]
    return col


# phrase → (document, page): text that occurs on one known page
KNOWN = [
    # (the three names also head the rows of the results tables on pages 6 and 7)
    (
        "grateful to Zhemin Zhu, Kristian Woodsend and Sander Wubben for sharing their data",
        "03_inlg_W16-6620.pdf",
        9,
    ),
    (
        "As market comments, we used 20,093 headlines of Nikkei Quick News",
        "05_inlg_W18-6515.pdf",
        3,
    ),
    (
        "examples of generated comments transliterated Japanese Tokyo stocks open 300 yen higher",
        "05_inlg_W18-6515.pdf",
        5,
    ),
]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "mmr"])
@pytest.mark.parametrize(("phrase", "doc", "page"), KNOWN)
def test_known_phrase_finds_its_page(
    papers: Collection, mode: str, phrase: str, doc: str, page: int
) -> None:
    hits = papers.search(phrase, k=3, mode=mode)
    assert hits, mode
    found = [(h.document, p) for h in hits for p in range(h.page_start or 0, (h.page_end or 0) + 1)]
    assert (doc, page) in found, [(h.anchor, round(h.score, 3)) for h in hits]


def test_hits_carry_citation_anchors(papers: Collection) -> None:
    hit = papers.search("Nikkei Quick News headlines", k=1, mode="hybrid")[0]
    assert hit.document == "05_inlg_W18-6515.pdf" and hit.page_start is not None
    assert hit.anchor.startswith("05_inlg_W18-6515.pdf, p")
    text = papers.document_text(hit.document_id)
    assert text[hit.start : hit.end] == hit.text  # offsets resolve in the stored text
    assert hit.to_dict()["anchor"] == hit.anchor


def test_filters(papers: Collection) -> None:
    only = papers.resolve_filter(documents=["05_inlg_W18-6515.pdf"])
    for mode in ("bm25", "dense", "hybrid"):
        hits = papers.search("sentence simplification", k=5, mode=mode, filters=only)
        assert hits and all(h.document == "05_inlg_W18-6515.pdf" for h in hits)
    pages = papers.resolve_filter(pages=(2, 3))
    for mode in ("bm25", "dense", "hybrid"):
        hits = papers.search("model", k=10, mode=mode, filters=pages)
        assert hits and all(h.page_start is not None and h.page_start <= 3 for h in hits)
        assert all(h.page_end is not None and h.page_end >= 2 for h in hits)
    section = papers.resolve_filter(section="Related Work")
    hits = papers.search("neural encoder-decoder", k=5, mode="dense", filters=section)
    assert hits and all("Related Work" in (h.section or "") for h in hits)


def test_mmr_diversifies(papers: Collection) -> None:
    plain = papers.search("stock market comments", k=5, mode="dense")
    diverse = papers.search("stock market comments", k=5, mode="dense", mmr=0.3)
    assert len(diverse) == 5 and {h.chunk_id for h in diverse} != {h.chunk_id for h in plain}


def test_documents_metadata_and_quality(papers: Collection) -> None:
    docs = {d.name: d for d in papers.documents()}
    inlg = docs["03_inlg_W16-6620.pdf"]
    assert inlg.n_pages == 10 and inlg.n_chunks > 20
    assert inlg.title == "Unsupervised Sentence Simplification Using Deep Semantics"
    assert inlg.quality["warnings"] == []
    info = papers.info
    assert info is not None and info.chunking == ChunkingConfig()
    assert info.embedder == "sentence-transformers/all-MiniLM-L6-v2" and info.dim == 384
    chunks = papers.chunks(inlg.id)
    assert all(c["n_tokens"] <= info.chunking.max_tokens for c in chunks)
    assert any(c["section"] == "1 Introduction" for c in chunks)


class OtherEmbedder:
    name = "st:some-other-model"
    dim = 384
    max_tokens = 254

    def encode(self, texts: Any, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def count_tokens(self, texts: Any) -> list[int]:
        return [len(t.split()) for t in texts]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return []


def test_querying_with_another_embedder_is_refused(papers: Collection) -> None:
    other = Collection(papers.workspace, "papers", embedder=OtherEmbedder())
    with pytest.raises(EmbedderMismatchError, match=r"all-MiniLM-L6-v2.*some-other-model"):
        other.search("anything", mode="dense")
    assert other.search("Nikkei", k=1, mode="bm25")  # lexical search needs no embedder


def test_unknown_and_empty_collections(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path)
    with pytest.raises(CollectionError, match="no collection named 'nope'"):
        Collection(ws, "nope").search("x")
    empty = Collection(ws, "empty")
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    report = empty.add([bad])
    assert report.failed and not empty.exists  # nothing could be added: none left behind
    empty.add([write(tmp_path / "cats.txt", "Cats sleep a lot.")])
    empty.remove("cats.txt")
    assert empty.exists
    with pytest.raises(CollectionError, match="'empty' is empty"):
        empty.search("anything")
    with pytest.raises(CollectionError, match="unknown search mode"):
        Collection(ws, "empty").search("x", mode="fuzzy")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_incremental_add_skip_replace_remove(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    col = Collection(ws, "notes")
    a = write(tmp_path / "a.md", "# Alpha\n\nThe quick brown fox studies retrieval.\n")
    b = write(tmp_path / "b.txt", "Bananas are rich in potassium and grow in clusters.\n")
    first = col.add([tmp_path])  # a folder
    assert first.count("added") == 2 and first.embedded == 2

    again = col.add([str(tmp_path / "*.md"), b])  # a glob and a file
    assert again.count("unchanged") == 2 and again.embedded == 0 and again.cached == 0

    copy = tmp_path / "copy.txt"
    shutil.copy(b, copy)
    dup = col.add([copy])
    assert dup.results[0].status == "duplicate" and "b.txt" in dup.results[0].message

    old_id = col.document("a.md").id
    write(a, "# Alpha\n\nThe quick brown fox now studies zebras instead.\n")
    changed = col.add([a])
    assert changed.results[0].status == "replaced" and changed.embedded == 1
    assert len(col.documents()) == 2
    assert col.document("a.md").id != old_id
    assert "zebras" in col.document_text("a.md")
    assert col.search("zebras", k=1, mode="bm25")[0].document == "a.md"
    assert not [h for h in col.search("retrieval", k=5, mode="bm25") if h.document == "a.md"]

    # Back to the first text: its chunk embedding comes from the cache.
    write(a, "# Alpha\n\nThe quick brown fox studies retrieval.\n")
    back = col.add([a])
    assert back.embedded == 0 and back.cached == 1

    removed = col.remove("b.txt")
    assert removed.name == "b.txt" and [d.name for d in col.documents()] == ["a.md"]
    assert not col.search("potassium bananas", k=3, mode="bm25")
    assert all(h.document == "a.md" for h in col.search("potassium bananas", k=3, mode="dense"))
    with pytest.raises(CollectionError, match=r"no document 'b\.txt'"):
        col.remove("b.txt")


def test_replacement_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.init(tmp_path / "ws")
    col = Collection(ws, "notes")
    a = write(tmp_path / "a.txt", "Original text about glaciers and ice sheets.\n")
    col.add([a])
    write(a, "Replacement text about deserts and dunes.\n")

    original = RagStore.write_documents

    def failing(self: RagStore, *args: Any, **kwargs: Any) -> Any:
        def boom(*_: Any, **__: Any) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(
            self, "_delete_document", lambda db, doc_id: (original_delete(self, db, doc_id), boom())
        )
        return original(self, *args, **kwargs)

    original_delete = RagStore._delete_document
    monkeypatch.setattr(RagStore, "write_documents", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        col.add([a])
    monkeypatch.undo()
    assert "glaciers" in col.document_text("a.txt")
    assert col.search("glaciers", k=1, mode="bm25")[0].document == "a.txt"
    assert not col.search("deserts dunes", k=1, mode="bm25")


# -- bad inputs ----------------------------------------------------------------------------------


def encrypted_pdf(src: Path, out: Path) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=src)
    writer.encrypt("secret")
    with out.open("wb") as f:
        writer.write(f)
    return out


def image_pdf(src: Path, out: Path, keep_text_page: bool) -> Path:
    """A 'scanned' PDF: page 1 of ``src`` rendered to an image (and, optionally, a real page)."""
    import pypdfium2 as pdfium

    source = pdfium.PdfDocument(src)
    new = pdfium.PdfDocument.new()
    if keep_text_page:
        new.import_pages(source, [0])
    width, height = source[0].get_size()
    page = new.new_page(width, height)
    image = pdfium.PdfImage.new(new)
    image.set_bitmap(source[0].render(scale=0.4))
    image.set_matrix(pdfium.PdfMatrix().scale(width, height))
    page.insert_obj(image)
    page.gen_content()
    new.save(out)
    return out


@pytest.fixture
def bad_inputs(tmp_path: Path, shared_data: Path) -> dict[str, Path]:
    src = shared_data / "pdfs" / "05_inlg_W18-6515.pdf"
    d = tmp_path / "bad"
    d.mkdir()
    data = src.read_bytes()
    (d / "truncated.pdf").write_bytes(data[: len(data) // 2])
    (d / "zero.pdf").write_bytes(b"")
    (d / "notapdf.pdf").write_bytes(b"hello, I am text pretending to be a PDF")
    (d / "binary.txt").write_bytes(bytes(range(256)) * 16)
    (d / "big.txt").write_text("word " * 4000)
    (d / "report.docx").write_bytes(b"PK\x03\x04 not really")
    (d / "latin1.txt").write_bytes("Señor Müller’s café serves crème brûlée.\n".encode("cp1252"))
    return {
        "encrypted": encrypted_pdf(src, d / "encrypted.pdf"),
        "scanned": image_pdf(src, d / "scanned.pdf", keep_text_page=False),
        "half_scanned": image_pdf(src, d / "half_scanned.pdf", keep_text_page=True),
        "truncated": d / "truncated.pdf",
        "zero": d / "zero.pdf",
        "notapdf": d / "notapdf.pdf",
        "binary": d / "binary.txt",
        "big": d / "big.txt",
        "docx": d / "report.docx",
        "latin1": d / "latin1.txt",
    }


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("encrypted", "encrypted and needs a password"),
        ("truncated", "not a readable PDF"),
        ("zero", "empty"),
        ("notapdf", "not a PDF"),
        ("binary", "binary"),
        ("docx", "unsupported file type '.docx'"),
    ],
)
def test_reader_refuses_bad_files(bad_inputs: dict[str, Path], key: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message) as info:
        read_document(bad_inputs[key])
    assert "\n" not in info.value.message and bad_inputs[key].name in info.value.message


def test_bad_files_in_a_batch(tmp_path: Path, bad_inputs: dict[str, Path]) -> None:
    ws = Workspace.init(tmp_path / "ws")
    col = Collection(ws, "mixed")
    good = write(tmp_path / "good.md", "# Good\n\nA perfectly normal note about owls.\n")
    big = bad_inputs.pop("big")
    report = col.add([*bad_inputs.values(), good, tmp_path / "missing.txt"])
    status = {Path(r.path).name: r for r in report.results}
    for name in (
        "encrypted.pdf",
        "scanned.pdf",
        "truncated.pdf",
        "zero.pdf",
        "notapdf.pdf",
        "binary.txt",
        "report.docx",
        "missing.txt",
    ):
        assert status[name].status == "failed", name
        assert status[name].message.count("\n") == 0
    assert "scanned" in status["scanned.pdf"].message and "OCR" in status["scanned.pdf"].message
    assert "no such file" in status["missing.txt"].message
    assert status["good.md"].status == "added"
    assert status["latin1.txt"].status == "added"
    assert "decoded as cp1252" in status["latin1.txt"].line()
    half = status["half_scanned.pdf"]
    assert half.status == "added" and half.quality is not None
    assert "1 of 2 pages have no text" in half.line()
    names = sorted(d.name for d in col.documents())
    assert names == ["good.md", "half_scanned.pdf", "latin1.txt"]  # nothing of the failures
    assert "crème brûlée" in col.document_text("latin1.txt")

    capped = col.add([big, good], max_size_mb=0.01)
    assert [r.status for r in capped.results] == ["failed", "unchanged"]
    assert "big.txt: 19.5 KB is over the 0.01 MB limit" in capped.results[0].message


# -- CLI -----------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from assay.cli.main import main

    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_docs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    note = write(tmp_path / "owls.md", "# Owls\n\nOwls hunt at night and swallow prey whole.\n")
    bad = tmp_path / "x.docx"
    bad.write_bytes(b"zip")
    code, out, _ = run(capsys, "docs", "add", str(note), str(bad), "-c", "zoo", "--no-progress")
    assert code == 1  # one file failed; the other was added
    assert "added      owls.md" in out and "failed     x.docx: unsupported" in out
    code, out, _ = run(capsys, "docs", "add", str(note), "-c", "zoo", "--no-progress")
    assert code == 0 and "unchanged" in out
    code, out, _ = run(capsys, "docs", "list", "-c", "zoo")
    assert code == 0 and "owls.md" in out
    code, out, _ = run(capsys, "docs", "show", "owls.md", "-c", "zoo", "--json", "--chunks")
    data = json.loads(out)
    assert data["title"] == "Owls" and data["chunks"][0]["section"] == "Owls"
    code, out, _ = run(capsys, "docs", "search", "what do owls eat", "-c", "zoo", "--json")
    assert code == 0 and json.loads(out)[0]["document"] == "owls.md"
    code, out, _ = run(capsys, "docs", "collections")
    assert "zoo: 1 documents" in out
    code, out, _ = run(capsys, "docs", "remove", "owls.md", "-c", "zoo")
    assert code == 0 and "removed owls.md" in out
    code, _, err = run(capsys, "docs", "search", "owls", "-c", "zoo")
    assert code == 2 and "error: collection 'zoo' is empty" in err
    code, _, err = run(capsys, "docs", "search", "owls", "-c", "nowhere")
    assert code == 2 and "error: no collection named 'nowhere'" in err
