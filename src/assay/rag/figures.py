"""Figures in PDFs: embedded images and drawn (vector) figures, with their page and caption.

PDFium lists each page's objects. A figure is

* an **embedded image** of at least :data:`MIN_SIDE_PT` points and :data:`MIN_PIXELS` pixels a
  side, not one repeated on several pages (a logo or letterhead), extracted at its own
  resolution;
* or, on a page with a caption but no such image for it, the **drawn region**: the largest
  cluster of at least :data:`MIN_PATHS` vector paths, rendered at :data:`RENDER_DPI`.

A caption is a line starting ``Figure N`` / ``Fig. N`` (its following lines of the same column
up to the first full stop), matched to the nearest figure above or below it on the page. Figures
without a caption keep ``caption=None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.models.images import Image, ImageError, load_image
from assay.rag.chunking import Chunk
from assay.rag.document import ParsedDocument

if TYPE_CHECKING:
    from assay.models.facade import Model

MIN_SIDE_PT = 40.0
MIN_PIXELS = 32
MIN_PATHS = 12
RENDER_DPI = 144
_CAPTION = re.compile(r"(?m)^[ \t]*(Fig(?:ure|\.)\s*(\d+)[a-z]?)\s*[.:|]")
_MAX_CAPTION_LINES = 6
_NO_IMAGE: Any = None  # a drawn region's image, until it is rendered

Box = tuple[float, float, float, float]
"""left, bottom, right, top in PDF points (origin bottom left)."""


@dataclass
class Figure:
    page: int
    """1-based page number."""
    image: Image
    caption: str | None = None
    label: str | None = None
    """``Figure 3`` when a caption names it."""
    kind: str = "image"
    """``image`` (embedded) or ``drawing`` (a rendered region of vector graphics)."""
    box: Box = (0.0, 0.0, 0.0, 0.0)
    description: str | None = None
    """Written by a vision model at ingest (``--describe-figures``), indexed as a chunk."""

    @property
    def where(self) -> str:
        return f"figure on page {self.page}"


@dataclass
class _Caption:
    label: str
    text: str
    box: Box


def extract_figures(data: bytes) -> list[Figure]:
    """The figures of a PDF (its bytes), page by page, top to bottom."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return []  # the text reader reports an unreadable PDF; figures add nothing to say
    try:
        pages = [_page_objects(pdf[i]) for i in range(len(pdf))]
        repeated = _repeated_images(pages)
        figures: list[Figure] = []
        for number, (page, images, drawn, captions) in enumerate(pages, start=1):
            found = [
                _embedded(number, obj, box)
                for obj, box, key in images
                if key not in repeated and _big_enough(box)
            ]
            embedded = [f for f in found if f is not None]
            # Drawn regions count only with a caption: unlabelled vector art is mostly tables,
            # rules and decorations.
            candidates = [
                Figure(page=number, image=_NO_IMAGE, kind="drawing", box=box)
                for box in drawn
                if not any(_overlap(box, f.box) for f in embedded)
            ]
            _assign_captions([*embedded, *candidates], captions)
            drawings = [
                d for c in candidates if c.caption and (d := _rendered(page, c)) is not None
            ]
            figures += sorted([*embedded, *drawings], key=lambda f: -f.box[3])
        return figures
    finally:
        pdf.close()


def _page_objects(page: Any) -> tuple[Any, list[tuple[Any, Box, Any]], list[Box], list[_Caption]]:
    """The page's images (with a key to spot repeats), drawn regions and captions."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    images = []
    paths: list[Box] = []
    forms: list[Box] = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=8):
        try:
            w, h = obj.get_px_size()
            key = (w, h, len(obj.get_data(decode_simple=False)))
        except Exception:  # an image PDFium cannot describe is left out, not fatal
            continue
        images.append((obj, tuple(obj.get_bounds()), key))
    # Drawn regions from top-level objects: inside a form, bounds are in the form's space.
    for obj in page.get_objects(max_depth=0):
        if obj.type in (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_FORM):
            left, bottom, right, top = obj.get_bounds()
            box = (left, bottom, right, top)
            if _inside(box, width, height):
                (paths if obj.type == pdfium_c.FPDF_PAGEOBJ_PATH else forms).append(box)
    weighted = [(b, 1) for b in paths] + [(b, MIN_PATHS) for b in forms if _big_enough(b)]
    drawn = [box for box, n in _clusters(weighted) if n >= MIN_PATHS and _big_enough(box)]
    return page, images, drawn, _captions(page)


def _repeated_images(pages: list[Any]) -> set[Any]:
    """Images drawn on more than one page (logos, letterheads): not figures."""
    seen: dict[Any, set[int]] = {}
    for i, (_, images, _, _) in enumerate(pages):
        for _, _, key in images:
            seen.setdefault(key, set()).add(i)
    return {key for key, where in seen.items() if len(where) > 1}


def _big_enough(box: Box) -> bool:
    return box[2] - box[0] >= MIN_SIDE_PT and box[3] - box[1] >= MIN_SIDE_PT


def _embedded(page: int, obj: Any, box: Box) -> Figure | None:
    try:
        bitmap = obj.get_bitmap(render=False)
        pil = bitmap.to_pil()
    except Exception:
        return None
    if min(pil.width, pil.height) < MIN_PIXELS:
        return None
    try:
        image = load_image(_png(pil.convert("RGB")))
    except ImageError:
        return None
    return Figure(page=page, image=image, box=box)


def _rendered(page: Any, candidate: Figure) -> Figure | None:
    """A drawn region rendered to an image (a chart or diagram made of vector paths)."""
    width, height = page.get_size()
    left, bottom, right, top = candidate.box
    # crop: the margins cut from (left, bottom, right, top), in points
    crop = (max(0.0, left), max(0.0, bottom), max(0.0, width - right), max(0.0, height - top))
    rendered = page.render(scale=RENDER_DPI / 72, crop=crop).to_pil()
    try:
        candidate.image = load_image(_png(rendered.convert("RGB")))
    except ImageError:
        return None
    return candidate


def _inside(box: Box, width: float, height: float) -> bool:
    """Not the page frame or a rule across it: paths of a figure sit inside the page."""
    w, h = box[2] - box[0], box[3] - box[1]
    return w < 0.95 * width and h < 0.95 * height and (w > 0 or h > 0)


def _clusters(boxes: list[tuple[Box, int]], gap: float = 12.0) -> list[tuple[Box, int]]:
    """Boxes merged where they touch or lie within ``gap`` points: (union box, weight)."""
    merged: list[list[Any]] = []
    for box, weight in sorted(boxes, key=lambda b: -b[0][3]):
        hit = [m for m in merged if _touch(m[0], box, gap)]
        union = box
        count = weight
        for m in hit:
            union = _union(union, m[0])
            count += m[1]
            merged.remove(m)
        merged.append([union, count])
    changed = True
    while changed:  # a merge can make two clusters touch
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if _touch(merged[i][0], merged[j][0], gap):
                    merged[i] = [_union(merged[i][0], merged[j][0]), merged[i][1] + merged[j][1]]
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return [(m[0], m[1]) for m in merged]


def _overlap(a: Box, b: Box) -> bool:
    return _touch(a, b, 0.0)


def _touch(a: Box, b: Box, gap: float) -> bool:
    return not (a[2] + gap < b[0] or b[2] + gap < a[0] or a[3] + gap < b[1] or b[3] + gap < a[1])


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _png(pil: Any) -> bytes:
    import io

    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


# -- captions ------------------------------------------------------------------------------------
def _captions(page: Any) -> list[_Caption]:
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        out = []
        for match in _CAPTION.finditer(text):
            start = match.start(1)
            box = textpage.get_charbox(start)
            out.append(
                _Caption(
                    label=f"Figure {match.group(2)}",
                    text=_caption_text(text, start, textpage, box),
                    box=box,
                )
            )
        return out
    finally:
        textpage.close()


def _caption_text(text: str, start: int, textpage: Any, first: Box) -> str:
    """The caption's line and the lines below it in the same column, to the first full stop."""
    lines: list[str] = []
    pos = start
    left = first[0]
    line_height = max(first[3] - first[1], 4.0)
    last_bottom = first[1]
    while pos < len(text) and len(lines) < _MAX_CAPTION_LINES:
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        line = text[pos:end].strip("\r\n ")
        if lines:
            box = textpage.get_charbox(pos) if pos < len(text) else first
            if abs(box[0] - left) > 3 or last_bottom - box[3] > 2.2 * line_height or not line:
                break
            last_bottom = box[1]
        lines.append(line)
        if line.endswith("."):
            break
        pos = end + 1
    joined = ""
    for line in lines:
        if joined.endswith("\ufffe") or joined.endswith("-"):
            joined = joined[:-1] + line
        else:
            joined = f"{joined} {line}" if joined else line
    return re.sub(r"\s+", " ", joined.replace("\ufffe", "")).strip()


def _distance(caption: Box, figure: Box) -> float:
    """Vertical gap between a caption and a figure that overlap horizontally (else far)."""
    if caption[2] < figure[0] - 20 or figure[2] < caption[0] - 20:
        return float("inf")
    if caption[3] <= figure[1]:  # below the figure
        return figure[1] - caption[3]
    if caption[1] >= figure[3]:  # above it
        return caption[1] - figure[3] + 10  # captions below are the usual kind: prefer them
    return 0.0


def _assign_captions(figures: list[Figure], captions: list[_Caption]) -> None:
    pairs = sorted(
        (
            (_distance(c.box, f.box), i, j)
            for i, f in enumerate(figures)
            for j, c in enumerate(captions)
        ),
        key=lambda p: p[0],
    )
    used_f: set[int] = set()
    used_c: set[int] = set()
    for dist, i, j in pairs:
        if dist > 120 or i in used_f or j in used_c:
            continue
        figures[i].caption = captions[j].text
        figures[i].label = captions[j].label
        used_f.add(i)
        used_c.add(j)


# -- descriptions, indexed as chunks ------------------------------------------------------------
DESCRIBE_PROMPT = (
    "This is a figure from a scientific document{title}. Describe it for a reader who cannot "
    "see it: what kind of figure it is, what the axes, labels or parts show, and the main "
    "finding or trend, with any numbers you can read. Be factual; do not guess beyond the "
    "image.{caption}"
)
DESCRIBE_MAX_TOKENS = 256


def describe_figures(figures: Sequence[Figure], model: Model, title: str | None = None) -> None:
    """Write each figure's ``description`` with a vision model (one batch; cached by image)."""
    if not figures:
        return
    from assay.models.types import Message

    prompts = [
        [
            Message(
                role="user",
                content=DESCRIBE_PROMPT.format(
                    title=f' ("{title}")' if title else "",
                    caption=f"\nIts caption: {f.caption}" if f.caption else "",
                ),
                images=(f.image,),
            )
        ]
        for f in figures
    ]
    gens = model.generate(prompts, max_tokens=DESCRIBE_MAX_TOKENS)
    for figure, gen in zip(figures, gens, strict=True):
        figure.description = gen.text.strip() or None


def figure_text(figure: Figure) -> str:
    """What a described figure is indexed as: where it is, its caption, the description."""
    head = f"{figure.label} (figure on page {figure.page})" if figure.label else figure.where
    caption = f" {figure.caption}" if figure.caption else ""
    return f"{head}.{caption}\n{figure.description or ''}".strip()


def add_figure_chunks(
    doc: ParsedDocument,
    chunks: list[Chunk],
    figures: Sequence[Figure],
    count_tokens: Callable[[Sequence[str]], list[int]],
) -> None:
    """Append each described figure's text to the document and a chunk for it, on its page,
    with the section "figure on page N" (how a citation names it)."""
    for figure in figures:
        if not figure.description:
            continue
        text = figure_text(figure)
        doc.text += "\n\n"
        start = len(doc.text)
        doc.text += text
        chunks.append(
            Chunk(
                seq=len(chunks),
                start=start,
                end=len(doc.text),
                text=text,
                n_tokens=count_tokens([text])[0],
                page_start=figure.page,
                page_end=figure.page,
                section=figure.where,
            )
        )


__all__ = ["Figure", "add_figure_chunks", "describe_figures", "extract_figures", "figure_text"]
