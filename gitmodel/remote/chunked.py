"""The chunked remote format: push new chunks in packs, pull files back from chunks.

A push cuts each object into chunks (``chunking.py``), keeps only the chunks
the remote does not already hold — it learns which it holds from the pack
indexes, cached here once read, since packs never change — and packs the new
ones into write-once packs of about 16 MiB (one request each). A pack's index
is written after the pack, and a file's manifest only after every pack it
uses: a crash leaves at most unreferenced packs, whose chunks the next push
finds in their indexes and does not send again. A push of many files writes their
manifests as batches of up to :data:`BATCH_TARGET` bytes (``batches.py``), each once
every pack its files use is durable, instead of one object per file.

A pull reads the manifest, takes every chunk it can from objects already in
the local store (earlier versions of the file, through their cached chunk
lists) and the rest with ranged reads of the packs, contiguous chunks in one
request. Every chunk is checked against its id as it arrives, the whole file
against its sha256 before it enters the store. Nothing read is larger than
expected: a range is the length the manifest names (a backend that answers with
more is refused), a pack index at most :func:`manifest.max_index_size`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Protocol

from blake3 import blake3

from gitmodel import manifest
from gitmodel.errors import ChecksumError, GitModelError
from gitmodel.manifest import ChunkRef, Manifest, PackIndexEntry
from gitmodel.pointer import Pointer
from gitmodel.progress import Attempt
from gitmodel.remote import helper
from gitmodel.remote.errors import DAMAGED_HINT, RANGES_HINT, ShortRead
from gitmodel.remote.trust import PackTrust, index_cache
from gitmodel.store import codec
from gitmodel.store.chunking import (
    LIST_MIN,
    Chunker,
    ChunkLists,
    Chunks,
    Segmenter,
    object_view,
    small_view,
)
from gitmodel.store.local import LocalStore
from gitmodel.store.pack import PACK_MAX_OBJECT
from gitmodel.store.records import Records
from gitmodel.trace import trace

if TYPE_CHECKING:
    from gitmodel.progress import ByteCount

PACK_TARGET = 16 << 20
PACK_BUFFERS = 2  # packs in memory at once: one being filled, one on its way
RANGE_MAX = 8 << 20  # the most one ranged read asks for
PREFETCH = 2  # ranged reads in flight per file
BATCH_MIN = 32  # a push of fewer files writes each manifest alone
BATCH_TARGET = 2 << 20  # manifest bytes per batch (about 15,000 small files)
BATCH_ENTRY_MAX = 1 << 20  # a larger manifest (a file of tens of GiB) is written alone
SPLIT_MIN = 2048  # small objects from which a second process packs half of them
POLL_EVERY = 256  # files between looks at what the second process reported


class RemoteChunks(Protocol):
    """What a chunked download or upload needs of the remote store (``remote.py``)."""

    display: str
    cipher: codec.Cipher
    local: bool  # a folder of this machine's file system

    def pack_key(self, pack: str) -> str: ...
    def index_key(self, pack: str) -> str: ...
    def manifest_key(self, oid: str) -> str: ...
    def list_indexes(self) -> list[str]: ...
    def write_batch(self, manifests: list[Manifest]) -> str: ...
    def read(self, key: str, start: int | None = None, end: int | None = None,
             exact: bool = True) -> bytes: ...  # fmt: skip
    def write(self, key: str, body: bytes | memoryview) -> None: ...
    def exists(self, key: str) -> bool: ...
    def cache_dir_name(self) -> str: ...


class ChunkedError(GitModelError):
    """The remote's chunked data is missing or cannot be trusted."""

    hint = DAMAGED_HINT


# -- what the remote holds


def known_chunks(remote: RemoteChunks, store: LocalStore, jobs: int) -> dict[bytes, ChunkRef]:
    """Every chunk the remote's pack indexes list: cached indexes from disk, the
    others read once (in parallel) and cached, since a pack index never changes."""
    cache = index_cache(remote, store)
    cache.mkdir(parents=True, exist_ok=True)
    packs = remote.list_indexes()
    cached = {path.name for path in cache.iterdir()}

    def load(pack: str) -> list[PackIndexEntry]:
        path = cache / pack
        if pack in cached:
            with contextlib.suppress(manifest.ManifestFormatError):
                return manifest.decode_index(path.read_bytes(), pack)
        cap = manifest.max_index_size()
        body = remote.read(remote.index_key(pack), 0, cap + 1, exact=False)
        try:
            if len(body) > cap:  # one byte more than any index: never read further
                raise manifest.ManifestFormatError(f"pack index over {cap} bytes")
            entries = manifest.decode_index(body, pack)
        except manifest.ManifestFormatError:
            return []  # not usable for dedup; the pack stays unknown
        path.write_bytes(body)
        return entries

    known: dict[bytes, ChunkRef] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for pack, entries in zip(packs, pool.map(load, packs), strict=True):
            for e in entries:
                known[e.id] = ChunkRef(e.id, pack, e.offset, e.stored, e.raw, e.codec)
    return known


# -- push


@dataclass
class _Pending:
    """A file whose chunks are chosen; its manifest waits for the packs it uses."""

    pointer: Pointer
    refs: list[ChunkRef | _NewRef]
    packs: set[int] = field(default_factory=set)


class _NewRef(NamedTuple):
    """A chunk in a pack this push is still building (numbered, not yet named). A tuple:
    a push of many small files makes one per file, and a frozen dataclass costs more."""

    id: bytes
    seq: int
    offset: int
    stored: int
    raw: int
    codec: int


class _NewChunks:
    """The chunks this push packs, by id, for reuse within it: :class:`Records` of their
    fields, not tuples. A small file's one chunk is not held: no other small file has
    its bytes (it would have its oid, sent once), and a large file's chunk that happens
    to match is sent again rather than cost a push of 100,000 small files 20 MiB."""

    def __init__(self) -> None:
        self._records = Records(len(_NewRef._fields) - 1)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._records

    def get(self, chunk_id: bytes) -> _NewRef | None:
        record = self._records.get(chunk_id)
        return None if record is None else _NewRef(chunk_id, *record)

    def add(self, ref: _NewRef) -> None:
        self._records.put(ref.id, ref[1:])


class _Buffers:
    """Pack buffers, reused: first writes to fresh memory cost more than the copy
    itself on these machines (page faults), so a push allocates a few and recycles them.
    At most ``count`` exist, which bounds a push's memory: :meth:`take` waits for one
    to be given back (each is, once its pack is sent or has failed)."""

    def __init__(self, size: int, count: int) -> None:
        self.size = size
        self._free: list[bytearray] = []
        self._made = 0
        self._count = count
        self._returned = threading.Condition()

    def take(self) -> bytearray:
        with self._returned:
            self._returned.wait_for(lambda: self._free or self._made < self._count)
            if self._free:
                return self._free.pop()
            self._made += 1
        return bytearray(self.size)

    def give(self, buffer: bytearray) -> None:
        with self._returned:
            self._free.append(buffer)
            self._returned.notify()


class ChunkedPush:
    """One push: chunks files in order, packs new chunks, writes manifests last."""

    def __init__(
        self, remote: RemoteChunks, store: LocalStore, segmenter: Segmenter | None, jobs: int,
        on_bytes: ByteCount | None = None, batched: bool = False,
    ) -> None:  # fmt: skip
        self.remote = remote
        self.batched = batched  # manifests go in batches, not one object each
        self._batch: list[tuple[Manifest, Pointer]] = []
        self._batch_bytes = 0
        self.on_bytes = on_bytes  # told of a file's bytes as their chunks become durable
        self.store = store
        self.segmenter = segmenter
        self.lists = ChunkLists(store.root, remote.cipher.key_check)
        self.chunker = Chunker(remote.cipher.id_key)
        self.small_verdicts = codec.SmallFileVerdicts()
        self.jobs = max(1, jobs)
        self.known: dict[bytes, ChunkRef] = {}
        self.trust = PackTrust(remote, store, self.jobs)
        self.new = _NewChunks()
        self.pack_names: dict[int, str] = {}
        self.pack_done: set[int] = set()
        self.pack_failed: dict[int, Exception] = {}
        self._buffers = _Buffers(PACK_TARGET + manifest.CHUNK_MAX + manifest.STORED_SLACK,
                                 PACK_BUFFERS)  # fmt: skip
        self.buffer = self._buffers.take()
        self.used = 0
        self.entries: list[PackIndexEntry] = []
        self.seq = 0
        self.failed: dict[str, Exception] = {}
        self.sent_bytes = 0
        self.checked: dict[str, bool] = {}  # reused packs: still on the remote?
        self.cache = index_cache(remote, store)
        self.pack_threads = blake3.AUTO

    def run(
        self, pointers: Iterable[Pointer], done: Callable[[Pointer], None]
    ) -> dict[str, Exception]:
        """Send ``pointers``; calls ``done`` as each becomes visible; returns the failures.
        Where many are small and the remote is a local folder, a second process packs
        half of the small ones (:mod:`gitmodel.remote.helper`): each is one chunk of
        its own (:meth:`Chunker.whole`), so the two share no chunk."""
        self.known = known_chunks(self.remote, self.store, self.jobs)
        todo = list(pointers)
        share = self._share(todo)
        second = None
        if share:
            second = helper.fork(functools.partial(self._serve, share), share, done,
                                 self.on_bytes)  # fmt: skip
        if second is not None:
            given = {p.oid for p in share}
            todo = [p for p in todo if p.oid not in given]
            trace(f"push: {len(share)} small object(s) packed by process {second.pid}")
        try:
            failed = self._send(todo, done, second)
        except BaseException:
            if second is not None:
                second.stop()  # this push has failed: no use in the rest of it
            raise
        if second is not None:
            failed.update(second.finish())
            self.sent_bytes += second.sent
        return failed

    def _share(self, todo: list[Pointer]) -> list[Pointer]:
        """The small objects a second process may pack: the later half of them, when
        there are :data:`SPLIT_MIN` or more, a second CPU, and a remote that a forked
        process can write (a local folder: no client threads or event loop)."""
        if not self.remote.local or helper.cpus() < 2:
            return []
        small = [p for p in todo if 0 < p.size <= LIST_MIN]
        return small[len(small) // 2 :] if len(small) >= SPLIT_MIN else []

    def _serve(self, share: list[Pointer], report: helper.Report) -> None:
        """The second process's work: send ``share``, saying what became of each."""
        self.on_bytes = report.bytes
        self.pack_threads = 1  # blake3's thread pool, if the parent had one, is not here
        for oid, failure in self._send(share, report.done, None).items():
            report.failed(oid, failure)
        report.sent(self.sent_bytes)

    def _send(self, pointers: list[Pointer], done: Callable[[Pointer], None],
              second: helper.Helper | None) -> dict[str, Exception]:  # fmt: skip
        waiting: list[_Pending] = []
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            self._pool = pool
            self._packs_in_flight: list[Future[None]] = []
            manifests: dict[Future[None], list[Pointer]] = {}
            seen = 0  # packs settled (sent or failed) when ``waiting`` was last scanned
            for n, pointer in enumerate(pointers):
                if second is not None and n % POLL_EVERY == 0:
                    second.poll()  # its progress, as it goes
                try:
                    pending = self._plan(pointer)
                except (GitModelError, OSError) as exc:
                    self.failed[pointer.oid] = exc
                    continue
                # a file waits only for packs still in flight; the others wait on, and are
                # scanned again only once another pack settles (not once a file: O(files²))
                waiting.extend(self._release([pending], manifests))
                settled = len(self.pack_done) + len(self.pack_failed)
                if settled != seen:
                    seen = settled
                    waiting = self._release(waiting, manifests)
            self._seal()
            wait(self._packs_in_flight)
            for seq in self.pack_done:  # so later pushes need not prove them
                self.trust.vouch(self.pack_names[seq])
            self._release(waiting, manifests)
            self._write_batch(manifests)
            for future in list(manifests):
                self._settle(future, manifests[future], done)
        return self.failed

    def _settle(self, future: Future[None], pointers: list[Pointer],
                done: Callable[[Pointer], None]) -> None:  # fmt: skip
        try:
            future.result()
        except (GitModelError, OSError) as exc:
            self.failed.update(dict.fromkeys((p.oid for p in pointers), exc))
        else:
            for pointer in pointers:
                done(pointer)

    def _plan(self, pointer: Pointer) -> _Pending:
        if 0 < pointer.size <= PACK_MAX_OBJECT:  # read and verified before it is used
            pending, chunks, keep = self._place(pointer, small_view(self.store, pointer))
        else:
            with object_view(self.store, pointer) as view:
                pending, chunks, keep = self._place(pointer, view)
        if keep:  # the bytes matched the oid: their list may be kept
            self.lists.put(pointer, chunks)
        return pending

    def _place(self, pointer: Pointer, view: memoryview) -> tuple[_Pending, Chunks, bool]:
        """Cut the file, find which chunks the remote (or this push) holds, and pack the
        others; returns the file, its chunks and whether to keep their list."""
        pending = _Pending(pointer, [])
        chunks, keep = self._chunks(pointer, view)
        whole = pointer.size <= LIST_MIN  # one chunk, the whole file
        self._distrust_unproven(chunks)
        if pointer.size <= LIST_MIN:
            compress = self.small_verdicts.worth(view, chunks, self.known, self.new)
        else:
            compress = codec.worth_compressing(view, chunks, self.known, self.new)
        offset = 0
        held = 0  # bytes of chunks the remote has, or that a pack on its way holds
        for chunk_id, raw in chunks:
            ref = self.known.get(chunk_id) or self.new.get(chunk_id)
            if ref is None:
                ref = self._add(chunk_id, view[offset : offset + raw], compress, whole)
            else:
                held += raw
            if isinstance(ref, _NewRef):
                pending.packs.add(ref.seq)
            pending.refs.append(ref)
            offset += raw
        if held and self.on_bytes is not None:
            self.on_bytes(held)  # the new chunks count once their pack is sent
        return pending, chunks, keep

    def _chunks(self, pointer: Pointer, view: memoryview) -> tuple[Chunks, bool]:
        """The object's chunks, from its cached list or cut, and whether to keep their
        list. A small object is one chunk (:meth:`Chunker.whole`) and keeps no list."""
        if pointer.size <= LIST_MIN:
            return self.chunker.whole(view), False
        cached = self.lists.get(pointer.oid)
        if cached is not None:
            return cached, False
        chunks = self.chunker.cut(view, self._starts(pointer, view))
        return chunks, len(chunks) > 1

    def _distrust_unproven(self, chunks: Chunks) -> None:
        """Forget the chunks of packs that fail their check (``trust.py``), before
        any of ``chunks`` is reused from one: those chunks are sent again."""
        if not self.known:  # a first push: nothing to reuse
            return
        packs = {ref.pack for chunk_id, _ in chunks if (ref := self.known.get(chunk_id))}
        if not packs:
            return
        bad = packs - self.trust.trusted(packs)
        if bad:
            self.known = {i: ref for i, ref in self.known.items() if ref.pack not in bad}

    def _starts(self, pointer: Pointer, view: memoryview) -> list[int]:
        if self.segmenter is None:
            return []
        with self.store.open(pointer.oid) as f:
            return self.segmenter(f)  # type: ignore[arg-type]

    def _add(self, chunk_id: bytes, data: memoryview, compress: bool, whole: bool) -> _NewRef:
        stored, kind = self.remote.cipher.seal(chunk_id, data, compress)
        ref = _NewRef(chunk_id, self.seq, self.used, len(stored), len(data), kind)
        self.buffer[self.used : self.used + ref.stored] = stored
        self.used += ref.stored
        self.entries.append(PackIndexEntry(chunk_id, ref.offset, ref.stored, ref.raw, kind))
        if not whole:
            self.new.add(ref)
        if self.used >= PACK_TARGET or len(self.entries) >= manifest.INDEX_MAX_CHUNKS:
            self._seal()
        return ref

    def _seal(self) -> None:
        """Send the pack being built (and then its index) in the background."""
        if not self.entries:
            return
        body = memoryview(self.buffer)[: self.used]
        self.sent_bytes += self.used
        send = self._pool.submit(self._send_pack, self.seq, self.buffer, body, self.entries)
        self._packs_in_flight.append(send)
        # waits while PACK_BUFFERS - 1 packs are on their way (each held in memory)
        self.buffer, self.used, self.entries, self.seq = self._buffers.take(), 0, [], self.seq + 1

    def _send_pack(self, seq: int, buffer: bytearray, body: memoryview,
                   entries: list[PackIndexEntry]) -> None:  # fmt: skip
        """Name the pack (here, so hashing it overlaps with cutting the next chunks), send
        it, then its index."""
        try:
            pack = blake3(body, max_threads=self.pack_threads).hexdigest()
            self.remote.write(self.remote.pack_key(pack), body)
            index = manifest.encode_index(pack, entries)
            self.remote.write(self.remote.index_key(pack), index)
            with contextlib.suppress(OSError):  # so the next push need not read it back
                self.cache.joinpath(pack).write_bytes(index)
        except Exception as exc:
            self.pack_failed[seq] = exc
            raise
        finally:
            body.release()
            self._buffers.give(buffer)
        self.pack_names[seq] = pack  # read only once the pack is done
        self.pack_done.add(seq)
        if self.on_bytes is not None:
            self.on_bytes(sum(entry.raw for entry in entries))

    def _release(
        self, waiting: list[_Pending], manifests: dict[Future[None], list[Pointer]]
    ) -> list[_Pending]:
        """Start the manifests of files whose packs are all durable; fail those whose
        packs are lost. Returns the files still waiting."""
        still = []
        for pending in waiting:
            lost = [self.pack_failed[s] for s in pending.packs if s in self.pack_failed]
            if lost:
                self.failed[pending.pointer.oid] = lost[0]
            elif pending.packs <= self.pack_done:
                gone = self._vanished(pending)
                if gone:
                    self.failed[pending.pointer.oid] = ChunkedError(
                        f"{self.remote.display}: pack {gone[:16]}… vanished during the push "
                        "(a gc ran?); push again"
                    )
                    continue
                self._write_manifest(pending, manifests)
            else:
                still.append(pending)
        return still

    def _write_manifest(
        self, pending: _Pending, manifests: dict[Future[None], list[Pointer]]
    ) -> None:
        """Start writing a file's manifest: alone, or into the batch being gathered
        (sent once it is large enough, or at the end of the push)."""
        found = self._manifest(pending)
        length = manifest.encoded_length(found)
        if self.batched and length <= BATCH_ENTRY_MAX:
            self._batch.append((found, pending.pointer))
            self._batch_bytes += length
            full = len(self._batch) >= manifest.BATCH_MAX_ENTRIES
            if full or self._batch_bytes >= BATCH_TARGET:
                self._write_batch(manifests)
            return
        key = self.remote.manifest_key(pending.pointer.oid)
        body = manifest.encode_manifest(found)
        manifests[self._pool.submit(self.remote.write, key, body)] = [pending.pointer]

    def _write_batch(self, manifests: dict[Future[None], list[Pointer]]) -> None:
        if not self._batch:
            return
        found = [m for m, _ in self._batch]
        manifests[self._pool.submit(self._send_batch, found)] = [p for _, p in self._batch]
        self._batch, self._batch_bytes = [], 0

    def _send_batch(self, found: list[Manifest]) -> None:
        self.remote.write_batch(found)

    def _vanished(self, pending: _Pending) -> str | None:
        """A pack of an earlier push that this file reuses and that is gone (checked
        once a push), so no manifest ever names a deleted pack; None if all are there."""
        for pack in {r.pack for r in pending.refs if isinstance(r, ChunkRef)}:
            if pack not in self.checked:
                self.checked[pack] = self.remote.exists(self.remote.pack_key(pack))
                if not self.checked[pack]:
                    self.cache.joinpath(pack).unlink(missing_ok=True)
            if not self.checked[pack]:
                return pack
        return None

    def _manifest(self, pending: _Pending) -> Manifest:
        refs = [
            ChunkRef(r.id, self.pack_names[r.seq], r.offset, r.stored, r.raw, r.codec)
            if isinstance(r, _NewRef)
            else r
            for r in pending.refs
        ]
        return Manifest(pending.pointer.oid, pending.pointer.size, refs)


# -- pull


class LocalChunks:
    """Chunks that objects in the local store already hold: id → (oid, offset, length).
    Shared by the downloads of one fetch; each adds the file it completes."""

    def __init__(self, store: LocalStore, key_check: str = "") -> None:
        self.store = store
        self.lists = ChunkLists(store.root, key_check)
        self._where: dict[bytes, tuple[str, int]] = {}
        self._lock = threading.Lock()
        self._loaded = False

    def find(self, chunk_id: bytes) -> tuple[str, int] | None:
        with self._lock:
            if not self._loaded:
                for oid in self.lists.oids():
                    chunks = self.lists.get(oid)
                    if chunks is not None and self.store.has(oid, recheck_packs=False):
                        self._add(oid, chunks)
                self._loaded = True
            return self._where.get(chunk_id)

    def learn(self, pointer: Pointer, chunks: Chunks) -> None:
        self.lists.put(pointer, chunks)
        with self._lock:
            self._add(pointer.oid, chunks)

    def _add(self, oid: str, chunks: Chunks) -> None:
        offset = 0
        for chunk_id, raw in chunks:
            self._where.setdefault(chunk_id, (oid, offset))
            offset += raw


def download(remote: RemoteChunks, store: LocalStore, pointer: Pointer, found: Manifest,
             local: LocalChunks, on_bytes: ByteCount | None = None) -> int:  # fmt: skip
    """Rebuild ``pointer``'s file into the store; returns the bytes read from the remote.
    ``on_bytes`` is told of each chunk as it is written (from the remote or a local object)."""
    chunker = Chunker(remote.cipher.id_key)
    fetched = 0
    count = Attempt(on_bytes)
    with count, store.writer() as writer, _LocalReader(store) as reader:
        for ref, data in _remote_pieces(remote, found, local):
            piece: bytes | memoryview | None = data
            if data is None:  # taken from a local object, checked against its id
                piece = reader.read(local, ref, chunker)
                if piece is None:
                    fetched += ref.stored
                    piece = _fetch_one(remote, ref, found.oid)
            else:
                fetched += ref.stored
            assert piece is not None
            writer.write(piece)
            count(len(piece))
        try:
            writer.commit(pointer)
        except ChecksumError as exc:
            error = ChecksumError(f"remote object {pointer.oid} from {remote.display}",
                                  exc.expected, exc.actual)  # fmt: skip
            error.hint = DAMAGED_HINT
            raise error from None
    local.learn(pointer, [(ref.id, ref.raw) for ref in found.chunks])
    return fetched


def verify(remote: RemoteChunks, pointer: Pointer, found: Manifest) -> None:
    """Read every chunk of ``pointer`` from the remote and check it; raises on a fault."""
    digest = hashlib.sha256()
    for _ref, data in _remote_pieces(remote, found, None):
        assert data is not None
        digest.update(data)
    if digest.hexdigest() != pointer.oid:
        raise ChecksumError(f"remote object {pointer.oid}", pointer.oid, digest.hexdigest())


def _remote_pieces(
    remote: RemoteChunks, found: Manifest, local: LocalChunks | None
) -> Iterator[tuple[ChunkRef, bytes | memoryview | None]]:
    """The file's chunks in order: (ref, raw bytes read from the remote and checked), or
    (ref, None) for a chunk a local object holds. Ranged reads run ahead in threads."""
    chunker = Chunker(remote.cipher.id_key)
    if len(found.chunks) < 2:
        local = None  # a small file: not worth loading every local chunk list for
    plan: list[tuple[ChunkRef, bool]] = [
        (ref, local is not None and local.find(ref.id) is not None) for ref in found.chunks
    ]
    ranges = _ranges([ref for ref, is_local in plan if not is_local])
    with ThreadPoolExecutor(max_workers=PREFETCH) as pool:
        futures = _ahead(pool, ranges, lambda r: _read_range(remote, r, found.oid))
        current: Pieces = {}
        for ref, is_local in plan:
            if is_local:
                yield ref, None
                continue
            if id(ref) not in current:
                current = next(futures).result()
            yield ref, open_chunk(remote, chunker, ref, current.pop(id(ref)), found.oid)


def fetch_chunks(remote: RemoteChunks, refs: list[ChunkRef], oid: str) -> list[bytes | memoryview]:
    """The raw bytes of ``refs`` (chunks of object ``oid`` lying back to back in one pack),
    read with one ranged read, each checked against its id (``ranges.py`` reads parts of
    objects with it)."""
    chunker = Chunker(remote.cipher.id_key)
    pieces = _read_range(remote, refs, oid)
    return [open_chunk(remote, chunker, ref, pieces[id(ref)], oid) for ref in refs]


def contiguous(refs: list[ChunkRef]) -> list[list[ChunkRef]]:
    """Consecutive chunks that lie back to back in one pack, up to RANGE_MAX a read."""
    return _ranges(refs)


def _ranges(refs: list[ChunkRef]) -> list[list[ChunkRef]]:
    """Consecutive chunks that lie back to back in one pack, up to RANGE_MAX a read."""
    ranges: list[list[ChunkRef]] = []
    for ref in refs:
        last = ranges[-1][-1] if ranges else None
        if (last is not None and last.pack == ref.pack and last.offset + last.stored == ref.offset
                and ref.offset + ref.stored - ranges[-1][0].offset <= RANGE_MAX):  # fmt: skip
            ranges[-1].append(ref)
        else:
            ranges.append([ref])
    return ranges


Pieces = dict[int, memoryview]  # id(ref) → stored bytes of the chunks of one ranged read


def _ahead(
    pool: ThreadPoolExecutor, items: list[list[ChunkRef]], work: Callable[[list[ChunkRef]], Pieces]
) -> Iterator[Future[Pieces]]:
    queue: list[Future[Pieces]] = []
    for item in items:
        queue.append(pool.submit(work, item))
        if len(queue) > PREFETCH:
            yield queue.pop(0)
    yield from queue


def _read_range(remote: RemoteChunks, refs: list[ChunkRef], oid: str) -> Pieces:
    start, end = refs[0].offset, refs[-1].offset + refs[-1].stored
    try:
        body = _read_pack(remote, refs[0].pack, start, end, oid)
    except FileNotFoundError:
        raise ChunkedError(f"{remote.display}: object {oid} names pack "
                           f"{refs[0].pack[:16]}…, which is missing") from None  # fmt: skip
    if len(body) != end - start:  # more than asked: never sliced as if it were the range
        error = ChunkedError(f"{remote.display}: object {oid}: {len(body)} bytes came back "
                             f"for {end - start} of pack {refs[0].pack[:16]}…")  # fmt: skip
        error.hint = RANGES_HINT
        raise error
    view = memoryview(body)  # slices of it are kept, not copied: fresh memory is costly
    return {id(r): view[r.offset - start : r.offset - start + r.stored] for r in refs}


def _fetch_one(remote: RemoteChunks, ref: ChunkRef, oid: str) -> bytes | memoryview:
    chunker = Chunker(remote.cipher.id_key)
    return open_chunk(remote, chunker, ref, _read_range(remote, [ref], oid)[id(ref)], oid)


def open_chunk(
    remote: RemoteChunks, chunker: Chunker | None, ref: ChunkRef, stored: memoryview, oid: str
) -> bytes | memoryview:
    """A chunk's bytes as the remote stored them, opened (decrypted, decompressed) and
    checked against its id; without ``chunker``, only its length is checked: the caller
    checks the whole object's sha256, which covers its chunks, before using it."""
    try:
        raw = remote.cipher.open(ref.id, stored, ref.raw, ref.codec)
    except codec.CodecError as exc:
        raise ChunkedError(f"{remote.display}: object {oid}: a chunk {exc}") from None
    if len(raw) != ref.raw or (chunker is not None and chunker.chunk_id(raw) != ref.id):
        raise ChunkedError(f"{remote.display}: object {oid}: chunk {ref.id.hex()[:16]}… "
                           "does not match its id (the remote's copy is damaged)")  # fmt: skip
    return raw


class _LocalReader:
    """Reads chunks from local objects, keeping their files open for the download."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.files: dict[str, BinaryIO] = {}

    def __enter__(self) -> _LocalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self.files.values():
            f.close()

    def read(self, local: LocalChunks, ref: ChunkRef, chunker: Chunker) -> bytes | None:
        """The chunk from a local object, or None when it is gone or does not match."""
        where = local.find(ref.id)
        if where is None:
            return None
        oid, offset = where
        try:
            f = self.files.get(oid) or self.files.setdefault(oid, self.store.open(oid))  # type: ignore[arg-type]
            f.seek(offset)
            data = f.read(ref.raw)
        except OSError:
            return None
        return data if len(data) == ref.raw and chunker.chunk_id(data) == ref.id else None


def _read_pack(remote: RemoteChunks, pack: str, start: int, end: int, oid: str) -> bytes:
    """Bytes ``start:end`` of a pack. A range that keeps arriving short (the pack ends
    before it) is a fault of the remote's copy, named with the object being read; any
    other failure that outlasts the retries (the network) is raised as it is."""
    try:
        return remote.read(remote.pack_key(pack), start, end)
    except GitModelError as exc:
        if not _ended_early(exc):
            raise
        raise ChunkedError(f"object {oid}: reading pack {pack[:16]}…: {exc}") from None


def _ended_early(exc: BaseException) -> bool:
    """Whether a failed read gave up because its bytes kept arriving short."""
    return isinstance(exc.__cause__, ShortRead)
