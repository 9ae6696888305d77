"""Many small chunked objects fetched together: a few large ranged reads, not one per file.

A clone of a data set asks for thousands of small files. Their manifests come from the
remote's batches (or are read in parallel from a layout-2 remote, one each), and their
chunks, which a push packed side by side, are read with ranged reads that span the
chunks of many files at once: neighbouring chunks in one pack are one request, up to
:data:`chunked.RANGE_MAX` bytes, even when a gap of up to :data:`GAP` bytes of chunks
no file here needs lies between them. Files are fetched in windows of about
:data:`WINDOW` stored bytes, in the order their chunks lie in the packs; the next
window is read while the last is written, so at most two are held in memory, and the
manifests of at most two groups of :data:`GROUP` files.

Each file is checked against its sha256 as it enters the store, which covers its
chunks: their ids are not computed again (their lengths are checked, and an encrypted
chunk is authenticated as it is opened). This is a fast path and nothing more: an
object it cannot fetch (its manifest or a read fails, a chunk is damaged) is left out,
and the per-object download that follows reports it as it always does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitmodel.errors import GitModelError
from gitmodel.manifest import ChunkRef, Manifest
from gitmodel.pointer import Pointer
from gitmodel.remote.chunked import RANGE_MAX, open_chunk
from gitmodel.remote.store import RemoteStore
from gitmodel.store.local import LocalStore

if TYPE_CHECKING:
    from collections.abc import Callable

    Stored = Callable[[Pointer], None]  # called with each object as it enters the store

SMALL_MAX = 1 << 20  # objects up to this size are fetched in bulk
WINDOW = RANGE_MAX  # stored bytes of the files fetched together (two are in memory)
GROUP = 8192  # files whose manifests are decoded at a time
FIRST_GROUP = 512  # the first time
GAP = 64 << 10  # bytes of unneeded chunks read through rather than asked for apart
STORE_BATCH = 4 << 20  # bytes of fetched objects written to the store in one go

Item = tuple[Pointer, Manifest]
Data = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Span:
    """Bytes ``start:end`` of one pack: one ranged read."""

    pack: str
    start: int
    end: int


def plan_reads(refs: Iterable[ChunkRef]) -> list[Span]:
    """The ranged reads that cover ``refs``: chunks of a pack at most :data:`GAP` bytes
    apart share a read, up to :data:`RANGE_MAX` bytes each."""
    spans: list[Span] = []
    for pack, start, end in sorted({(r.pack, r.offset, r.offset + r.stored) for r in refs}):
        last = spans[-1] if spans else None
        if (last is not None and last.pack == pack and start - last.end <= GAP
                and max(end, last.end) - last.start <= RANGE_MAX):  # fmt: skip
            spans[-1] = Span(pack, last.start, max(end, last.end))
        else:
            spans.append(Span(pack, start, end))
    return spans


def prefetch(remote: RemoteStore, store: LocalStore, pointers: Iterable[Pointer], jobs: int,
             on_stored: Stored | None = None) -> int:  # fmt: skip
    """Fetch the small objects among ``pointers``, which the store lacks (both callers
    ask :meth:`LocalStore.lacking` first), in bulk; returns the bytes read from the
    remote. Objects it could not fetch are simply not in the store; ``on_stored`` is told
    of each that is, as it is (a checkout can use it at once)."""
    wanted = list({p.oid: p for p in pointers if 0 < p.size <= SMALL_MAX}.values())
    if len(wanted) < 2:
        return 0
    fetched = 0
    windows = _windows(remote, wanted, jobs)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        window = next(windows, None)
        reads = _start(pool, remote, window) if window is not None else {}
        while window is not None:
            following = next(windows, None)  # read while this one is written
            ahead = _start(pool, remote, following) if following is not None else {}
            fetched += _write(remote, store, window, reads, on_stored)
            if _remote_failed(reads):  # the per-object downloads say how; no more waiting
                for future in ahead.values():
                    future.cancel()
                break
            window, reads = following, ahead
    return fetched


def _windows(remote: RemoteStore, pointers: list[Pointer], jobs: int) -> Iterator[list[Item]]:
    """The files to fetch together, about :data:`WINDOW` stored bytes at a time, in the
    order their chunks lie in the packs. Manifests are decoded :data:`GROUP` files at a
    time, as the windows are asked for, so memory does not grow with the data set (Git
    lists a checkout's files in path order, the order a push packed them, so a group
    covers neighbouring chunks much as the whole would). The first group is of
    :data:`FIRST_GROUP` files, so that the first objects land soon: a checkout waits for
    them (decoding 8,192 manifests took a tenth of a second)."""
    start, size = 0, FIRST_GROUP
    while start < len(pointers):
        items = _manifests(remote, pointers[start : start + size], jobs)
        start, size = start + size, GROUP
        items.sort(key=lambda item: (item[1].chunks[0].pack, item[1].chunks[0].offset))
        window: list[Item] = []
        held = 0
        for item in items:
            stored = sum(ref.stored for ref in item[1].chunks)
            if window and held + stored > WINDOW:  # no more than one ranged read holds
                yield window
                window, held = [], 0
            window.append(item)
            held += stored
        if window:
            yield window


def _manifests(remote: RemoteStore, pointers: list[Pointer], jobs: int) -> list[Item]:
    """The chunked manifests of ``pointers``: from the batches, when the remote has
    them (in memory: a thread each would cost more), the others read in parallel; those
    that fail are left out."""
    found: list[tuple[Pointer, Manifest | None]] = []
    apart = []
    for pointer in pointers:
        try:
            batched = remote.batched_manifest(pointer)
        except (GitModelError, OSError):
            continue
        if batched is None:
            apart.append(pointer)
        else:
            found.append((pointer, batched))

    def read(pointer: Pointer) -> Manifest | None:
        try:
            return remote.read_manifest(pointer)
        except (GitModelError, OSError):
            return None

    if apart:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            found.extend(zip(apart, pool.map(read, apart), strict=True))
    return [(p, m) for p, m in found if m is not None and m.chunks]


Reads = dict[Span, Future[bytes]]


def _start(pool: ThreadPoolExecutor, remote: RemoteStore, window: list[Item]) -> Reads:
    spans = plan_reads(ref for _, found in window for ref in found.chunks)
    return {span: pool.submit(_read, remote, span) for span in spans}


def _read(remote: RemoteStore, span: Span) -> bytes:
    body = remote.read(remote.pack_key(span.pack), span.start, span.end)
    if len(body) != span.end - span.start:  # more than asked: never sliced as the range
        raise GitModelError(f"{remote.display}: {len(body)} bytes came back for "
                            f"{span.end - span.start} of pack {span.pack[:16]}…")  # fmt: skip
    return body


def _write(remote: RemoteStore, store: LocalStore, window: list[Item], reads: Reads,
           on_stored: Stored | None) -> int:  # fmt: skip
    """Write the window's files into the store from its reads; returns the bytes read."""
    by_pack: dict[str, list[Span]] = {}
    for span in reads:
        by_pack.setdefault(span.pack, []).append(span)
    ready: list[tuple[Pointer, Data]] = []  # stored together: one write for them all
    held = 0
    for pointer, found in window:
        try:
            pieces = []
            for ref in found.chunks:
                span = _covering(by_pack.get(ref.pack, []), ref)
                body = memoryview(reads[span].result())
                stored = body[ref.offset - span.start : ref.offset - span.start + ref.stored]
                pieces.append(open_chunk(remote, None, ref, stored, found.oid))
        except (GitModelError, OSError, LookupError):
            continue  # left for the per-object download, which says what is wrong
        ready.append((pointer, pieces[0] if len(pieces) == 1 else b"".join(pieces)))
        held += pointer.size
        if held >= STORE_BATCH:
            _store(store, ready, on_stored)
            ready, held = [], 0
    _store(store, ready, on_stored)
    return sum(span.end - span.start for span, read in reads.items() if _succeeded(read))


def _store(store: LocalStore, ready: list[tuple[Pointer, Data]], on_stored: Stored | None) -> None:
    """Put fetched objects in the store (each hashed there; one whose bytes are not its
    oid's is left out, for the per-object download to report)."""
    with contextlib.suppress(OSError):  # the per-object downloads say what is wrong
        for pointer in store.add_small(ready):
            if on_stored is not None:
                on_stored(pointer)


def _covering(spans: list[Span], ref: ChunkRef) -> Span:
    for span in spans:
        if span.start <= ref.offset and ref.offset + ref.stored <= span.end:
            return span
    raise LookupError(ref.pack)


def _remote_failed(reads: Reads) -> bool:
    """Whether a read failed for a reason other than its pack being gone."""
    return any(
        read.done() and not isinstance(read.exception(), (type(None), FileNotFoundError))
        for read in reads.values()
    )


def _succeeded(read: Future[bytes]) -> bool:
    return read.done() and read.exception() is None
