"""The PDF reader on the real papers in shared/data/pdfs (read in place, never copied)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assay.rag.chunking import ChunkingConfig, chunk_document
from assay.rag.quality import assess
from assay.rag.readers import read_document
from assay.rag.readers.layout import Box, build_lines, reading_order
from assay.rag.textfix import is_figure_debris

PAGES = {
    "01_bbq_parrish2022_QA_bias_benchmark.pdf": 20,
    "03_inlg_W16-6620.pdf": 10,
    "04_inlg_W17-3504.pdf": 10,
    "05_inlg_W18-6515.pdf": 5,
    "06_inlg_W19-8623.pdf": 9,
    "08_jose_00300.pdf": 4,
}
_cache: dict[str, object] = {}


def parsed(shared_data: Path, name: str):  # type: ignore[no-untyped-def]
    if name not in _cache:
        _cache[name] = read_document(shared_data / "pdfs" / name)
    return _cache[name]


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_count_and_no_ligature_glyphs(shared_data: Path, name: str) -> None:
    doc = parsed(shared_data, name)
    assert doc.n_pages == PAGES[name]
    assert not re.search("[\ufb00-\ufb06\x00-\x08\x0b-\x1f\ufffe]", doc.text)
    for (a, b), (c, _d) in zip(doc.pages, doc.pages[1:], strict=False):
        assert a <= b <= c  # page ranges are ordered and do not overlap
    report = assess(doc)
    assert report.ok, report.warnings


def test_two_column_reading_order(shared_data: Path) -> None:
    """Page 1 of the INLG 2016 paper: the left column ends '... phrase which may be' and the right
    column starts 'deleted when simplifying'. Read column by column, the sentence is contiguous;
    read line by line across the page, it would be interleaved with the right column."""
    doc = parsed(shared_data, "03_inlg_W16-6620.pdf")
    page1 = doc.page_texts()[0]
    assert "of optional phrases i.e., phrase which may be deleted when simplifying." in page1
    # the abstract (left column) comes before the right column's first words, whole
    abstract = "We present a novel approach to sentence simplification which departs from previous"
    assert page1.index(abstract) < page1.index("deleted when simplifying")
    assert "sim- pler" not in page1 and "simpler, more readable one" in page1


def test_hyphenation_joined_and_real_hyphens_kept(shared_data: Path) -> None:
    doc = parsed(shared_data, "03_inlg_W16-6620.pdf")
    assert "departs from previous work in two main ways" in doc.text  # "previ-" + "ous"
    assert "machine translation systems" in doc.text  # "trans-" + "lation"
    assert "four state-of-the-art supervised systems" in doc.text


def test_dropped_ligatures_restored(shared_data: Path) -> None:
    """The BBQ PDF's font maps the 'fi' glyph to a bare 'f' ('identifable'); the reader repairs it."""
    doc = parsed(shared_data, "01_bbq_parrish2022_QA_bias_benchmark.pdf")
    assert "identifable" not in doc.text and "identifiable" in doc.text
    assert " fnal " not in doc.text
    assert any("ligature" in n for n in doc.notes)


def test_running_headers_footers_and_page_numbers_removed(shared_data: Path) -> None:
    inlg = parsed(shared_data, "03_inlg_W16-6620.pdf")
    pages = inlg.page_texts()
    for number, text in enumerate(pages[1:], start=112):  # printed page numbers 112..120
        assert not text.rstrip().endswith(str(number))
        assert not text.lstrip().startswith(str(number))
    jose = parsed(shared_data, "08_jose_00300.pdf")
    for text in jose.page_texts():
        assert "Journal of Open Source Education" not in text  # the footer on every page
    assert any("running" in n for n in jose.notes)


def test_metadata_title_authors_doi(shared_data: Path) -> None:
    jose = parsed(shared_data, "08_jose_00300.pdf")
    assert jose.title == (
        "evolved: open software for teaching evolutionary biology through virtual inquiries"
    )
    assert jose.doi == "10.21105/jose.00300"
    inlg = parsed(shared_data, "03_inlg_W16-6620.pdf")  # no metadata: from the first page
    assert inlg.title == "Unsupervised Sentence Simplification Using Deep Semantics"
    assert inlg.authors == ["Shashi Narayan", "Claire Gardent"]
    bbq = parsed(shared_data, "01_bbq_parrish2022_QA_bias_benchmark.pdf")
    assert bbq.title == "BBQ: A Hand-Built Bias Benchmark for Question Answering"
    assert "Samuel R. Bowman" in bbq.authors


def test_section_headings_found(shared_data: Path) -> None:
    doc = parsed(shared_data, "03_inlg_W16-6620.pdf")
    titles = [h.title for h in doc.headings]
    for expected in ("Abstract", "1 Introduction", "3.3 Sentence Splitting", "References"):
        assert expected in titles
    for h in doc.headings:
        assert doc.text[h.start : h.start + len(h.title)] == h.title


def test_layout_margin_column_read_after_main_column() -> None:
    """A narrow margin box beside a wide main column does not interleave with it."""
    boxes = []
    for i in range(20):
        boxes.append(Box(170, 100 + 12 * i, 550, 109 + 12 * i, f"main line {i}"))
    for i in range(6):
        boxes.append(Box(30, 150 + 12 * i, 150, 159 + 12 * i, f"margin {i}"))
    lines = build_lines(boxes)
    order = [ln.text for block in reading_order(lines) for ln in block]
    assert order[:20] == [f"main line {i}" for i in range(20)]
    assert order[20:] == [f"margin {i}" for i in range(6)]


def test_subscripts_read_once(shared_data: Path) -> None:
    """A subscript whose box overlaps its letter (W with subscript s) is read once, not twice."""
    market = parsed(shared_data, "05_inlg_W18-6515.pdf")
    page2 = market.page_texts()[1]
    assert "where Ws is a weight matrix" in page2
    assert "WsWs" not in market.text and "WmWm" not in market.text
    inlg = parsed(shared_data, "03_inlg_W16-6620.pdf")
    page5 = inlg.page_texts()[4]
    assert "the split score Psplit associated with" in page5
    assert "PsPsplit" not in inlg.text and "lifefe" not in inlg.text
    bbq = parsed(shared_data, "01_bbq_parrish2022_QA_bias_benchmark.pdf")
    assert "dif-fferent" not in bbq.text and "different gender" in bbq.text


def test_tex_accents_put_on_their_letters(shared_data: Path) -> None:
    """TeX draws 'ˇ' as its own glyph over the 's' of Gašić; the reader composes them."""
    doc = parsed(shared_data, "06_inlg_W19-8623.pdf")
    assert "Juraska and Walker 2018 ; Dušek et al." in doc.text
    assert "Gašić et al." in doc.text and "Ga ˇ si" not in doc.text
    assert "© 2016" in parsed(shared_data, "03_inlg_W16-6620.pdf").text


def test_line_end_hyphens_follow_the_document(shared_data: Path) -> None:
    """A hyphen at a line end is kept in a compound ('72-year-' + 'old'), kept where the document
    writes the pair hyphenated elsewhere, and dropped where it writes it whole ('UN-' + 'KNOWN')."""
    bbq = parsed(shared_data, "01_bbq_parrish2022_QA_bias_benchmark.pdf")
    assert "“72-year-old”" in bbq.text and "yearold" not in bbq.text
    assert "an answer of UNKNOWN" in bbq.text and "UN-KNOWN" not in bbq.text
    inlg = parsed(shared_data, "03_inlg_W16-6620.pdf")  # 'hand-crafted' twice, 'handcrafted' once
    assert "defines 26 hand-crafted rules" in inlg.text
    viggo = parsed(shared_data, "06_inlg_W19-8623.pdf")  # two words of the vocabulary
    assert "most diverse and natural-sounding sentences" in viggo.text
    market = parsed(shared_data, "05_inlg_W18-6515.pdf")
    assert "we created short- and long-term sequences" in market.text


def test_headings_numbered_unnumbered_and_wrapped(shared_data: Path) -> None:
    """Headings that read or look like the paper's other headings are found; figure labels not."""
    viggo = parsed(shared_data, "06_inlg_W19-8623.pdf")
    titles = [h.title for h in viggo.headings]
    # numbered with a period inside; unnumbered but set like "2.1 Meaning Representations"
    for expected in ("2.5 ViGGO vs. E2E", "Automatic Metrics", "Human Evaluation"):
        assert expected in titles
    assert titles.index("Human Evaluation") < titles.index("4 Discussion")
    inlg = parsed(shared_data, "03_inlg_W16-6620.pdf")
    assert {"Automatic Evaluation", "Human Evaluation"} <= {h.title for h in inlg.headings}
    assert not {"Shashi Narayan", "Claire Gardent"} & {h.title for h in inlg.headings}
    bbq = parsed(shared_data, "01_bbq_parrish2022_QA_bias_benchmark.pdf")
    bbq_titles = [h.title for h in bbq.headings]
    assert bbq_titles[-1] == "H Detailed Results from Intersectional Categories"  # two lines
    assert "Model" not in bbq_titles  # a figure's axis label in the appendix
    page17 = bbq.pages[16][0]
    assert bbq.heading_at(page17) == "H Detailed Results from Intersectional Categories"
    jose = parsed(shared_data, "08_jose_00300.pdf")
    assert "Software installation and use" in [h.title for h in jose.headings]
    for doc in (viggo, inlg, bbq, jose):
        for h in doc.headings:
            assert doc.text[h.start : h.start + len(h.title)] == h.title


def test_tables_read_row_by_row(shared_data: Path) -> None:
    """A table's cells come out a row per line, cells apart by ' | ', not column after column."""
    viggo = parsed(shared_data, "06_inlg_W19-8623.pdf").page_texts()[
        3
    ]  # Table 3, one text run per row
    assert "E2E | 51,426 | 6,039 | 5,963 | 2,878 | 2,818 | 18.70" in viggo
    assert "ViGGO | 6,900 | 2,253 | 2,066 | 2,427 | 2,178 | 6.91" in viggo
    market = parsed(shared_data, "05_inlg_W18-6515.pdf").page_texts()[3]  # Table 2 (a)
    assert "human | 98 2\nbase | 95 5\nmulti | 96 4" in market
    bbq = parsed(shared_data, "01_bbq_parrish2022_QA_bias_benchmark.pdf").page_texts()[6]
    assert "Age | 3.7 | −1.7 | −6.4 | −2.8 | −5.5 | −2.2" in bbq
    jose = parsed(shared_data, "08_jose_00300.pdf").page_texts()[1]
    assert "data_whales | Cetacean body size and | Structured" in jose
    # a table is a paragraph of its own, apart from its caption and the text around it
    para = next(p for p in viggo.split("\n\n") if "E2E | 51,426" in p)
    assert "Table 3" not in para and all(" | " in row for row in para.split("\n")[-3:])


def test_figure_text_left_out_of_the_text_and_chunks(shared_data: Path) -> None:
    """A chart's slanted axis labels and loose tick values are not read into the text (BBQ
    Figure 7, page 17; the vertical axis titles of Figure 1 in the market-comments paper)."""
    bbq = parsed(shared_data, "01_bbq_parrish2022_QA_bias_benchmark.pdf")
    page17 = bbq.page_texts()[16]
    assert "Figure 7: The proportion of UNKNOWN answers" in page17
    assert "BaseRoBERTa" not in page17 and "RoBERTa−" not in bbq.text
    paragraphs = page17.split("\n\n")
    assert "0.75" not in paragraphs and "17302 18033 9426 15891" not in paragraphs
    assert any("figure text" in n for n in bbq.notes) and bbq.meta["figure_text_removed"] > 50
    market = parsed(shared_data, "05_inlg_W18-6515.pdf")
    assert "Dow Jones Industrial Average [USD]" not in market.text  # rotated axis title
    assert "closing price of the Dow Jones Industrial Average" in market.text
    # no chunk is made of figure leftovers
    config = ChunkingConfig(max_tokens=64, overlap_tokens=8)
    chunks = chunk_document(bbq, config, lambda ts: [len(t.split()) for t in ts], _word_spans)
    assert chunks and not [c.text for c in chunks if is_figure_debris(c.text)]


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def test_letter_spaced_words_are_read_as_words() -> None:
    """Figure text drawn a letter at a time ("F i g u r e 3") is read as words."""
    boxes = [Box(100 + 8 * i, 50, 105 + 8 * i, 58, ch) for i, ch in enumerate("Figure")]
    boxes += [Box(152, 50, 157, 58, "3")]  # a word space: wider than the letter spacing
    boxes += [Box(100 + 8 * i, 80, 104 + 8 * i, 88, ch) for i, ch in enumerate("f(S)=")]
    lines = build_lines(boxes)
    assert [ln.text for ln in lines] == ["Figure 3", "f ( S ) ="]
