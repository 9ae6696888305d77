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
        if self.code != STRINGS:
            step = struct.calcsize("<" + self.code)
            for start in range(0, self.count, size):
                n = min(size, self.count - start)
                yield list(struct.unpack_from(f"<{n}{self.code}", self.raw, start * step))
            return
        raw, at, unpack = self.raw, 0, _LENGTH.unpack_from
        for start in range(0, self.count, size):
            items = []
            for _ in range(min(size, self.count - start)):
                (n,) = unpack(raw, at)
                items.append(raw[at + 8 : at + 8 + n].decode("utf-8", "replace"))
                at += 8 + n
            yield items

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
        return next(itertools.islice(self, index, None))

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
    count, first, at = 0, -1, 0
    empty: list[Any] = []
    for a, b in itertools.zip_longest(_chunks(old), _chunks(new), fillvalue=empty):
        if a != b:
            for i, (x, y) in enumerate(itertools.zip_longest(a, b, fillvalue=_MISSING)):
                if x is _MISSING or y is _MISSING or not same_item(x, y):
                    count += 1
                    first = at + i if first < 0 else first
        at += max(len(a), len(b))
    return count, first


_MISSING = object()


def _chunks(value: Any) -> Iterator[list[Any]]:
    """An array's items in lists of :data:`CHUNK`, so two arrays' chunks line up."""
    if isinstance(value, PackedArray):
        return value.chunks()
    return (value[i : i + CHUNK] for i in range(0, len(value), CHUNK))


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
