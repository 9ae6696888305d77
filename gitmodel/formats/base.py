"""What every reader returns: a model file's format, metadata and tensor table.

Readers parse headers only; tensor bytes are located by offset (or, for
compressed members, by an opener) and streamed by :mod:`gitmodel.formats.tensors`.
"""

from __future__ import annotations

import math
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from gitmodel.errors import UserError

BinaryFile = IO[bytes]

# Canonical dtype names (safetensors spelling) -> NumPy dtype strings, little-endian.
# None: no NumPy equivalent; such tensors are decoded by ``tensors.to_float`` or
# compared byte by byte.
NUMPY_DTYPES: dict[str, str | None] = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": None,
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
    "F8_E4M3": None, "F8_E5M2": None, "F8_E4M3FNUZ": None, "F8_E5M2FNUZ": None,
    "F8_E8M0": None, "F4": None, "F6_E2M3": None, "F6_E3M2": None,
    "C64": "<c8", "C128": "<c16",
}  # fmt: skip
# Bits per element. F4 packs two elements in a byte, F6 four in three bytes;
# F4_X2 (torch.float4_e2m1fn_x2) and C32 (torch.complex32) are compared as bytes.
ITEM_BITS = {
    "F64": 64, "F32": 32, "F16": 16, "BF16": 16, "I64": 64, "I32": 32, "I16": 16, "I8": 8,
    "U64": 64, "U32": 32, "U16": 16, "U8": 8, "BOOL": 8, "F8_E4M3": 8, "F8_E5M2": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "C64": 64, "C128": 128, "F4_X2": 8, "C32": 32,
}  # fmt: skip
ITEM_SIZES = {dtype: bits // 8 for dtype, bits in ITEM_BITS.items() if bits % 8 == 0}


def packed_nbytes(dtype: str, numel: int) -> int | None:
    """Bytes that ``numel`` elements of ``dtype`` fill, or None when they end inside a
    byte (safetensors refuses those too)."""
    bits = numel * ITEM_BITS[dtype]
    return bits // 8 if bits % 8 == 0 else None


# plain numeric NumPy dtypes of any byte order (little-endian ones have canonical names)
_NUMPY_DESCR = re.compile(r"[<>|=](f[248]|[iu][1248]|c(8|16)|b1)")
MAX_HEADER = 256 << 20  # refuse headers larger than this (a corrupt length field)
MAX_DIMS = 64  # NumPy's limit; more is a corrupt or hostile shape


MAX_ZIP_MEMBERS = 1 << 16  # a member a NumPy array or a PyTorch storage
MAX_ZIP_DIRECTORY = 64 << 20  # the central directory of that many members, long names and all
LIMIT_HINT = "the file is corrupt or hostile; git add still versions it, as plain bytes"
_EOCD = struct.Struct("<4s4H2IH")  # a zip's end of central directory record, 22 bytes
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_EOCD = struct.Struct("<4sQ2H2I4Q")


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
    for data that is not stored raw (a compressed ``.npz`` member). ``stride`` is set
    for a view over a larger storage (a PyTorch ``w.t()`` or ``w[:, 1]``): the step
    in elements along each axis from ``offset``; ``nbytes`` then counts the view's
    own elements, which :func:`iter_raw` gathers in row-major order.
    """

    name: str
    dtype: str  # canonical name (see NUMPY_DTYPES) or a format-specific one, e.g. "Q4_K"
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    fortran_order: bool = False
    opener: Callable[[], BinaryFile] | None = field(default=None, compare=False, repr=False)
    stride: tuple[int, ...] | None = None

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


def check_zip_directory(f: BinaryFile, file_size: int) -> None:
    """Refuse a zip whose central directory lists more members than we read, before
    ``zipfile`` makes an object of each (it reads as many as the directory's bytes hold,
    whatever count the archive claims)."""
    tail = min(file_size, _EOCD.size + 0xFFFF)  # the record, and a comment of up to 64 KiB
    f.seek(file_size - tail)
    data = f.read(tail)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(data):
        return  # not a zip zipfile reads: it says so itself
    _, _, _, _, count, size, offset, _ = _EOCD.unpack_from(data, at)
    if count == 0xFFFF or 0xFFFFFFFF in (size, offset):
        found = _zip64_directory(f, file_size - tail + at)
        if found is None:
            return
        count, size, offset = found
    if size > MAX_ZIP_DIRECTORY or size > file_size:
        raise FormatError(f"zip central directory of {size:,} bytes is too large", hint=LIMIT_HINT)
    f.seek(offset)
    entries = f.read(size).count(b"PK\x01\x02")  # a member's signature (or a name's bytes)
    if max(count, entries) > MAX_ZIP_MEMBERS:
        raise FormatError(f"zip archive lists {max(count, entries):,} members, over the"
                          f" {MAX_ZIP_MEMBERS:,} read", hint=LIMIT_HINT)  # fmt: skip


def _zip64_directory(f: BinaryFile, eocd: int) -> tuple[int, int, int] | None:
    """Member count, size and offset of the central directory of a zip64 archive."""
    if eocd < _ZIP64_LOCATOR.size:
        return None
    f.seek(eocd - _ZIP64_LOCATOR.size)
    sig, _, where, _ = _ZIP64_LOCATOR.unpack(f.read(_ZIP64_LOCATOR.size))
    if sig != b"PK\x06\x07":
        return None
    f.seek(where)
    record = f.read(_ZIP64_EOCD.size)
    if len(record) < _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
        return None
    fields = _ZIP64_EOCD.unpack(record)
    return int(fields[-3]), int(fields[-2]), int(fields[-1])


def check_shape(what: str, dims: Any) -> tuple[int, ...]:
    """A shape (or strides) as a header gives it: up to :data:`MAX_DIMS` whole numbers
    >= 0; ``what`` names the tensor in the error."""
    if not isinstance(dims, (list, tuple)) or len(dims) > MAX_DIMS:
        raise FormatError(f"{what} has a malformed shape: not a list of {MAX_DIMS} or fewer")
    if not all(type(d) is int and d >= 0 for d in dims):
        raise FormatError(f"{what} has a malformed shape: not whole numbers >= 0")
    return tuple(dims)


def check_extent(name: str, offset: int, nbytes: int, file_size: int | None) -> None:
    """Refuse a tensor whose bytes would lie outside the file."""
    if offset < 0 or nbytes < 0 or (file_size is not None and offset + nbytes > file_size):
        raise FormatError(
            f"tensor {name!r} lies outside the file",
            hint="the file is truncated or its header is corrupt",
        )


def span(shape: tuple[int, ...], stride: tuple[int, ...]) -> int:
    """Elements from the first to one past the last that a view touches."""
    if any(d == 0 for d in shape):
        return 0
    return 1 + sum((d - 1) * s for d, s in zip(shape, stride, strict=True))


RAW_BLOCK = 2 << 20


def iter_raw(f: BinaryFile, tensor: TensorInfo, block: int = RAW_BLOCK) -> Iterator[bytes]:
    """The tensor's raw bytes in full blocks of ``block`` bytes (the last may be short)."""
    if tensor.stride is not None:
        from gitmodel.formats.views import iter_view

        yield from iter_view(f, tensor, block)
        return
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
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a damaged compressed member
        raise FormatError(f"tensor {tensor.name!r} is damaged: {exc}") from None
    finally:
        if stream is not f:
            stream.close()
