"""GGUF (llama.cpp): a key/value metadata header, a tensor table, aligned data.

Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (versions 2 and 3).
Quantized tensors are located and compared byte by byte; F32/F16/BF16/F64 and
integer tensors are compared numerically.
"""

from __future__ import annotations

import struct
from typing import Any

from gitmodel.formats.base import (
    BinaryFile,
    FormatError,
    ModelInfo,
    TensorInfo,
    Truncated,
    check_extent,
    read_exact,
)

FORMAT = "gguf"
MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_COUNT = 1 << 24  # tensors, keys or array items: more means a corrupt header
MAX_VALUES = 1 << 21  # metadata values in all (the largest vocabularies: under 1 << 20)
MAX_STRING = 64 << 20

# ggml type id -> (name, elements per block, bytes per block)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
}  # fmt: skip

# metadata value type id -> struct format (scalars); 8 string, 9 array
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9


def looks_like(head: bytes) -> bool:
    return head[:4] == MAGIC


class _Reader:
    """Reads a GGUF header, holding to a budget of items so that a header claiming
    more than it holds fails fast, and what it holds costs memory in proportion."""

    def __init__(self, f: BinaryFile, file_size: int | None) -> None:
        self.f = f
        self.pos = 0
        self.file_size = file_size
        self.values = MAX_VALUES  # metadata values left to read, array items included

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self.pos += size
        return struct.unpack(fmt, read_exact(self.f, size))[0]

    def count(self, what: str, least_bytes: int = 1, values: bool = False) -> int:
        """A count of things of ``least_bytes`` or more each, checked against the file
        (and, for metadata ``values``, against what is left of their budget)."""
        n = int(self.unpack("<Q"))
        if values:
            self.values -= n
        if n > MAX_COUNT:
            raise FormatError(f"GGUF header claims {n} {what}; the file is corrupt")
        if self.values < 0:
            raise FormatError(f"GGUF metadata holds over {MAX_VALUES:,} values; it is corrupt")
        left = None if self.file_size is None else self.file_size - self.pos
        if left is not None and n * least_bytes > left:
            raise Truncated(f"GGUF header claims {n} {what}, more than the file holds")
        return n

    def string(self) -> str:
        size = int(self.unpack("<Q"))
        if size > MAX_STRING:
            raise FormatError("GGUF string is too long; the file is corrupt")
        self.pos += size
        return read_exact(self.f, size).decode("utf-8", "replace")

    def value(self, kind: int, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY and depth < 4:
            item_kind = int(self.unpack("<I"))
            if item_kind in _SCALARS:
                return self.scalars(item_kind)
            least = 8 if item_kind == _STRING else 12  # a length, or an item type and count
            n = self.count("items", least, values=True)
            return [self.value(item_kind, depth + 1) for _ in range(n)]
        raise FormatError(f"GGUF metadata value type {kind} is unknown")

    def scalars(self, kind: int) -> list[Any]:
        """An array of numbers, read at once."""
        fmt = _SCALARS[kind]
        size = struct.calcsize(fmt)
        n = self.count("items", size, values=True)
        self.pos += n * size
        return list(struct.unpack(f"<{n}{fmt[1]}", read_exact(self.f, n * size)))


def read_header(f: BinaryFile, file_size: int | None = None) -> ModelInfo:
    """Metadata and tensor table of a GGUF file (version 2 or 3)."""
    reader = _Reader(f, file_size)
    if read_exact(f, 4) != MAGIC:
        raise FormatError("not a GGUF file")
    reader.pos = 4
    version = int(reader.unpack("<I"))
    if version not in (2, 3):
        raise FormatError(f"GGUF version {version} is not supported", hint="versions 2 and 3 are")
    n_tensors = reader.count("tensors", 24)  # a name's length, one dimension, type, offset
    n_keys = reader.count("metadata keys", 12, values=True)  # a key's length, a value's type
    metadata: dict[str, Any] = {"GGUF.version": version}
    for _ in range(n_keys):
        key = reader.string()
        metadata[key] = reader.value(int(reader.unpack("<I")))
    entries = [_tensor_entry(reader) for _ in range(n_tensors)]
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise FormatError(f"GGUF general.alignment {str(alignment)[:40]} is not a power of two")
    data_offset = -(-reader.pos // alignment) * alignment
    tensors = [_tensor(e, data_offset, file_size) for e in entries]
    tensors.sort(key=lambda t: t.offset)
    return ModelInfo(FORMAT, tensors, metadata, data_offset)


def _tensor_entry(reader: _Reader) -> tuple[str, tuple[int, ...], int, int]:
    name = reader.string()
    n_dims = int(reader.unpack("<I"))
    if n_dims > 8:
        raise FormatError(f"GGUF tensor {name!r} has {n_dims} dimensions")
    dims = [int(reader.unpack("<Q")) for _ in range(n_dims)]
    kind = int(reader.unpack("<I"))
    offset = int(reader.unpack("<Q"))
    # ggml lists the fastest-varying dimension first; NumPy order is the reverse
    return name, tuple(reversed(dims)), kind, offset


def _tensor(
    entry: tuple[str, tuple[int, ...], int, int], data_offset: int, file_size: int | None
) -> TensorInfo:
    name, shape, kind, offset = entry
    if kind not in GGML_TYPES:
        raise FormatError(f"GGUF tensor {name!r} has unknown type {kind}")
    dtype, block, block_bytes = GGML_TYPES[kind]
    numel = 1
    for d in shape:
        numel *= d
    if numel % block:
        raise FormatError(f"GGUF tensor {name!r}: {numel} elements is not whole {dtype} blocks")
    nbytes = numel // block * block_bytes
    check_extent(name, data_offset + offset, nbytes, file_size)
    return TensorInfo(name, dtype, shape, data_offset + offset, nbytes)
