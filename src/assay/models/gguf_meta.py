"""Read a GGUF file's header (metadata and tensor shapes) without touching the tensor data.

``gguf.GGUFReader`` parses every element of every metadata array into a numpy view; for a model
with a 49k-token vocabulary and 49k merges that is ~250k views and 2.5-4.5 s, only to be thrown
away. This reader walks the same layout with ``struct`` over a memory map, keeps scalar values and
short arrays, and records long arrays (the tokenizer's tokens, scores, merges) by their length
alone. It reads SmolLM2's header in a few tens of milliseconds. Type names and block sizes come
from the ``gguf`` package, so they stay in step with llama.cpp. The layout is specified in
https://github.com/ggml-org/ggml/blob/master/docs/gguf.md.

Split models (``name-00001-of-00003.gguf``) are read across all their parts.
"""

from __future__ import annotations

import math
import mmap
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import InvalidModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
SHORT_ARRAY = 64
"""Arrays up to this many elements are kept as values; longer ones only by length and type."""

# GGUF value types (gguf.GGUFValueType): id -> struct format of one element.
_SCALARS: dict[int, str] = {
    0: "B",  # UINT8
    1: "b",  # INT8
    2: "H",  # UINT16
    3: "h",  # INT16
    4: "I",  # UINT32
    5: "i",  # INT32
    6: "f",  # FLOAT32
    7: "?",  # BOOL
    10: "Q",  # UINT64
    11: "q",  # INT64
    12: "d",  # FLOAT64
}
_STRING = 8
_ARRAY = 9

_SPLIT_NAME = re.compile(r"^(?P<stem>.*)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


@dataclass(frozen=True)
class ArrayInfo:
    """A long metadata array, recorded without its elements."""

    element_type: str
    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    """In GGUF order (fastest-varying dimension first), as ``gguf.GGUFReader`` reports it."""
    type_name: str
    n_elements: int
    n_bytes: int | None
    """Bytes in the file, from the type's block size; None for a type this gguf does not know."""


@dataclass
class GGUFHeader:
    path: Path
    version: int
    metadata: dict[str, Any]
    """Scalars, strings and short arrays as Python values; long arrays as :class:`ArrayInfo`."""
    tensors: list[TensorInfo]
    files: list[Path] = field(default_factory=list)
    """Every file the model lives in (more than one for a split model)."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def arch_key(self, suffix: str) -> Any:
        """``{general.architecture}.{suffix}``, e.g. ``llama.block_count``."""
        arch = self.metadata.get("general.architecture")
        return self.metadata.get(f"{arch}.{suffix}") if arch else None

    def array_length(self, key: str) -> int | None:
        value = self.metadata.get(key)
        if isinstance(value, ArrayInfo):
            return value.length
        if isinstance(value, list):
            return len(value)
        return None


def _value_type_name(type_id: int) -> str:
    from gguf import GGUFValueType

    try:
        return GGUFValueType(type_id).name
    except ValueError:
        return f"type{type_id}"


def _tensor_type(type_id: int) -> tuple[str, tuple[int, int] | None]:
    """Name and (block size, bytes per block) of a ggml tensor type."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        qtype = GGMLQuantizationType(type_id)
    except ValueError:
        return f"type{type_id}", None
    return qtype.name, GGML_QUANT_SIZES.get(qtype)


def file_type_name(file_type: int) -> str | None:
    """``general.file_type`` as a quantisation name: 3 -> ``Q4_1``, 1 -> ``F16``."""
    from gguf import LlamaFileType

    try:
        name = LlamaFileType(file_type).name
    except ValueError:
        return None
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.path = path
        self.order = "<"

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            raise InvalidModelFileError(
                f"'{self.path.name}' is not a valid GGUF file: it ends inside its header",
                hint="the file may be truncated; download or assemble it again",
            )

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(self.order + fmt)
        self._need(size)
        (value,) = struct.unpack_from(self.order + fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.unpack("Q")
        self._need(n)
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(raw).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        fmt = self.order + "Q"
        buf, pos, end = self.buf, self.pos, len(self.buf)
        for _ in range(count):
            if pos + 8 > end:
                self.pos = pos
                self._need(8)
            (n,) = struct.unpack_from(fmt, buf, pos)
            pos += 8 + n
        self.pos = pos
        self._need(0)

    def value(self, type_id: int) -> Any:
        if type_id in _SCALARS:
            return self.unpack(_SCALARS[type_id])
        if type_id == _STRING:
            return self.string()
        if type_id == _ARRAY:
            element_type = self.unpack("I")
            length = self.unpack("Q")
            if length > SHORT_ARRAY:
                if element_type == _STRING:
                    self.skip_strings(length)
                elif element_type in _SCALARS:
                    size = struct.calcsize(_SCALARS[element_type]) * length
                    self._need(size)
                    self.pos += size
                else:
                    raise InvalidModelFileError(
                        f"'{self.path.name}' has a nested or unknown array type {element_type}"
                    )
                return ArrayInfo(_value_type_name(element_type), length)
            return [self.value(element_type) for _ in range(length)]
        raise InvalidModelFileError(
            f"'{self.path.name}' is not a valid GGUF file: unknown value type {type_id}"
        )


def require_gguf(path: Path, hint: str) -> None:
    """Raise :class:`InvalidModelFileError` unless ``path`` starts with the GGUF magic bytes."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise InvalidModelFileError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if head != GGUF_MAGIC:
        raise InvalidModelFileError(
            f"'{path}' is not a GGUF file (it does not start with the bytes 'GGUF')", hint=hint
        )


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _read_one(path: Path) -> tuple[int, dict[str, Any], list[TensorInfo]]:
    try:
        with path.open("rb") as f:
            head = f.read(4)
            if head != GGUF_MAGIC:
                shown = head.decode("ascii", errors="replace") if head else "nothing"
                raise InvalidModelFileError(
                    f"'{path.name}' is not a GGUF file (it starts with {shown!r}, not 'GGUF')",
                    hint="give a .gguf model file or a transformers model folder",
                )
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(_Cursor(buf, path))
    except OSError as exc:
        raise InvalidModelFileError(f"cannot read '{path}': {exc.strerror or exc}") from exc


def _parse(cur: _Cursor) -> tuple[int, dict[str, Any], list[TensorInfo]]:
    cur.pos = 4
    version = cur.unpack("I")
    if version & 0xFFFF == 0:  # written on a big-endian machine
        cur.order = ">"
        version = struct.unpack(">I", struct.pack("<I", version))[0]
    if version < 2:
        raise InvalidModelFileError(
            f"'{cur.path.name}' is GGUF version {version}, which is too old to read",
            hint="convert it again with a recent llama.cpp",
        )
    n_tensors = cur.unpack("Q")
    n_kv = cur.unpack("Q")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.unpack("I"))
    tensors: list[TensorInfo] = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.unpack("I")
        shape = tuple(int(cur.unpack("Q")) for _ in range(n_dims))
        type_name, sizes = _tensor_type(cur.unpack("I"))
        cur.unpack("Q")  # offset of the data, not needed
        n_elements = math.prod(shape)
        n_bytes = None if sizes is None else n_elements // sizes[0] * sizes[1]
        tensors.append(TensorInfo(name, shape, type_name, n_elements, n_bytes))
    return version, metadata, tensors


def split_parts(path: Path) -> list[Path]:
    """All parts of a split GGUF (``x-00001-of-00003.gguf``), or just ``path``."""
    match = _SPLIT_NAME.match(path.name)
    if not match:
        return [path]
    count = int(match["count"])
    parts = [
        path.with_name(f"{match['stem']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)
    ]
    missing = [p.name for p in parts if not p.exists()]
    if missing:
        raise InvalidModelFileError(
            f"'{path.name}' is one part of a split GGUF, and {len(missing)} part(s) are missing",
            hint=f"missing: {', '.join(missing)}",
        )
    return parts


def read_gguf_header(path: Path) -> GGUFHeader:
    """Metadata and tensor infos of a GGUF model (all parts of a split one)."""
    parts = split_parts(path)
    version, metadata, tensors = _read_one(parts[0])
    for part in parts[1:]:
        _, _, more = _read_one(part)
        tensors.extend(more)
    return GGUFHeader(path=path, version=version, metadata=metadata, tensors=tensors, files=parts)


__all__ = [
    "ArrayInfo",
    "GGUFHeader",
    "TensorInfo",
    "file_type_name",
    "is_gguf",
    "read_gguf_header",
    "split_parts",
]
