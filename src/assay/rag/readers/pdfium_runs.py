"""One PDFium text page → :class:`Box` runs, built from its characters.

A run is the characters one text object draws, as PDFium's own text rectangles are. Its text comes
from those characters, not from the text PDFium finds inside its rectangle: a subscript whose box
overlaps the letter before it (``W`` with subscript ``s``) would otherwise be read into both runs
("WsWs"). TeX draws accents as separate glyphs over the letter (``ˇ`` over ``s``); they are put back
on the letter they sit over (``š``) instead of floating as a run of their own.
"""

from __future__ import annotations

import ctypes
import functools
import math
import re
from typing import Any, NamedTuple

from assay.rag.readers.layout import Box
from assay.rag.textfix import clean_pdf_text, compose_accent, is_spacing_accent

_BOLD_NAME = re.compile(r"bold|black|heavy|medi|demi|semibold|cmbx|cmssbx", re.I)
_MAX_UPRIGHT_ANGLE = 0.05  # radians (3 degrees)
_CELL_GAP = 0.8  # a space wider than this many ems separates table cells, not words
_NOT_A_CELL_END = frozenset(" .,;:!?")
_SECTION_NUMBER = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2}){0,3}|[A-Z](?:\.\d{1,2}){0,3})\.?$")
_ACCENT_REACH = 12  # characters either side of an accent glyph that it may sit over


class PageText(NamedTuple):
    boxes: list[Box]  # upright text runs, top-down coordinates
    width: float
    height: float
    rotated: (
        int  # runs drawn at an angle (a figure's slanted axis labels, a margin stamp), left out
    )


def page_boxes(page: Any) -> PageText:
    """The page's upright text runs, its size, and how many rotated runs were left out."""
    width, height = page.get_size()
    textpage = page.get_textpage()
    boxes: list[Box] = []
    rotated = 0
    try:
        chars, keys = _characters(textpage)
        for start, end in _split_at_wide_gaps(textpage, chars, _runs(chars, keys)):
            box = _run_box(textpage, chars, start, end, height)
            if box is None:
                continue
            if _is_rotated(textpage, start, chars[start:end]):
                rotated += 1  # read in reading order it would be glued into scattered fragments
            else:
                boxes.append(box)
    finally:
        textpage.close()
    return PageText(boxes, width, height, rotated)


def _is_rotated(textpage: Any, start: int, chars: list[str]) -> bool:
    import pypdfium2.raw as raw

    first = start + next(k for k, c in enumerate(chars) if c.strip())
    angle = raw.FPDFText_GetCharAngle(textpage, first)  # radians, -1 when unknown
    return angle >= 0 and min(angle, 2 * math.pi - angle) > _MAX_UPRIGHT_ANGLE


def _characters(textpage: Any) -> tuple[list[str], list[int | None]]:
    """Each character's text (``""`` once merged away) and the text object drawing it."""
    import pypdfium2.raw as raw

    n = raw.FPDFText_CountChars(textpage)
    unicode_of, object_of = raw.FPDFText_GetUnicode, _text_object_address()
    chars = [chr(unicode_of(textpage, i)) for i in range(n)]
    keys: list[int | None] = [object_of(textpage, i) for i in range(n)]
    for i, char in enumerate(chars):
        if char == "\r" and keys[i] is not None and i + 1 < n and chars[i + 1] == "c":
            chars[i], chars[i + 1] = "©", ""  # LaTeX's \copyright: a circle glyph and a "c"
            keys[i + 1] = keys[i]
        elif is_spacing_accent(char) and keys[i] is not None:
            _attach_accent(textpage, chars, keys, i)
    return chars, keys


@functools.cache
def _text_object_address() -> Any:
    """``FPDFText_GetTextObject`` returning the object's address as an int (None for none): a copy
    of the function with its own result type, cheaper than casting a pointer per character."""
    import pypdfium2.raw as raw

    original = raw.FPDFText_GetTextObject
    copy = type(original).from_address(ctypes.addressof(original))
    copy.argtypes = original.argtypes
    copy.restype = ctypes.c_void_p
    return copy


def _attach_accent(textpage: Any, chars: list[str], keys: list[int | None], i: int) -> None:
    """Compose the accent glyph at ``i`` with the nearby letter whose box it is centred over."""
    accent = _char_box(textpage, i)
    centre = (accent[0] + accent[1]) / 2
    best: tuple[float, int] | None = None
    for j in range(max(0, i - _ACCENT_REACH), min(len(chars), i + _ACCENT_REACH + 1)):
        if j == i or keys[j] is None or not chars[j].isalpha():
            continue
        left, right, bottom, top = _char_box(textpage, j)
        reach = top - bottom
        if left <= centre <= right and bottom - reach <= accent[2] <= top + reach:
            off = abs(centre - (left + right) / 2)
            if best is None or off < best[0]:
                best = (off, j)
    if best is None:
        return
    composed = compose_accent(chars[best[1]], chars[i])
    if composed is not None:
        chars[best[1]], chars[i] = composed, ""


def _char_box(textpage: Any, i: int) -> tuple[float, float, float, float]:
    import pypdfium2.raw as raw

    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    raw.FPDFText_GetCharBox(
        textpage,
        i,
        ctypes.byref(left),
        ctypes.byref(right),
        ctypes.byref(bottom),
        ctypes.byref(top),
    )
    return left.value, right.value, bottom.value, top.value


def _runs(chars: list[str], keys: list[int | None]) -> list[tuple[int, int]]:
    """``[start, end)`` character ranges, one per text object in drawing order."""
    runs: list[tuple[int, int]] = []
    current: int | None = None
    start = 0
    for i, (char, key) in enumerate(zip(chars, keys, strict=True)):
        if key is None:
            if char in "\r\n":  # a line break PDFium put between runs
                if i > start:
                    runs.append((start, i))
                start, current = i + 1, None
            continue  # a generated space belongs to the run it follows
        if key != current:
            if i > start:
                runs.append((start, i))
            start, current = i, key
    if len(chars) > start:
        runs.append((start, len(chars)))
    return runs


def _split_at_wide_gaps(
    textpage: Any, chars: list[str], runs: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Cut a run where a space beside a number is much wider than a word space: one text object can
    draw a whole table row ("51,426   6,039   5,963"), and its cells should stay apart."""
    import pypdfium2.raw as raw

    out: list[tuple[int, int]] = []
    for start, end in runs:
        cut = start
        for k in range(start + 1, end - 1):
            if chars[k] != " " or not chars[k + 1].strip() or chars[k - 1] in _NOT_A_CELL_END:
                continue  # (a sentence's end gets a wider space in justified text)
            before = "".join(chars[cut:k]).rsplit(" ", 1)[-1]
            after = "".join(chars[k + 1 : min(end, k + 12)]).split(" ", 1)[0]
            if not any(c.isdigit() for c in before + after):
                continue  # words apart are a run-in heading or loose justification, not cells
            if cut == start and _SECTION_NUMBER.match("".join(chars[start:k])):
                continue  # "3.1   Results": a heading's number is set apart, not a cell
            gap = _char_box(textpage, k + 1)[0] - _char_box(textpage, k - 1)[1]
            if gap > _CELL_GAP * raw.FPDFText_GetFontSize(textpage, k - 1):
                out.append((cut, k))
                cut = k + 1
        out.append((cut, end))
    return out


def _run_box(textpage: Any, chars: list[str], start: int, end: int, height: float) -> Box | None:
    import pypdfium2.raw as raw

    text = "".join(chars[start:end])
    if not text.strip() or raw.FPDFText_CountRects(textpage, start, end - start) < 1:
        return None
    left, bottom, right, top = textpage.get_rect(0)
    first = start + next(k for k, c in enumerate(chars[start:end]) if c.strip())
    weight = raw.FPDFText_GetFontWeight(textpage, first)
    font_buf = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    raw.FPDFText_GetFontInfo(textpage, first, font_buf, 128, ctypes.byref(flags))
    bold = weight >= 600 or bool(_BOLD_NAME.search(font_buf.value.decode("latin-1", "replace")))
    loose = raw.FS_RECTF()
    size = (
        max(loose.top - loose.bottom, 0.0)
        if raw.FPDFText_GetLooseCharBox(textpage, first, loose)
        else 0.0
    )
    return Box(left, height - top, right, height - bottom, clean_pdf_text(text), bold, size)


__all__ = ["PageText", "page_boxes"]
