"""Content-defined chunking of stored objects, and the cache of their chunk lists.

FastCDC (``pyfastcdc``, compiled) cuts at about 64 KiB on average, never under
8 KiB nor over 128 KiB, as Xet does: an edit moves only the cuts near it, so
the chunks of the rest of the file are the same as before. A *segmenter* may
add cuts of its own: for model files, the end of the header and every tensor
start, so an unchanged tensor maps to the same chunks even when a tensor added
before it shifts every offset. An object of :data:`LIST_MIN` or less is one
chunk, uncut: at that size an edit saves little, and a data set of many small
files paid a tenth of its push for the cutting. A chunk's id is its blake3
(keyed when the remote is encrypted, so dedup works only within one key):
cryptographic, because dedup trusts it, and twice as fast as sha256 here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mmap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from blake3 import blake3
from pyfastcdc import FastCDC

from gitmodel import manifest
from gitmodel.errors import ChecksumError, GitModelError
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.store.local import DAMAGED_HINT, LocalStore, write_atomically
from gitmodel.store.pack import PACK_MAX_OBJECT

CHUNK_MIN = 8 << 10
CHUNK_AVERAGE = 64 << 10
CHUNK_MAX = 128 << 10
LIST_MIN = 64 << 10  # objects up to this size are one chunk and keep no chunk list

Chunks = list[tuple[bytes, int]]  # (chunk id, raw length) in file order
Segmenter = Callable[[BinaryIO], list[int]]  # offsets that must start a chunk


class Chunker:
    """Cuts byte strings into chunks and names them; one per thread."""

    def __init__(self, key: bytes | None = None) -> None:
        # pyfastcdc's average excludes the minimum it skips first
        self._cdc = FastCDC(CHUNK_AVERAGE - CHUNK_MIN, min_size=CHUNK_MIN, max_size=CHUNK_MAX)
        self._key = key

    def chunk_id(self, data: bytes | memoryview) -> bytes:
        if self._key is None:
            return blake3(data).digest()
        return blake3(data, key=self._key).digest()

    def whole(self, view: memoryview) -> Chunks:
        """A small object (up to :data:`LIST_MIN`) as one chunk: cutting it would save
        little on an edit and costs a push of many small files a tenth of its time."""
        return [(self.chunk_id(view), len(view))] if len(view) else []

    def cut(self, view: memoryview, starts: list[int]) -> Chunks:
        """Chunks of ``view``, with a cut at every offset in ``starts`` (kept only when
        at least :data:`CHUNK_MIN` after the previous one, so tiny tensors share a chunk)."""
        chunks: Chunks = []
        for begin, end in _segments(len(view), starts):
            for chunk in self._cdc.cut_buf(view[begin:end]):
                chunks.append((self.chunk_id(chunk.data), chunk.length))
        return chunks


def _segments(size: int, starts: list[int]) -> Iterator[tuple[int, int]]:
    begin = 0
    for start in sorted(starts):
        if start - begin >= CHUNK_MIN and size - start > 0:
            yield begin, start
            begin = start
    if size > begin:
        yield begin, size


@contextlib.contextmanager
def object_view(store: LocalStore, pointer: Pointer) -> Iterator[memoryview]:
    """The stored bytes of ``pointer`` as one read-only view, verified. A small object
    is read and checked before it is handed out; a large one is mapped, not read, and
    hashed by a second thread while the caller works, :class:`ChecksumError` raised on
    leaving if its bytes are not the object's."""
    if pointer.size == 0:
        yield memoryview(b"")
        return
    if pointer.size <= PACK_MAX_OBJECT:
        yield small_view(store, pointer)
        return
    store.check_size(pointer)  # a wrong size is the pointer's fault, not the object's
    data: bytes | bytearray | mmap.mmap
    with store.open(pointer.oid) as src:
        if isinstance(src, io.FileIO):
            data = mmap.mmap(src.fileno(), 0, access=mmap.ACCESS_READ)
        else:  # a packed object: one read of its size, not readall()'s 8 KiB steps
            data = _read_exactly(src, pointer.size)
    size = len(data)
    view = memoryview(data).toreadonly()
    digest = _Digest(view)
    try:
        yield view
    finally:
        actual = digest.result()
        view.release()
        if isinstance(data, mmap.mmap):
            # leaving on an error (Ctrl-C), the caller's slices of the view may still
            # live in the frames being unwound: the mapping then goes with the last of
            # them, and the error, not close()'s BufferError, is what is raised
            with contextlib.suppress(BufferError):
                data.close()
    if actual != pointer.oid or size != pointer.size:
        store.quarantine(pointer.oid)
        raise ChecksumError(f"local object {pointer.oid}", pointer.oid, actual, DAMAGED_HINT)


def small_view(store: LocalStore, pointer: Pointer) -> memoryview:
    """A small object, read whole and verified before it is handed out: a packed one by
    the xxh3 its writer stored with the bytes it had just hashed (as a checkout checks
    it), a loose one by its sha256 (``LocalStore.read_into``)."""
    data = store.packs.read_checked(pointer.oid, pointer.size)
    if data is not None:
        return memoryview(data)
    buffer = bytearray(pointer.size)
    store.read_into(pointer, [memoryview(buffer)])
    return memoryview(buffer).toreadonly()


def _read_exactly(src: io.RawIOBase, size: int) -> bytes | bytearray:
    """Up to ``size`` bytes of ``src`` (fewer only where it ends first)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size and (n := src.readinto(view[got:])):
        got += n
    view.release()
    return buffer if got == size else bytes(buffer[:got])


class _Digest(threading.Thread):
    """sha256 of a view on a thread of its own (hashlib releases the GIL)."""

    def __init__(self, view: memoryview) -> None:
        super().__init__(daemon=True)
        self._view = view
        self._hex = ""
        self.start()

    def run(self) -> None:
        self._hex = hashlib.sha256(self._view).hexdigest()

    def result(self) -> str:
        self.join()
        return self._hex


class ChunkLists:
    """Cached chunk lists of stored objects, ``<model dir>/chunks/ab/<oid>``: derived
    from the objects (safe to delete), used to take chunks from local objects. Ids
    keyed for an encrypted remote are kept apart, under ``chunks/<key check>/``."""

    def __init__(self, model_dir: Path, key_check: str = "") -> None:
        self.root = model_dir / "chunks"
        if key_check:
            self.root /= key_check

    def path(self, oid: str) -> Path:
        if not is_valid_oid(oid):
            raise ValueError(f"invalid oid {oid[:80]!r}")
        return self.root / oid[:2] / oid

    def get(self, oid: str) -> Chunks | None:
        try:
            return manifest.decode_chunk_list(self.path(oid).read_bytes(), oid)
        except (OSError, manifest.ManifestFormatError):
            return None

    def put(self, pointer: Pointer, chunks: Chunks) -> None:
        """Keep the list of an object over :data:`LIST_MIN` of two chunks or more. A
        smaller one is one chunk (:meth:`Chunker.whole`), and a one-chunk object is its
        own chunk, which dedup by oid already finds."""
        if len(chunks) < 2 or pointer.size <= LIST_MIN:
            return
        path = self.path(pointer.oid)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = manifest.encode_chunk_list(pointer.oid, pointer.size, chunks)
        write_atomically(path, [body], 0o444)

    def of(self, store: LocalStore, oid: str) -> Chunks | None:
        """The chunks of a stored object: its list, or a small object's one chunk, as a
        push makes it. None when neither is here. Only for lists of unkeyed chunk ids."""
        found = self.get(oid)
        if found is not None:
            return found
        try:
            size = store.size(oid)
            if size > LIST_MIN:
                return None
            view = small_view(store, Pointer(oid, size))
        except (OSError, ValueError, GitModelError):
            return None
        return Chunker().whole(view)

    def oids(self) -> Iterator[str]:
        for path in self.root.glob("??/*"):
            if is_valid_oid(path.name):
                yield path.name
