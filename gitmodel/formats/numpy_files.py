"""NumPy ``.npy`` and ``.npz`` files, read without ``allow_pickle``.

Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html.
The header is a Python literal, parsed with :func:`ast.literal_eval` (which
evaluates no code). Object arrays need pickle and are refused.
"""

from __future__ import annotations

import ast
import math
import re
import struct
import zipfile
from typing import Any

from gitmodel.formats.base import (
    ITEM_SIZES,
    LIMIT_HINT,
    BinaryFile,
    FormatError,
    ModelInfo,
    TensorInfo,
    check_extent,
    check_shape,
    read_exact,
)

NPY_MAGIC = b"\x93NUMPY"
# NumPy writes a plain array's header in well under 1 KiB and reads at most 10,000
# bytes of it unless allowed pickles (a literal's syntax tree is far larger than its text)
MAX_NPY_HEADER = 64 << 10
# what a header holds once its padding is stripped: 64 dimensions of 20 digits fit
MAX_LITERAL = 2048
LITERAL_BUDGET = 64 << 10  # headers evaluated as literals in one archive, bytes in all
_NUMPY_HEADER = re.compile(
    r"""\{'descr': '(?P<descr>[<>|=][a-zA-Z]\d{0,2})', 'fortran_order': (?P<fortran>True|False),"""
    r""" 'shape': \((?P<shape>(?:\d{1,20}, ?)*\d{0,20})\), \}[ \t]*\n?"""
)
ZIP_MAGIC = b"PK\x03\x04"
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # a zip local file header, 30 bytes
# little-endian / byte-order-free NumPy descrs -> canonical dtype names
_CANONICAL = {
    "<f8": "F64", "<f4": "F32", "<f2": "F16", "<i8": "I64", "<i4": "I32", "<i2": "I16",
    "|i1": "I8", "<u8": "U64", "<u4": "U32", "<u2": "U16", "|u1": "U8", "|b1": "BOOL",
    "<c8": "C64", "<c16": "C128",
}  # fmt: skip


def read_npy_header(
    f: BinaryFile, budget: list[int] | None = None
) -> tuple[str, tuple[int, ...], bool, int]:
    """dtype (canonical or NumPy descr), shape, Fortran order and header length. A header
    not written as NumPy writes it is evaluated as a literal, if it is short and what is
    left of ``budget`` (bytes of such headers, for all of an archive's members) allows."""
    magic = read_exact(f, 8)
    if magic[:6] != NPY_MAGIC:
        raise FormatError("not a .npy file")
    major = magic[6]
    if major == 1:
        (size,) = struct.unpack("<H", read_exact(f, 2))
        prefix = 10
    elif major in (2, 3):
        (size,) = struct.unpack("<I", read_exact(f, 4))
        prefix = 12
    else:
        raise FormatError(f".npy format version {major} is not supported")
    if size > MAX_NPY_HEADER:
        raise FormatError(f".npy header of {size} bytes is too large for a plain array")
    text = read_exact(f, size).decode("utf-8" if major == 3 else "latin-1")
    header = _plain_header(text) or _literal_header(text.strip(), budget)
    dtype, shape, fortran = _fields(header)
    return dtype, shape, fortran, prefix + size


def _plain_header(text: str) -> dict[str, Any] | None:
    """The header as NumPy writes it, read without evaluating it (a literal's syntax
    tree costs some 4 us a byte), or None."""
    match = _NUMPY_HEADER.fullmatch(text)
    if match is None or ("," not in match["shape"] and match["shape"].strip()):
        return None  # not NumPy's spelling, or "(3)": a number, not a shape
    dims = [int(d) for d in match["shape"].replace(" ", "").split(",") if d]
    fortran = match["fortran"] == "True"
    return {"descr": match["descr"], "fortran_order": fortran, "shape": tuple(dims)}


def _literal_header(text: str, budget: list[int] | None) -> Any:
    if len(text) > MAX_LITERAL:
        raise FormatError(f".npy header of {len(text):,} bytes is too long for a plain array",
                          hint="NumPy writes one in under 1 KiB")  # fmt: skip
    if budget is not None:
        budget[0] -= len(text)
        if budget[0] < 0:
            raise FormatError("the archive's .npy headers are not as NumPy writes them, and"
                              f" too many: over {LITERAL_BUDGET:,} bytes of them",
                              hint=LIMIT_HINT)  # fmt: skip
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise FormatError(".npy header is not a Python literal") from None


def _fields(header: Any) -> tuple[str, tuple[int, ...], bool]:
    try:
        descr, shape, fortran = header["descr"], header["shape"], header["fortran_order"]
    except (TypeError, KeyError):
        raise FormatError(".npy header lacks descr, shape or fortran_order") from None
    shape = check_shape("the array", shape)
    if not isinstance(descr, str) or descr[1:2] in ("O", "V") or descr == "|O":
        raise FormatError(
            f"array dtype {descr!r} needs pickle or is structured",
            hint="only plain numeric arrays are read (pickle is never loaded)",
        )
    return _CANONICAL.get(descr, descr), shape, bool(fortran)


def _nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    if dtype in ITEM_SIZES:
        return math.prod(shape) * ITEM_SIZES[dtype]
    if TensorInfo("", dtype, shape, 0, 0).numpy_dtype is None:
        raise FormatError(f"array dtype {dtype!r} is not supported")
    return math.prod(shape) * int(dtype[2:])


def read_npy(f: BinaryFile, file_size: int | None = None) -> ModelInfo:
    """A ``.npy`` file: one tensor, named ``array``."""
    dtype, shape, fortran, header_len = read_npy_header(f)
    nbytes = _nbytes(dtype, shape)
    check_extent("array", header_len, nbytes, file_size)
    tensor = TensorInfo("array", dtype, shape, header_len, nbytes, fortran)
    return ModelInfo("npy", [tensor], {}, header_len)


def read_npz(f: BinaryFile, file_size: int | None = None) -> ModelInfo:
    """Every ``*.npy`` member of a ``.npz`` archive; stored members are located by
    offset, compressed ones get an opener that decompresses on demand."""
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"not a readable .npz archive: {exc}") from None
    budget = [LITERAL_BUDGET]
    tensors = [_member(f, archive, info, file_size, budget) for info in archive.infolist()]
    return ModelInfo("npz", [t for t in tensors if t is not None])


def _member(
    f: BinaryFile,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    file_size: int | None,
    budget: list[int],
) -> TensorInfo | None:
    if info.is_dir() or not info.filename.endswith(".npy"):
        return None
    name = info.filename.removesuffix(".npy")
    with archive.open(info) as member:
        dtype, shape, fortran, header_len = read_npy_header(member, budget)
    nbytes = _nbytes(dtype, shape)
    if header_len + nbytes > info.file_size:
        raise FormatError(f"member {name!r} is shorter than its header says")
    if info.compress_type == zipfile.ZIP_STORED:
        offset = member_data_offset(f, info) + header_len
        check_extent(name, offset, nbytes, file_size)
        return TensorInfo(name, dtype, shape, offset, nbytes, fortran)

    def opener() -> BinaryFile:
        stream = archive.open(info)
        stream.read(header_len)
        return stream

    return TensorInfo(name, dtype, shape, -1, nbytes, fortran, opener)


def member_data_offset(f: BinaryFile, info: zipfile.ZipInfo) -> int:
    """Where a zip member's data starts (its local header's extra field may differ
    from the central directory's, so read it)."""
    f.seek(info.header_offset)
    fields = _LOCAL_HEADER.unpack(read_exact(f, _LOCAL_HEADER.size))
    if fields[0] != ZIP_MAGIC:
        raise FormatError(f"zip member {info.filename!r} has a corrupt local header")
    name_len, extra_len = fields[-2], fields[-1]
    return int(info.header_offset) + _LOCAL_HEADER.size + int(name_len) + int(extra_len)
