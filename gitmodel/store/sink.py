"""Large objects' bytes moved on threads of their own: hashed and written while the
next chunk is read (:class:`Sink`), or copied by the kernel while they are hashed
(:class:`Copier`). Loaded only for objects too large for a pack, so that the filter
process starts without ``threading`` and ``queue``."""

from __future__ import annotations

import os
import queue
import threading
from functools import partial

from gitmodel.store.pack import write_all

TYPE_CHECKING = False  # typing's flag without loading typing
if TYPE_CHECKING:
    import hashlib
    from collections.abc import Callable
    from typing import TypeGuard

    from gitmodel.store.buffers import BufferPool

FALLBACK_READ_SIZE = 1 << 20  # when the kernel cannot copy between these files
COPY_CHUNK_SIZE = 64 << 20
SINK_BUFFERS = 4
SINK_BUFFER_SIZE = 1 << 20


# bytes to hash and write, and what to do with their buffer once written (None: nothing)
_Piece = tuple[bytes | memoryview, "Callable[[], None] | None"]


def _immutable(data: bytes | bytearray | memoryview) -> TypeGuard[bytes | memoryview]:
    """Whether ``data`` can be kept without a copy: bytes, or a read-only view of bytes."""
    if isinstance(data, memoryview):
        return data.readonly and isinstance(data.obj, bytes)
    return isinstance(data, bytes)


class Sink:
    """Hashes and writes an object's bytes in order on two threads of its own, so
    reading the next chunk from Git, hashing one and writing the one before all
    overlap (sha256 and write(2) release the GIL; each takes about as long as the
    other). A chunk in the buffer ``pool`` is filling is taken with its buffer, given
    back once written; other bytes the caller may reuse are copied into a few recycled
    buffers (fresh memory costs more than the copy). At most :data:`SINK_BUFFERS`
    chunks wait per stage."""

    def __init__(self, fd: int, digest: hashlib._Hash, pool: BufferPool | None = None) -> None:
        self._fd, self._digest, self._pool = fd, digest, pool
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._allocated = 0
        self._to_hash: queue.Queue[_Piece | None] = queue.Queue(maxsize=SINK_BUFFERS)
        self._to_write: queue.Queue[_Piece | None] = queue.Queue(maxsize=SINK_BUFFERS)
        self._threads = [
            threading.Thread(target=self._hash_all, daemon=True),
            threading.Thread(target=self._write_all, daemon=True),
        ]
        self.error: BaseException | None = None

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def put(self, data: bytes | bytearray | memoryview) -> None:
        if self.error is not None:
            raise self.error
        if _immutable(data):
            self._to_hash.put((data, None))
            return
        if self._pool is not None and (claimed := self._pool.claim(data)) is not None:
            self._to_hash.put((memoryview(data), partial(self._pool.give_back, claimed)))
            return
        view = memoryview(data)
        while view:
            buffer = self._buffer()
            n = min(len(view), len(buffer))
            buffer[:n] = view[:n]
            self._to_hash.put((memoryview(buffer)[:n], partial(self._free.put, buffer)))
            view = view[n:]

    def _buffer(self) -> bytearray:
        if self._allocated < SINK_BUFFERS and self._free.empty():
            self._allocated += 1
            return bytearray(SINK_BUFFER_SIZE)
        return self._free.get()  # waits while every buffer is in flight

    def _hash_all(self) -> None:
        while (piece := self._to_hash.get()) is not None:
            if self.error is None:
                try:
                    self._digest.update(piece[0])
                except BaseException as exc:  # raised to the caller by put() or finish()
                    self.error = exc
            self._to_write.put(piece)
        self._to_write.put(None)

    def _write_all(self) -> None:
        while (piece := self._to_write.get()) is not None:
            data, release = piece
            if self.error is None:
                try:
                    write_all(self._fd, data)
                except BaseException as exc:  # raised to the caller by put() or finish()
                    self.error = exc
            if release is not None:
                release()

    def finish(self) -> None:
        """Wait until every chunk is hashed and written; raise what went wrong."""
        self.stop()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self._threads[0].is_alive():
            self._to_hash.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join()


class Copier(threading.Thread):
    """Copies a whole file in the kernel, falling back to read/write."""

    def __init__(self, src_fd: int, dst_fd: int, size: int) -> None:
        super().__init__(daemon=True)
        self.src_fd, self.dst_fd, self.size = src_fd, dst_fd, size
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            copy_fd(self.src_fd, self.dst_fd, self.size)
        except BaseException as exc:  # handed to the joining thread
            self.error = exc


def copy_fd(
    src_fd: int, dst_fd: int, size: int, on_bytes: Callable[[int], None] | None = None
) -> None:
    """Copy ``src_fd`` to ``dst_fd`` from their starts (``size`` bytes expected, any
    more too); ``on_bytes`` is told of each block copied while the kernel can copy."""
    offset = 0
    try:
        while offset < size:
            n = os.copy_file_range(
                src_fd, dst_fd, min(COPY_CHUNK_SIZE, size - offset), offset, offset
            )
            if n == 0:
                break
            offset += n
            if on_bytes is not None:
                on_bytes(n)
        # copy anything beyond the expected size too, so the hash check sees it
        while n := os.copy_file_range(src_fd, dst_fd, COPY_CHUNK_SIZE, offset, offset):
            offset += n
    except OSError:
        os.lseek(dst_fd, 0, os.SEEK_SET)
        os.ftruncate(dst_fd, 0)
        os.lseek(src_fd, 0, os.SEEK_SET)
        while chunk := os.read(src_fd, FALLBACK_READ_SIZE):
            os.write(dst_fd, chunk)
