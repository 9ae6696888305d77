"""What every reader returns: a model file's format, metadata and tensor table.

Readers parse headers only; tensor bytes are located by offset (or, for
compressed members, by an opener) and streamed by :mod:`gitmodel.formats.tensors`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from gitmodel.errors import UserError

BinaryFile = IO[bytes]

# Canonical dtype names (safetensors spelling) -> NumPy dtype strings, little-endian.
# None: no NumPy equivalent; such tensors are compared byte by byte.
NUMPY_DTYPES: dict[str, str | None] = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": None,
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
    "F8_E4M3": None, "F8_E5M2": None, "C64": "<c8", "C128": "<c16",
}  # fmt: skip
ITEM_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "C64": 8, "C128": 16,
}  # fmt: skip
_NUMPY_DESCR = re.compile(r"[<>|=][fiucb][1-9][0-9]?")  # plain numeric NumPy dtypes
MAX_HEADER = 256 << 20  # refuse headers larger than this (a corrupt length field)


class FormatError(UserError):
    """A file that claims a format but does not follow it, or one we will not read."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint or "the file is corrupt, or not in the format it seems")


class Truncated(FormatError):
    """The header runs past the bytes available (a streaming reader may wait for more)."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor: where its raw bytes are and how to read them.

    ``offset`` is the absolute file offset of the first byte; ``opener`` replaces it
    for data that is not stored raw (a compressed ``.npz`` member).
    """

    name: str
    dtype: str  # canonical name (see NUMPY_DTYPES) or a format-specific one, e.g. "Q4_K"
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    fortran_order: bool = False
    opener: Callable[[], BinaryFile] | None = field(default=None, compare=False, repr=False)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def numpy_dtype(self) -> str | None:
        """The NumPy dtype string for the raw bytes, or None (compare bytes only)."""
        if self.dtype in NUMPY_DTYPES:
            return NUMPY_DTYPES[self.dtype]
        return self.dtype if _NUMPY_DESCR.fullmatch(self.dtype) else None


@dataclass(frozen=True)
class ModelInfo:
    """A parsed header: the format name, its metadata and the tensors in file order."""

    format: str
    tensors: list[TensorInfo]
    metadata: dict[str, Any] = field(default_factory=dict)
    data_offset: int = 0  # where tensor data starts (the header's size)

    def by_name(self) -> dict[str, TensorInfo]:
        return {t.name: t for t in self.tensors}

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors)


def read_exact(f: BinaryFile, size: int) -> bytes:
    """Exactly ``size`` bytes, or :class:`Truncated`."""
    data = f.read(size)
    if len(data) != size:
        raise Truncated("the file ends inside its header")
    return data


def check_extent(name: str, offset: int, nbytes: int, file_size: int | None) -> None:
    """Refuse a tensor whose bytes would lie outside the file."""
    if offset < 0 or nbytes < 0 or (file_size is not None and offset + nbytes > file_size):
        raise FormatError(
            f"tensor {name!r} lies outside the file",
            hint="the file is truncated or its header is corrupt",
        )


RAW_BLOCK = 2 << 20


def iter_raw(f: BinaryFile, tensor: TensorInfo, block: int = RAW_BLOCK) -> Iterator[bytes]:
    """The tensor's raw bytes in full blocks of ``block`` bytes (the last may be short)."""
    stream = tensor.opener() if tensor.opener is not None else f
    if tensor.opener is None:
        stream.seek(tensor.offset)
    left = tensor.nbytes
    try:
        while left:
            want = min(block, left)
            data = stream.read(want)
            while len(data) < want:
                more = stream.read(want - len(data))
                if not more:
                    raise Truncated(f"tensor {tensor.name!r} is cut short")
                data += more
            left -= want
            yield data
    finally:
        if stream is not f:
            stream.close()
