"""Text repairs, sentence splitting, chunking and the text/Markdown/HTML readers (no model)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from assay.rag.chunking import ChunkingConfig, chunk_document, split_sentences
from assay.rag.document import Heading, ParsedDocument
from assay.rag.errors import DocumentError
from assay.rag.readers import read_document
from assay.rag.readers.text import decode_bytes
from assay.rag.textfix import (
    Dehyphenator,
    dropped_ligature_repairs,
    fix_accents,
    fix_ligatures,
)


def words(texts: list[str] | tuple[str, ...]) -> list[int]:
    return [len(t.split()) for t in texts]


def word_spans(text: str) -> list[tuple[int, int]]:
    import re

    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def test_ligatures_and_accents() -> None:
    assert fix_ligatures("ﬁnal eﬀect ﬂow oﬃce") == "final effect flow office"
    assert fix_accents("Vandoeuvre-l`es-Nancy, Caf´e") == "Vandoeuvre-lès-Nancy, Café"
    assert fix_accents("don´t") == "don´t"  # no precomposed character: left alone


def test_dehyphenation_rules() -> None:
    d = Dehyphenator(["a state-of-the-art system and a well-known result", "more text"])
    assert d.join("departs from previ\x02", "ous work") == "departs from previous work"
    assert d.join("four state-", "of-the-art systems") == "four state-of-the-art systems"
    assert d.join("the well-", "known result") == "the well-known result"
    assert d.join("Anglo-", "Saxon texts") == "Anglo-Saxon texts"
    assert d.join("no hyphen", "here") == "no hyphen here"
    assert d.join("a proof-of-", "work scheme") == "a proof-of-work scheme"
    assert d.join("short-", "and long-term") == "short- and long-term"


def test_dehyphenation_follows_the_document_and_vocabulary() -> None:
    lines = ["an UNKNOWN answer", "the hand-crafted rules and hand-crafted data", "handcrafted"]
    d = Dehyphenator(lines, vocabulary=frozenset({"context", "aware", "robust", "ness"}))
    assert d.join("an UN-", "KNOWN answer") == "an UNKNOWN answer"  # written whole elsewhere
    assert d.join("hand-", "crafted rules") == "hand-crafted rules"  # mostly hyphenated elsewhere
    assert d.join("context-", "aware models") == "context-aware models"  # two words
    assert d.join("robust-", "ness checks") == "robustness checks"  # a suffix, not a word
    assert d.join("simpli-", "fication") == "simplification"


def test_dropped_ligature_repairs_need_the_vocabulary() -> None:
    vocab = frozenset({"final", "identifiable", "reflect", "office", "find"})
    repairs = dropped_ligature_repairs("The fnal and Identifable refect offce fnd ok", vocab)
    assert repairs == {
        "fnal": "final",
        "Identifable": "Identifiable",
        "refect": "reflect",
        "offce": "office",
        "fnd": "find",
    }
    assert dropped_ligature_repairs("fnal", frozenset()) == {}


def test_split_sentences_keeps_abbreviations() -> None:
    text = "We follow Smith et al. (2020) here. See Fig. 2 for e.g. details. Then A. Turing came."
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "We follow Smith et al. (2020) here.",
        "See Fig. 2 for e.g. details.",
        "Then A. Turing came.",
    ]


def make_doc(paragraphs: list[str], headings: list[str] | None = None) -> ParsedDocument:
    text = "\n\n".join(paragraphs)
    heads = []
    for h in headings or []:
        heads.append(Heading(text.index(h), h))
    return ParsedDocument(text=text, kind="text", headings=heads)


def test_chunks_are_exact_slices_within_budget_with_overlap() -> None:
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(40)]
    doc = make_doc([" ".join(sentences[:20]), " ".join(sentences[20:])])
    cfg = ChunkingConfig(max_tokens=30, overlap_tokens=8)
    chunks = chunk_document(doc, cfg, words, word_spans)
    assert len(chunks) > 4
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert c.n_tokens <= 30
        assert c.text.endswith(".")  # sentence boundaries
    # mid-paragraph breaks repeat the last sentence; every sentence is covered
    assert any(a.end > b.start for a, b in itertools.pairwise(chunks))
    covered = " ".join(c.text for c in chunks)
    assert all(s in covered for s in sentences)
    # overlap never reaches back across the paragraph break
    second = doc.text.index(sentences[20])
    assert all(sentences[19] not in c.text for c in chunks if c.start >= second)


def test_paragraph_breaks_preferred_when_a_chunk_is_half_full() -> None:
    paras = [
        " ".join(f"Para {p} sentence {i} has seven words." for i in range(3)) for p in range(4)
    ]
    doc = make_doc(paras)
    chunks = chunk_document(doc, ChunkingConfig(max_tokens=30, overlap_tokens=8), words, word_spans)
    assert [c.text for c in chunks] == paras


def test_chunks_respect_sections_and_long_sentences() -> None:
    long = " ".join(f"w{i}" for i in range(100)) + "."
    doc = make_doc(["Intro", "Short intro text.", "Methods", long], ["Intro", "Methods"])
    chunks = chunk_document(doc, ChunkingConfig(max_tokens=40, overlap_tokens=5), words, word_spans)
    assert chunks[0].section == "Intro"
    assert "Methods" not in chunks[0].text
    methods = [c for c in chunks if c.section == "Methods"]
    assert len(methods) >= 3 and all(c.n_tokens <= 40 for c in methods)
    assert all(c.page_start is None for c in chunks)


def test_chunk_pages_come_from_offsets() -> None:
    doc = ParsedDocument(text="Page one text.\n\nPage two text.", kind="pdf")
    doc.pages = [(0, 14), (16, 30)]
    chunks = chunk_document(
        doc, ChunkingConfig(max_tokens=100, overlap_tokens=0), words, word_spans
    )
    assert (chunks[0].page_start, chunks[0].page_end) == (1, 2)
    assert doc.pages_for(16, 20) == (2, 2)


def test_chunking_config_validation() -> None:
    with pytest.raises(ValueError):
        ChunkingConfig(max_tokens=100, overlap_tokens=60)
    with pytest.raises(ValueError):
        ChunkingConfig(max_tokens=200, unknown=1)  # type: ignore[call-arg]


def test_decode_non_utf8_and_refuse_binary() -> None:
    text, enc = decode_bytes("Crème brûlée, naïve café.".encode("cp1252") * 3, "a.txt")
    assert text.startswith("Crème brûlée") and enc == "cp1252"
    text, enc = decode_bytes("\ufeffhello".encode("utf-16"), "b.txt")
    assert text == "\ufeffhello" or text == "hello"
    with pytest.raises(DocumentError, match="binary"):
        decode_bytes(bytes(range(256)) * 4, "c.txt")


def test_markdown_reader(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text(
        "---\ntitle: My Notes\n---\n# Top\n\nBody.\n\n```\n# not a heading\n```\n\n## Sub\n\nMore.\n"
    )
    doc = read_document(md)
    assert doc.kind == "markdown" and doc.title == "My Notes"
    assert [h.title for h in doc.headings] == ["Top", "Sub"]
    assert all(doc.text[h.start :].lstrip("# ").startswith(h.title) for h in doc.headings)


def test_html_reader(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(
        b'<html><head><meta charset="utf-8"><title>T</title>'
        b'<meta name="citation_title" content="Real Title">'
        b'<meta name="citation_doi" content="10.1234/abc.5"><script>var x = 1;</script></head>'
        b"<body><h1>Head</h1><p>First <b>bold</b> para.</p><ul><li>one</li></ul>"
        b"<h2>Second</h2><p>Caf&eacute; &amp; more.</p></body></html>"
    )
    doc = read_document(page)
    assert doc.title == "Real Title" and doc.doi == "10.1234/abc.5"
    assert "var x" not in doc.text
    assert "First bold para.\n\none" in doc.text and "Café & more." in doc.text
    assert [(doc.text[h.start : h.start + len(h.title)], h.title) for h in doc.headings] == [
        ("Head", "Head"),
        ("Second", "Second"),
    ]
