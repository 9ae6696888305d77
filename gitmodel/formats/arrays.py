"""Metadata arrays held as their file packs them, so that a vocabulary of a million
tokens costs its own bytes in memory, not a million Python objects.

A :class:`PackedArray` reads as a sequence of the values a list would hold (the same
Python values), decoded a chunk at a time when iterated, compared or shown.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Iterator
from typing import Any

CHUNK = 4096  # items decoded at a time
STRINGS = "s"  # the code of a string array: each item its u64 length, then UTF-8 bytes
_LENGTH = struct.Struct("<Q")


class PackedArray:
    """``count`` items of one kind in ``raw``: numbers as the little-endian struct
    format ``code`` (a single letter, as ``"f"``), or strings (:data:`STRINGS`)."""

    __slots__ = ("code", "count", "raw")

    def __init__(self, code: str, count: int, raw: bytes) -> None:
        self.code, self.count, self.raw = code, count, raw

    def __len__(self) -> int:
        return self.count

    def chunks(self, size: int = CHUNK) -> Iterator[list[Any]]:
        """The items in lists of ``size`` (the last may be shorter)."""
        bounds = self.bounds(size)
        for start, at in zip(range(0, self.count, size), bounds, strict=False):
            yield self._decode(at, min(size, self.count - start))

    def bounds(self, size: int = CHUNK) -> list[int]:
        """Where each chunk of ``size`` items starts in ``raw``, and where the last ends."""
        if self.code != STRINGS:
            step = struct.calcsize("<" + self.code)
            return [i * step for i in range(0, self.count, size)] + [self.count * step]
        raw, at, unpack, bounds = self.raw, 0, _LENGTH.unpack_from, [0]
        for start in range(0, self.count, size):
            for _ in range(min(size, self.count - start)):
                at += unpack(raw, at)[0] + 8
            bounds.append(at)
        return bounds

    def _decode(self, at: int, n: int) -> list[Any]:
        """``n`` items from byte ``at`` of ``raw``."""
        if self.code != STRINGS:
            return list(struct.unpack_from(f"<{n}{self.code}", self.raw, at))
        raw, unpack, items = self.raw, _LENGTH.unpack_from, []
        for _ in range(n):
            (size,) = unpack(raw, at)
            items.append(raw[at + 8 : at + 8 + size].decode("utf-8", "replace"))
            at += 8 + size
        return items

    def __iter__(self) -> Iterator[Any]:
        for chunk in self.chunks():
            yield from chunk

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.count)
            return list(itertools.islice(self, start, max(start, stop), step))
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError("array index out of range")
        if self.code != STRINGS:
            return self._decode(index * struct.calcsize("<" + self.code), 1)[0]
        at, unpack = 0, _LENGTH.unpack_from
        for _ in range(index):  # step over the lengths, decoding nothing
            at += unpack(self.raw, at)[0] + 8
        return self._decode(at, 1)[0]

    def __eq__(self, other: object) -> bool:
        """The same values, NaN equal to NaN (as a diff compares metadata)."""
        if isinstance(other, list):
            return self.count == len(other) and list(self) == other
        if not isinstance(other, PackedArray):
            return NotImplemented
        if self.count != other.count:
            return False
        if self.code == other.code and self.raw == other.raw:
            return True
        return differences(self, other)[0] == 0

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


def is_array(value: object) -> bool:
    return isinstance(value, (list, PackedArray))


def same_item(old: Any, new: Any) -> bool:
    """Equal values, NaN equal to NaN."""
    if isinstance(old, PackedArray) or isinstance(new, PackedArray):
        return bool(old == new)
    if _holds_packed(old, new):
        return all(same_item(a, b) for a, b in zip(old, new, strict=True))
    return old == new or (type(old) is type(new) and repr(old) == repr(new))


def _holds_packed(old: Any, new: Any) -> bool:
    """Two lists of one length (arrays of arrays), either holding a packed array."""
    if not (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)):
        return False
    return any(isinstance(v, PackedArray) for v in itertools.chain(old, new))


def differences(old: Any, new: Any) -> tuple[int, int]:
    """How many items of two arrays differ (as if the shorter were padded) and the
    first of them (-1: none), a chunk at a time."""
    count, first = 0, -1
    empty: list[Any] = []
    pairs = itertools.zip_longest(_chunks(old, new), _chunks(new, old), fillvalue=empty)
    for chunk, (a, b) in enumerate(pairs):
        at = chunk * CHUNK
        if a != b:
            for i, (x, y) in enumerate(itertools.zip_longest(a, b, fillvalue=_MISSING)):
                if x is _MISSING or y is _MISSING or not same_item(x, y):
                    count += 1
                    first = at + i if first < 0 else first
    return count, first


_MISSING = object()


def _chunks(value: Any, other: Any = None) -> Iterator[list[Any]]:
    """An array's items in lists of :data:`CHUNK`, so two arrays' chunks line up; a
    chunk whose bytes are those of ``other``'s chunk (both packed alike) comes as an
    empty list, decoded by neither."""
    if not isinstance(value, PackedArray):
        return (value[i : i + CHUNK] for i in range(0, len(value), CHUNK))
    if not (isinstance(other, PackedArray) and other.code == value.code):
        return value.chunks()
    return _unlike_chunks(value, other)


def _unlike_chunks(value: PackedArray, other: PackedArray) -> Iterator[list[Any]]:
    mine, theirs = value.bounds(), other.bounds()
    for i, start in enumerate(range(0, value.count, CHUNK)):
        n = min(CHUNK, value.count - start)
        if i + 1 < len(theirs) and min(CHUNK, other.count - start) == n:
            a, b = value.raw[mine[i] : mine[i + 1]], other.raw[theirs[i] : theirs[i + 1]]
            if a == b:
                yield []
                continue
        yield value._decode(mine[i], n)


def json_text(value: Any, plain: Any) -> Iterator[str]:
    """The canonical JSON of an array (as ``json.dumps(plain(value), ensure_ascii=False,
    separators=(",", ":"))`` writes it), in pieces."""
    yield "["
    comma = ""
    for chunk in _chunks(value):
        if chunk:
            text = json.dumps([plain(v) for v in chunk], ensure_ascii=False, separators=(",", ":"))
            yield comma + text[1:-1]
            comma = ","
    yield "]"
