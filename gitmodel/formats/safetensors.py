"""safetensors: an 8-byte little-endian header length, a JSON header, then raw data.

Spec: https://github.com/huggingface/safetensors#format
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from typing import Any

from gitmodel.formats.base import (
    LIMIT_HINT,
    MAX_HEADER,
    BinaryFile,
    FormatError,
    ModelInfo,
    TensorInfo,
    Truncated,
    check_extent,
    check_shape,
    packed_nbytes,
    read_exact,
)

FORMAT = "safetensors"
MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors library reads no larger header
# What a header may hold, counted in its text before it is parsed (a JSON value costs 8
# to 70 bytes in Python, a tensor entry with its TensorInfo about 1 KiB): the largest
# real files hold tens of thousands of tensors
MAX_TENSORS = 1 << 17
MAX_OBJECTS = MAX_TENSORS + 4096  # one a tensor, the rest for braces in metadata text
MAX_LISTS = 2 * MAX_TENSORS + 4096  # a shape and data_offsets a tensor
MAX_ITEMS = 16 * MAX_TENSORS  # commas: list items and object members
# every dtype safetensors 0.8 writes; sub-byte ones (F4, F6) pack elements into bytes
SAFETENSORS_DTYPES = (
    "BOOL", "U8", "I8", "U16", "I16", "F16", "BF16", "U32", "I32", "F32", "C64", "U64", "I64",
    "F64", "F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "F4", "F6_E2M3",
    "F6_E3M2", "C128",
)  # fmt: skip


def looks_like(head: bytes) -> bool:
    """An 8-byte length followed by ``{``: cheap enough to try on any file."""
    if len(head) < 10:
        return False
    (size,) = struct.unpack("<Q", head[:8])
    return 2 <= size <= MAX_HEADER and head[8:9] == b"{"


def read_header(f: BinaryFile, file_size: int | None = None) -> ModelInfo:
    """The tensor table and ``__metadata__`` of a safetensors file at its start."""
    (size,) = struct.unpack("<Q", read_exact(f, 8))
    if size > MAX_SAFETENSORS_HEADER:
        most = f"{MAX_SAFETENSORS_HEADER:,}"
        raise FormatError(f"safetensors header of {size:,} bytes is too large",
                          hint=f"the safetensors library reads at most {most} bytes")  # fmt: skip
    if file_size is not None and size > file_size - 8:
        raise Truncated(f"the file ends inside its safetensors header of {size:,} bytes")
    text = f.read(size)
    _check_counts(text)  # counts only grow: a part of a header over them refuses it
    if len(text) != size:
        raise Truncated("the file ends inside its header")
    try:
        header = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"safetensors header is not JSON: {exc}") from None
    except RecursionError:
        raise FormatError("safetensors header nests too deep to be a tensor table") from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a JSON object")
    base = 8 + size
    metadata = _metadata(header.pop("__metadata__", None))
    tensors = [_tensor(name, entry, base, file_size) for name, entry in header.items()]
    tensors.sort(key=lambda t: (t.offset, t.nbytes))
    for before, after in itertools.pairwise(tensors):
        if after.offset < before.offset + before.nbytes:
            raise FormatError(f"tensors {before.name!r} and {after.name!r} overlap")
    return ModelInfo(FORMAT, tensors, metadata, base)


def _check_counts(text: bytes) -> None:
    """Refuse a header whose text holds more objects, lists or values than the largest
    tensor table would, before ``json.loads`` makes a Python object of each."""
    for token, most, what in ((b"{", MAX_OBJECTS, "objects"), (b"[", MAX_LISTS, "lists"),
                              (b",", MAX_ITEMS, "values")):  # fmt: skip
        if text.count(token) > most:
            raise FormatError(f"safetensors header holds over {most:,} {what}, more than"
                              f" {MAX_TENSORS:,} tensors need", hint=LIMIT_HINT)  # fmt: skip


def _metadata(value: Any) -> dict[str, Any]:
    """``__metadata__``: strings to strings, as safetensors writes and reads it."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise FormatError("safetensors __metadata__ is not a map of strings to strings")
    return dict(value)


def _tensor(name: str, entry: Any, base: int, file_size: int | None) -> TensorInfo:
    try:
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    except (TypeError, KeyError) as exc:
        raise FormatError(f"safetensors entry {name!r} is malformed: {exc}") from None
    if dtype not in SAFETENSORS_DTYPES:
        raise FormatError(
            f"tensor {name!r} has unsupported dtype {str(dtype)[:40]!r}",
            hint=f"the dtypes read are {', '.join(SAFETENSORS_DTYPES)}",
        )
    shape = check_shape(f"tensor {name!r}", shape)
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(x) is int and x >= 0 for x in offsets)):  # fmt: skip
        raise FormatError(f"safetensors entry {name!r} has malformed data_offsets")
    start, end = offsets
    if end - start != packed_nbytes(dtype, math.prod(shape)):
        shown = str(list(shape))[:100]
        raise FormatError(f"tensor {name!r}: shape {shown} does not match its bytes")
    check_extent(name, base + start, end - start, file_size)
    return TensorInfo(name, dtype, shape, base + start, end - start)
