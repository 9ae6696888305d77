"""Many small fixed records held compactly (:class:`Records`), for indexes of one entry
per object or chunk, which a data set of 100,000 files makes 100,000 of."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence


class Records:
    """Records of ``width`` unsigned 64-bit ints by a bytes key: a dict from the key to
    a slot, and each field in an array of its own. About 150 bytes a record, where a
    tuple or a slotted object and its ints cost twice that. A key put again gets a new
    slot; slots that no key names any more stay unused."""

    def __init__(self, width: int) -> None:
        self._slots: dict[bytes, int] = {}
        self._columns = [array("Q") for _ in range(width)]

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def get(self, key: bytes) -> tuple[int, ...] | None:
        slot = self._slots.get(key)
        return None if slot is None else self._record(slot)

    def put(self, key: bytes, values: Sequence[int]) -> None:
        self._slots[key] = len(self._columns[0])
        for column, value in zip(self._columns, values, strict=True):
            column.append(value)

    def items(self) -> Iterator[tuple[bytes, tuple[int, ...]]]:
        """Every key and its record (of a snapshot: puts meanwhile are not seen)."""
        for key, slot in list(self._slots.items()):
            yield key, self._record(slot)

    def field(self, number: int) -> dict[bytes, int]:
        """Field ``number`` of every record, by key."""
        column = self._columns[number]
        return {key: column[slot] for key, slot in self._slots.items()}

    def keep(self, wanted: Callable[[tuple[int, ...]], bool]) -> None:
        """Drop the keys whose record is not ``wanted``."""
        self._slots = {k: s for k, s in self._slots.items() if wanted(self._record(s))}

    def _record(self, slot: int) -> tuple[int, ...]:
        return tuple([column[slot] for column in self._columns])
