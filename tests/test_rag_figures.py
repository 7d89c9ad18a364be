"""Figures of PDFs: embedded images and captioned drawings, with page and caption."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import UnsupportedOperationError
from assay.rag import Collection
from assay.rag.figures import extract_figures
from assay.workspace import Workspace
from cli_util import run_assay
from test_rag_store_index import HashingEmbedder


def test_embedded_images_with_their_captions(shared_data: Path) -> None:
    figures = extract_figures((shared_data / "pdfs" / "06_inlg_W19-8623.pdf").read_bytes())
    assert [(f.page, f.kind, f.label) for f in figures] == [
        (2, "image", "Figure 1"),
        (3, "image", "Figure 2"),
        (8, "image", "Figure 3"),
    ]
    assert figures[0].caption is not None
    assert figures[0].caption.startswith("Figure 1: Distribution of the number of slots")
    assert figures[0].caption.endswith("non-inform slots only.")
    assert (figures[0].image.width, figures[0].image.height) == (480, 231)


def test_captioned_drawings_are_rendered_and_logos_left_out(shared_data: Path) -> None:
    figures = extract_figures((shared_data / "pdfs" / "05_inlg_W18-6515.pdf").read_bytes())
    assert [(f.page, f.kind, f.label) for f in figures] == [
        (1, "drawing", "Figure 1"),
        (2, "drawing", "Figure 2"),
    ]
    # the caption's hyphenated line end is joined
    assert "Dow Jones Industrial Average" in (figures[0].caption or "")
    # rendered at 144 dpi: the region's size in points times two
    left, _, right, _ = figures[1].box
    assert figures[1].image.width == pytest.approx(2 * (right - left), abs=2)
    # the journal logo on every page of this one is not a figure
    assert extract_figures((shared_data / "pdfs" / "08_jose_00300.pdf").read_bytes()) == []


def test_docs_add_keeps_figures_and_docs_figures_lists_them(
    shared_data: Path, tmp_path: Path
) -> None:
    pdf = shared_data / "pdfs" / "06_inlg_W19-8623.pdf"
    col = Collection(Workspace.find(), "papers", embedder=HashingEmbedder())
    report = col.add(pdf)
    assert report.results[0].n_figures == 3
    rows = col.figures()
    assert [(r.page, r.label) for r in rows] == [(2, "Figure 1"), (3, "Figure 2"), (8, "Figure 3")]
    assert col.figure_image(rows[0]).width == 480
    code, out, err = run_assay(["docs", "figures", "-c", "papers", "--save", str(tmp_path / "f")])
    assert code == 0, err
    assert "06_inlg_W19-8623.pdf, Figure 1, page 2: image 480x231" in out
    assert sorted(p.name for p in (tmp_path / "f").iterdir())[0] == "06_inlg_W19-8623-p2-1.png"
    # replacing or removing the document removes its figures
    col.remove(pdf.name)
    assert col.figures() == []


def test_describing_figures_needs_a_model_that_accepts_images(shared_data: Path) -> None:
    col = Collection(Workspace.find(), "papers", embedder=HashingEmbedder())
    with pytest.raises(UnsupportedOperationError, match="with fake:, a text-only model"):
        col.add(shared_data / "pdfs" / "06_inlg_W19-8623.pdf", describe_figures="fake:")
    assert not col.exists  # refused before anything was read or written
