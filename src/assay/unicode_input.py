"""Text that arrives from outside (standard input, the command line, HTTP requests) as valid
Unicode, or a clear word about where it was not.

Tokenizers cannot encode a lone surrogate, and Python makes one from every byte that is not UTF-8
on the command line (and on standard input under the C locale). Input from a person is repaired:
each undecodable byte becomes U+FFFD, with one warning naming the first bad byte's offset. A
request to the server is refused instead (see ``lone_surrogate_path``), as the client can resend.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from assay.errors import AssayWarning

_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_utf8(data: bytes, where: str) -> str:
    """``data`` as UTF-8; bytes that are not are replaced by U+FFFD, with one warning."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        warnings.warn(
            f"{where} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start}); undecodable bytes were replaced with U+FFFD",
            AssayWarning,
            stacklevel=2,
        )
        return data.decode("utf-8", errors="replace")


def repair_text(text: str, where: str) -> str:
    """``text`` with the lone surrogates Python made from undecodable bytes replaced (warned)."""
    if not _SURROGATE.search(text):
        return text
    # surrogateescape gives back the original bytes; surrogatepass keeps any other lone
    # surrogate as bytes that are not UTF-8 either, so both are reported and replaced.
    data = b"".join(
        ch.encode("utf-8", "surrogateescape")
        if "\udc80" <= ch <= "\udcff"
        else ch.encode("utf-8", "surrogatepass")
        for ch in text
    )
    return decode_utf8(data, where)


def lone_surrogate_path(value: Any, path: str = "") -> str | None:
    """Where in a decoded JSON value a string holds an unpaired surrogate, as
    ``messages[0].content`` (with the character offset), or None when there is none."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        if found is None:
            return None
        return f"{path or 'text'} (U+{ord(found.group()):04X} at character {found.start()})"
    if isinstance(value, dict):
        items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for sub_path, sub in items:
        hit = lone_surrogate_path(sub, sub_path)
        if hit is not None:
            return hit
    return None


__all__ = ["decode_utf8", "lone_surrogate_path", "repair_text"]
