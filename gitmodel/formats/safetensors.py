"""safetensors: an 8-byte little-endian header length, a JSON header, then raw data.

Spec: https://github.com/huggingface/safetensors#format
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from gitmodel.formats.base import (
    ITEM_SIZES,
    MAX_HEADER,
    BinaryFile,
    FormatError,
    ModelInfo,
    TensorInfo,
    check_extent,
    read_exact,
)

FORMAT = "safetensors"


def looks_like(head: bytes) -> bool:
    """An 8-byte length followed by ``{``: cheap enough to try on any file."""
    if len(head) < 10:
        return False
    (size,) = struct.unpack("<Q", head[:8])
    return 2 <= size <= MAX_HEADER and head[8:9] == b"{"


def read_header(f: BinaryFile, file_size: int | None = None) -> ModelInfo:
    """The tensor table and ``__metadata__`` of a safetensors file at its start."""
    (size,) = struct.unpack("<Q", read_exact(f, 8))
    if size > MAX_HEADER:
        raise FormatError(f"safetensors header of {size} bytes is too large")
    try:
        header = json.loads(read_exact(f, size))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a JSON object")
    base = 8 + size
    metadata = header.pop("__metadata__", None) or {}
    tensors = [_tensor(name, entry, base, file_size) for name, entry in header.items()]
    tensors.sort(key=lambda t: t.offset)
    return ModelInfo(FORMAT, tensors, dict(metadata), base)


def _tensor(name: str, entry: Any, base: int, file_size: int | None) -> TensorInfo:
    try:
        dtype = str(entry["dtype"])
        shape = tuple(int(d) for d in entry["shape"])
        start, end = (int(x) for x in entry["data_offsets"])
    except (TypeError, KeyError, ValueError) as exc:
        raise FormatError(f"safetensors entry {name!r} is malformed: {exc}") from None
    if dtype not in ITEM_SIZES:
        raise FormatError(f"tensor {name!r} has unknown dtype {dtype!r}")
    if end - start != math.prod(shape) * ITEM_SIZES[dtype] or any(d < 0 for d in shape):
        raise FormatError(f"tensor {name!r}: shape {list(shape)} does not match its bytes")
    check_extent(name, base + start, end - start, file_size)
    return TensorInfo(name, dtype, shape, base + start, end - start)
