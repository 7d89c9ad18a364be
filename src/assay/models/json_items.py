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

    def at_repeat(self) -> bool:
        """Whether the text ends just after an item that repeats an earlier item of the same
        array (a comma next would continue the loop)."""
        if self.inside or not self.frames or not self.frames[-1].array:
            return False
        top = self.frames[-1]
        return bytes(self.text[top.start :]).strip() in top.items

    def repeats(self, data: bytes) -> bool:
        """Whether ``data``, written next, would put a comma after an item that repeats an
        earlier item of the same (innermost, open) array."""
        if not self.frames or not self.frames[-1].array or not self.frames[-1].items:
            return False
        top = self.frames[-1]
        inside, escaped = self.inside, self.escaped
        depth = 0
        for i, byte in enumerate(data):
            if inside or byte == 0x22:
                inside, escaped = string_state(bytes((byte,)), inside, escaped)
            elif byte in (_OPEN_ARRAY, _OPEN_OBJECT):
                depth += 1
            elif byte in (_CLOSE_ARRAY, _CLOSE_OBJECT):
                depth -= 1
                if depth < 0:
                    return False
            elif byte == _COMMA and depth == 0:
                item = (bytes(self.text[top.start :]) + data[:i]).strip()
                return item in top.items
        return False


__all__ = ["JsonItems"]
