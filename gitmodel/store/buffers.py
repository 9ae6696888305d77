"""Buffers handed from a reader to the store's writer threads instead of copied.

The filter reads a large file from Git's pipe into a buffer, 1 MiB at a time; the
store hashes and writes each chunk on threads of its own (:mod:`gitmodel.store.sink`).
Copying every chunk into a buffer of the store's cost a tenth of a large ``git add``, so
the store may take the buffer itself: the reader then fills another one, and the
store gives the buffer back once it is written. No I/O and no threads here.
"""

from __future__ import annotations


class BufferPool:
    """The buffer a reader fills next (:attr:`current`) and spare ones of the same size.

    A consumer given a view of :attr:`current` may :meth:`claim` the buffer instead of
    copying the view: from then on the reader fills another buffer, and the consumer
    hands the claimed one back (:meth:`give_back`, from any thread) once it is done.
    Only the reader's thread claims; list appends and pops are atomic in CPython.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.current = bytearray(size)
        self._spare: list[bytearray] = []

    def claim(self, data: object) -> bytearray | None:
        """The buffer under ``data`` if ``data`` is a view of :attr:`current`, now the
        caller's until given back; None for anything else."""
        if not isinstance(data, memoryview) or data.obj is not self.current:
            return None
        claimed = self.current
        self.current = self._spare.pop() if self._spare else bytearray(self.size)
        return claimed

    def give_back(self, buffer: bytearray) -> None:
        self._spare.append(buffer)
