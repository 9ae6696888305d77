"""Large objects' bytes moved on threads of their own: hashed and written while the
next chunk is read (:class:`Sink`), copied by the kernel while they are hashed
(:class:`Copier`), or copied ahead from the file they likely come from and hashed
as the copy grows (:class:`Intake`). Loaded only for objects too large for a pack,
so that the filter process starts without ``threading`` and ``queue``."""

from __future__ import annotations

import os
import queue
import threading
from functools import partial

from gitmodel.store.pack import write_all

TYPE_CHECKING = False  # typing's flag without loading typing
if TYPE_CHECKING:
    import hashlib
    import mmap
    from collections.abc import Callable
    from typing import TypeGuard

    from gitmodel.store.buffers import BufferPool

FALLBACK_READ_SIZE = 1 << 20  # when the kernel cannot copy between these files
COPY_CHUNK_SIZE = 64 << 20
SINK_BUFFERS = 4
SINK_BUFFER_SIZE = 1 << 20
INTAKE_STEP = 16 << 20  # copied, then hashed, at a time
INTAKE_WINDOW = 16 << 20  # of the copy mapped at a time to compare what arrives (counts in RSS)


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


class Intake:
    """A copy of the file ``src_fd``'s first ``size`` bytes into ``dst_fd``, made ahead
    of the bytes it should turn out to hold: the kernel copies on one thread (a reflink
    where the file system can: no bytes move at all), and another thread hashes the
    copy, through a mapping, as it grows. The caller holds what really arrives against
    the copy (:meth:`matches`); once all did, the object is the copy, whose hash is
    done or nearly so. The digest is of the copy's own bytes, so whatever happens to
    the source file meanwhile, the copy never holds what its hash does not say.

    For ``git add`` of a file already on disk this replaces two copies (Git's pipe into
    a buffer, the buffer into the file) by one in the kernel and a comparison, and the
    hash no longer waits for Git. Nothing here is trusted: a failure, or a source that
    ends early, only makes :meth:`matches` (or :meth:`holds`) say no, and the caller
    goes on the ordinary way."""

    def __init__(self, src_fd: int, dst_fd: int, size: int, digest: hashlib._Hash) -> None:
        self._src, self._dst, self._size, self.digest = src_fd, dst_fd, size, digest
        self._changed = threading.Condition()
        self._copied = self._hashed = 0  # bytes of the copy written, and hashed
        self._copying = True
        self._stopping = False
        self.reflinked = False
        self.error: BaseException | None = None
        self._window: mmap.mmap | None = None  # of the copy, for matches()
        self._window_at = 0
        self._threads = [
            threading.Thread(target=self._copy, daemon=True),
            threading.Thread(target=self._hash, daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _copy(self) -> None:
        try:
            from gitmodel.store.onecopy import reflink

            if reflink(self._src, self._dst):
                self.reflinked = True
                self._advance(min(os.fstat(self._dst).st_size, self._size))
                return
            offset = 0
            kernel = True
            while offset < self._size and not self._stopping:
                want = min(INTAKE_STEP, self._size - offset)
                n = -1
                if kernel:
                    try:
                        n = os.copy_file_range(self._src, self._dst, want, offset, offset)
                    except OSError:
                        if offset:
                            raise
                        kernel = False  # not between these file systems
                if not kernel:
                    n = _copy_range(self._src, self._dst, want, offset)
                if n == 0:
                    break  # the file is shorter now
                offset += n
                self._advance(offset)
        except BaseException as exc:  # the caller goes on without the copy
            self.error = exc
        finally:
            with self._changed:
                self._copying = False
                self._changed.notify_all()

    def _advance(self, copied: int) -> None:
        with self._changed:
            self._copied = copied
            self._changed.notify_all()

    def _hash(self) -> None:
        import mmap

        try:
            while True:
                with self._changed:
                    while self._hashed == self._copied and self._copying and not self._stopping:
                        self._changed.wait()
                    start, end = self._hashed, min(self._copied, self._hashed + INTAKE_STEP)
                    if self._stopping or start == end:
                        return
                base = start - start % mmap.ALLOCATIONGRANULARITY
                mapped = mmap.mmap(self._dst, end - base, flags=mmap.MAP_SHARED,
                                   prot=mmap.PROT_READ, offset=base)  # fmt: skip
                try:
                    with memoryview(mapped) as view:
                        self.digest.update(view[start - base :])
                finally:
                    mapped.close()
                with self._changed:
                    self._hashed = end
                    self._changed.notify_all()
        except BaseException as exc:  # the caller goes on without the copy
            self.error = exc
            self._stop_copying()

    def _stop_copying(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def matches(self, offset: int, data: bytes | bytearray | memoryview) -> bool:
        """Whether the copy holds ``data`` at ``offset`` (waiting for the copy to get
        there); False at the first difference, or when the copy cannot get there."""
        end = offset + len(data)
        with self._changed:
            while self._copied < end and self._copying and not self._stopping:
                self._changed.wait()
            if self._copied < end or self.error is not None:
                return False
            copied = self._copied
        window = self._window
        if window is None or offset < self._window_at or end > self._window_at + len(window):
            window = self._map(offset, end, copied)
        start = offset - self._window_at
        # find() in a span of the data's own length: a compare at memcmp's speed
        # (== on memoryviews compares element by element, 200 times slower)
        return window.find(data, start, start + len(data)) == start

    def _map(self, offset: int, end: int, copied: int) -> mmap.mmap:
        """Map the copy from ``offset`` (rounded down to a page) to at least ``end``,
        and up to :data:`INTAKE_WINDOW` or all ``copied``, for :meth:`matches`."""
        import mmap

        self._unmap()
        base = offset - offset % mmap.ALLOCATIONGRANULARITY
        length = max(end, min(copied, base + INTAKE_WINDOW)) - base
        self._window = mmap.mmap(self._dst, length, flags=mmap.MAP_SHARED,
                                 prot=mmap.PROT_READ, offset=base)  # fmt: skip
        self._window_at = base
        return self._window

    def _unmap(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None

    def holds(self, size: int) -> bool:
        """Whether the copy and its hash are exactly the ``size`` bytes the caller has
        seen match: waits for them when that is the whole file, else stops them at once
        (Git sent less than the file holds). The threads are done either way."""
        self._unmap()
        if size != self._size:
            self._stop_copying()
        for thread in self._threads:
            thread.join()
        return self.error is None and self._copied == self._hashed == size

    def stop(self) -> None:
        """Stop copying and hashing now (the digest is then of an unknown prefix)."""
        self._unmap()
        self._stop_copying()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()


def _copy_range(src_fd: int, dst_fd: int, size: int, offset: int) -> int:
    """Copy ``size`` bytes at ``offset`` with read and write, where the kernel cannot
    copy between these files; the number copied (less at the source's end)."""
    buffer = bytearray(min(size, FALLBACK_READ_SIZE))
    view = memoryview(buffer)
    done = 0
    while done < size:
        n = os.preadv(src_fd, [view[: size - done]], offset + done)
        if n == 0:
            break
        write_all_at(dst_fd, view[:n], offset + done)
        done += n
    return done


def write_all_at(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
