"""GGUF (llama.cpp): a key/value metadata header, a tensor table, aligned data.

Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (versions 2 and 3).
Quantized tensors are located and compared byte by byte; F32/F16/BF16/F64 and
integer tensors are compared numerically.
"""

from __future__ import annotations

import struct
from typing import Any

from gitmodel.formats.arrays import STRINGS, PackedArray
from gitmodel.formats.base import (
    LIMIT_HINT,
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
# What a header may hold. Real files: a few thousand tensors, a few hundred keys, no
# nested arrays to speak of, and under 1 << 20 strings (the largest vocabularies and
# their merges); numbers in arrays cost their own bytes only, so only the file bounds them.
MAX_TENSORS = 1 << 16
MAX_KEYS = 1 << 16
MAX_ARRAYS = 1 << 16  # arrays in all, nested ones included
MAX_STRINGS = 1 << 21  # strings in all arrays
MAX_DEPTH = 4  # arrays of arrays, this many deep
MAX_STRING = 64 << 20
WINDOW = 1 << 20  # bytes read at a time

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

# metadata value type id -> struct code (scalars); 8 string, 9 array
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
            10: "Q", 11: "q", 12: "d"}  # fmt: skip
_STRING, _ARRAY = 8, 9
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")
_ENTRIES = [struct.Struct(f"<I{n}QIQ") for n in range(9)]  # a tensor's dims, type, offset


def looks_like(head: bytes) -> bool:
    return head[:4] == MAGIC


class _Reader:
    """Reads a GGUF header a window at a time. Every count is checked against the bytes
    left and a budget before anything is allocated for it; arrays are kept packed
    (:class:`PackedArray`), or skipped when only the tensor table is wanted."""

    def __init__(self, f: BinaryFile, file_size: int | None, keep_arrays: bool) -> None:
        self.f, self.file_size, self.keep_arrays = f, file_size, keep_arrays
        self.buf, self.i, self.base = b"", 0, 0  # the window, the next byte, its file offset
        self.arrays, self.strings = MAX_ARRAYS, MAX_STRINGS  # what is left of each budget

    @property
    def pos(self) -> int:
        return self.base + self.i

    def _fill(self, n: int) -> None:
        """Make ``n`` bytes from ``pos`` available in the window."""
        if self.i + n <= len(self.buf):
            return
        rest = self.buf[self.i :]
        self.base += self.i
        self.buf = rest + self.f.read(max(n - len(rest), WINDOW))
        self.i = 0
        if len(self.buf) < n:
            raise Truncated("the file ends inside its header")

    def _seek(self, pos: int) -> None:
        """Go on reading at ``pos`` with an empty window."""
        if self.file_size is not None and pos > self.file_size:
            raise Truncated("the file ends inside its header")
        self.f.seek(pos)
        self.buf, self.i, self.base = b"", 0, pos

    def u32(self) -> int:
        self._fill(4)
        self.i += 4
        return int(_U32.unpack_from(self.buf, self.i - 4)[0])

    def u64(self) -> int:
        self._fill(8)
        self.i += 8
        return int(_U64.unpack_from(self.buf, self.i - 8)[0])

    def scalar(self, code: str) -> Any:
        size = struct.calcsize("<" + code)
        self._fill(size)
        self.i += size
        return struct.unpack_from("<" + code, self.buf, self.i - size)[0]

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes (already checked against the file), read once."""
        if self.i + n <= len(self.buf):
            self.i += n
            return self.buf[self.i - n : self.i]
        start = self.pos
        self.f.seek(start)
        data = read_exact(self.f, n)
        self.buf, self.i, self.base = b"", 0, start + n
        return data

    def count(self, what: str, least_bytes: int, limit: int, budget: int | None = None) -> int:
        """A count of things of ``least_bytes`` or more each: at most ``limit`` (what is
        left of a ``budget`` for the whole header), and no more than the bytes left in
        the file can hold."""
        n = self.u64()
        if n > limit:
            most = f"{limit:,} read" if budget is None else f"{budget:,} read in all"
            raise FormatError(f"GGUF header claims {n:,} {what}, over the {most}",
                              hint=LIMIT_HINT)  # fmt: skip
        left = None if self.file_size is None else self.file_size - self.pos
        if left is not None and n * least_bytes > left:
            raise Truncated(f"GGUF header claims {n:,} {what}, more than the file holds")
        return n

    def string(self) -> str:
        size = self.u64()
        if size > MAX_STRING:
            raise FormatError("GGUF string is too long; the file is corrupt")
        if self.file_size is not None and size > self.file_size - self.pos:
            raise Truncated("GGUF string runs past the end of the file")
        return self.take(size).decode("utf-8", "replace")

    def value(self, kind: int, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind != _ARRAY:
            raise FormatError(f"GGUF metadata value type {kind} is unknown")
        if depth >= MAX_DEPTH:
            raise FormatError(f"GGUF metadata arrays nest over {MAX_DEPTH} deep", hint=LIMIT_HINT)
        self.arrays -= 1
        if self.arrays < 0:
            raise FormatError(f"GGUF header holds over the {MAX_ARRAYS:,} arrays read",
                              hint=LIMIT_HINT)  # fmt: skip
        item_kind = self.u32()
        if item_kind in _SCALARS:
            code = _SCALARS[item_kind]
            size = struct.calcsize("<" + code)
            n = self.count("items", size, 1 << 62)
            return self._packed(code, n, n * size)
        if item_kind == _STRING:
            n = self.count("strings", 8, self.strings, MAX_STRINGS)
            self.strings -= n
            start = self.pos
            self._walk_strings(n)
            return self._packed(STRINGS, n, self.pos - start, start)
        if item_kind == _ARRAY:
            n = self.count("arrays", 12, self.arrays, MAX_ARRAYS)  # an item type, a count
            return [self.value(item_kind, depth + 1) for _ in range(n)]
        raise FormatError(f"GGUF metadata value type {item_kind} is unknown")

    def _packed(self, code: str, n: int, nbytes: int, start: int | None = None) -> Any:
        """The array of ``nbytes`` from ``start`` (else here, then skipped), or None
        when arrays are not kept."""
        if start is None:
            if self.file_size is not None and nbytes > self.file_size - self.pos:
                raise Truncated("GGUF array runs past the end of the file")
            if not self.keep_arrays:
                self._seek(self.pos + nbytes)
                return None
            return PackedArray(code, n, self.take(nbytes))
        if not self.keep_arrays:
            return None
        end = self.pos
        if start >= self.base:  # still in the window
            return PackedArray(code, n, self.buf[start - self.base : self.i])
        self.f.seek(start)
        raw = read_exact(self.f, nbytes)
        self._seek(end)
        return PackedArray(code, n, raw)

    def _walk_strings(self, n: int) -> None:
        """Step over ``n`` strings: a length and its bytes each, read a window at a time."""
        unpack, left, size = _U64.unpack_from, n, 0
        while left:
            self._fill(8)
            buf, i, done = self.buf, self.i, 0
            try:
                for done in range(left):  # noqa: B007 (done counts the strings passed)
                    (size,) = unpack(buf, i)
                    if size > MAX_STRING:
                        raise FormatError("GGUF string is too long; the file is corrupt")
                    i += 8 + size
                done = left
            except struct.error:  # the next length is not in the window
                pass
            left -= done
            if i > len(buf):  # the last string ends past the window
                self._seek(self.base + i)
            else:
                self.i = i
        if self.file_size is not None and self.pos > self.file_size:
            raise Truncated("GGUF strings run past the end of the file")


def read_header(f: BinaryFile, file_size: int | None = None) -> ModelInfo:
    """Metadata and tensor table of a GGUF file (version 2 or 3)."""
    return _read(f, file_size, keep_arrays=True)


def read_layout(f: BinaryFile, file_size: int | None = None) -> ModelInfo:
    """The tensor table alone (array metadata skipped, left as None): what a digest needs."""
    return _read(f, file_size, keep_arrays=False)


def _read(f: BinaryFile, file_size: int | None, keep_arrays: bool) -> ModelInfo:
    reader = _Reader(f, file_size, keep_arrays)
    reader._fill(4)
    if reader.take(4) != MAGIC:
        raise FormatError("not a GGUF file")
    version = reader.u32()
    if version not in (2, 3):
        raise FormatError(f"GGUF version {version} is not supported", hint="versions 2 and 3 are")
    n_tensors = reader.count("tensors", 24, MAX_TENSORS)  # a name's length, one dim, type, offset
    n_keys = reader.count("metadata keys", 13, MAX_KEYS)  # a key's length, a type, a value
    metadata: dict[str, Any] = {"GGUF.version": version}
    for _ in range(n_keys):
        key = reader.string()
        metadata[key] = reader.value(reader.u32())
    entries = [_tensor_entry(reader) for _ in range(n_tensors)]
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise FormatError(f"GGUF general.alignment {str(alignment)[:40]} is not a power of two")
    data_offset = -(-reader.pos // alignment) * alignment
    names: set[str] = set()
    tensors = []
    for entry in entries:
        if entry[0] in names:
            raise FormatError(f"GGUF tensor {entry[0]!r} is named twice")
        names.add(entry[0])
        tensors.append(_tensor(entry, data_offset, file_size))
    tensors.sort(key=lambda t: t.offset)
    return ModelInfo(FORMAT, tensors, metadata, data_offset)


def _tensor_entry(reader: _Reader) -> tuple[str, tuple[int, ...], int, int]:
    name = reader.string()
    reader._fill(4)
    n_dims = int(_U32.unpack_from(reader.buf, reader.i)[0])
    if n_dims > 8:
        raise FormatError(f"GGUF tensor {name!r} has {n_dims} dimensions")
    entry = _ENTRIES[n_dims]
    reader._fill(entry.size)
    fields = entry.unpack_from(reader.buf, reader.i)
    reader.i += entry.size
    # ggml lists the fastest-varying dimension first; NumPy order is the reverse
    return name, tuple(reversed(fields[1:-2])), fields[-2], fields[-1]


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
