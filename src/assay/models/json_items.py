"""Where a JSON reply stands as it is written: inside a string or not, and each open array's
items so far, so that an array whose new item repeats an earlier one verbatim can be closed.

Small models decoding under a schema often loop inside an array (``["data", "data", "data",
...``) until ``max_tokens``. :class:`JsonItems` is fed each token's bytes and answers whether a
token would add a comma after an item that repeats one already in the same array; the
constrained decoder then takes the array's end instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.models.closing import string_state

_COMMA, _OPEN_ARRAY, _OPEN_OBJECT, _CLOSE_ARRAY, _CLOSE_OBJECT = b",[{]}"
_ENDS = (b'"', b"}", b"]")


@dataclass
class _Frame:
    array: bool
    start: int
    """Offset in the text where the current item begins (arrays only)."""
    items: set[bytes] = field(default_factory=set)


class JsonItems:
    """The open arrays and objects of a JSON text fed token by token."""

    def __init__(self) -> None:
        self.text = bytearray()
        self.frames: list[_Frame] = []
        self.inside = False
        self.escaped = False

    @property
    def in_string(self) -> tuple[bool, bool]:
        """Whether the text ends inside a string, and just after a backslash there."""
        return self.inside, self.escaped

    def feed(self, data: bytes) -> None:
        for byte in data:
            self.text.append(byte)
            if self.inside or byte == 0x22:
                self.inside, self.escaped = string_state(bytes((byte,)), self.inside, self.escaped)
            elif byte in (_OPEN_ARRAY, _OPEN_OBJECT):
                self.frames.append(_Frame(array=byte == _OPEN_ARRAY, start=len(self.text)))
            elif byte in (_CLOSE_ARRAY, _CLOSE_OBJECT):
                if self.frames:
                    self.frames.pop()
            elif byte == _COMMA and self.frames and self.frames[-1].array:
                top = self.frames[-1]
                top.items.add(bytes(self.text[top.start : -1]).strip())
                top.start = len(self.text)

    def at_repeat(self) -> int | None:
        """The depth of the innermost array when the text ends just after a whole string,
        object or array item that repeats an earlier item of it; else None. (A number item is
        left alone: more digits may follow.)"""
        if self.inside or not self.frames or not self.frames[-1].array:
            return None
        top = self.frames[-1]
        item = bytes(self.text[top.start :]).strip()
        return len(self.frames) - 1 if item[-1:] in _ENDS and item in top.items else None

    def repeats(self, data: bytes) -> int | None:
        """The depth of the array whose item ``data``, written next, would end with a comma
        after it when that item repeats an earlier item of the array; else None."""
        level = len(self.frames)  # frames[level - 1]: the innermost frame still open
        inside, escaped = self.inside, self.escaped
        opened = 0  # frames opened within data
        for i, byte in enumerate(data):
            if inside or byte == 0x22:
                inside, escaped = string_state(bytes((byte,)), inside, escaped)
            elif byte in (_OPEN_ARRAY, _OPEN_OBJECT):
                opened += 1
            elif byte in (_CLOSE_ARRAY, _CLOSE_OBJECT):
                if opened:
                    opened -= 1
                else:
                    level -= 1
            elif byte == _COMMA and not opened:
                if level < 1 or not self.frames[level - 1].array:
                    return None
                frame = self.frames[level - 1]
                item = (bytes(self.text[frame.start :]) + data[:i]).strip()
                return level - 1 if item in frame.items else None
        return None


__all__ = ["JsonItems"]
