"""Words and hashed word n-grams, normalised as decontamination studies do.

Normalisation follows GPT-3's decontamination and lm-evaluation-harness's ``decontamination``
janitor: lowercase, delete ASCII punctuation, split on white space. ``proof-of-work`` is one word
(``proofofwork``), ``don't`` is ``dont``.

N-grams are hashed to 64 bits so an index over a large corpus is a sorted array of integers
(8 bytes an n-gram) instead of a set of strings: each word is hashed once (blake2b, stable across
processes and machines), and an n-gram's hash is the polynomial Σ h(wᵢ)·Pⁿ⁻¹⁻ⁱ mod 2⁶⁴,
computed over whole arrays. Two different n-grams collide with probability ~2⁻⁶⁴ per pair.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence

import numpy as np

NORMALISATION = "lower+delete-ascii-punctuation+whitespace-split/v2"
"""Part of every index key: a change here (or in what text a JSON row gives, v2: its numbers
too) must not reuse an index built the old way."""

_PUNCTUATION = string.punctuation.encode()
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so the polynomial is a bijection per position
_VOCAB_LIMIT = 2_000_000  # words whose hashes are remembered; beyond it the memo starts over


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    # bytes.translate is a C table lookup (str.translate is several times slower); deleting
    # ASCII bytes is safe in UTF-8, where no multi-byte character contains one.
    return text.lower().encode().translate(None, _PUNCTUATION).decode().split()


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")


class WordHasher:
    """Stable 64-bit word hashes, memoised (words repeat: most tokens hit the memo)."""

    def __init__(self) -> None:
        self._memo: dict[str, int] = {}

    def __call__(self, tokens: Sequence[str]) -> np.ndarray:
        memo = self._memo
        if len(memo) > _VOCAB_LIMIT:
            memo.clear()
        for w in set(tokens).difference(memo):
            memo[w] = _word_hash(w)
        return np.fromiter(map(memo.__getitem__, tokens), dtype=np.uint64, count=len(tokens))


def ngram_hashes(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash of every run of ``n`` consecutive words (empty when there are fewer)."""
    count = len(word_hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    out = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(n):
            out = out * _MULTIPLIER + word_hashes[i : i + count]
    return out


def text_ngrams(text: str, n: int, hasher: WordHasher | None = None) -> np.ndarray:
    return ngram_hashes((hasher or WordHasher())(words(text)), n)


__all__ = ["NORMALISATION", "WordHasher", "ngram_hashes", "text_ngrams", "words"]
