"""Ranged reads of objects on a model remote: bytes ``start:end`` of one object, moving
only what covers them.

A chunked object's manifest lists its chunks in order; the chunks that overlap the range
are taken from, in turn, the chunk cache (chunks read before, by any repository), objects
of a local store that hold them (through their chunk lists), and only then the remote,
with ranged reads of the packs (back-to-back chunks in one request, a few requests at
once). Every chunk is checked against its id wherever it comes from; those read from the
remote are kept in the cache. An object stored whole (layout 1) cannot be checked in
parts, so it is downloaded once, verified against its sha256, into a local store, and
read from there. Nothing read is longer than the object: the range is cut to its size,
and the manifest, checked to add up to that size, says what to ask for.

The cache (``<cache root>/chunks/ab/<chunk id>``, keyed ids under ``chunks/<key check>/``;
manifests under ``manifests/<remote>/ab/<oid>``) holds only derived, checked data: any of
it may be deleted at any time.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gitmodel import manifest
from gitmodel.manifest import ChunkRef, Manifest
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.remote import chunked, layouts
from gitmodel.remote.layouts import Remote
from gitmodel.remote.store import RemoteStore
from gitmodel.store.chunking import Chunker
from gitmodel.store.local import LocalStore, write_atomically

FETCHES = 4  # ranged reads in flight for one read


@dataclass(frozen=True)
class _Layout:
    """A chunked object's manifest, with where each chunk starts in the file."""

    found: Manifest
    starts: list[int]

    @classmethod
    def of(cls, found: Manifest) -> _Layout:
        starts, offset = [], 0
        for ref in found.chunks:
            starts.append(offset)
            offset += ref.raw
        return cls(found, starts)

    def covering(self, start: int, end: int) -> range:
        """The indexes of the chunks that hold bytes ``start:end`` (non-empty, in range)."""
        first = bisect.bisect_right(self.starts, start) - 1
        last = bisect.bisect_left(self.starts, end)
        return range(first, last)


class ChunkCache:
    """Raw chunks read from remotes, one file each, checked against their id on reading."""

    def __init__(self, root: Path, chunker: Chunker) -> None:
        self.root = root
        self._chunker = chunker

    def _path(self, chunk_id: bytes) -> Path:
        name = chunk_id.hex()
        return self.root / name[:2] / name

    def get(self, ref: ChunkRef) -> bytes | None:
        try:
            data = self._path(ref.id).read_bytes()
        except OSError:
            return None
        if len(data) == ref.raw and self._chunker.chunk_id(data) == ref.id:
            return data
        with contextlib.suppress(OSError):  # damaged: read it from the remote again
            self._path(ref.id).unlink()
        return None

    def put(self, ref: ChunkRef, data: bytes | memoryview) -> None:
        path = self._path(ref.id)
        with contextlib.suppress(OSError):  # a cache: a full disk only costs a re-read
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, [data], 0o444)


class ObjectReader:
    """Reads parts of the objects of one remote (safe to share between threads)."""

    def __init__(self, remote: Remote, cache_root: Path, store: LocalStore | None = None) -> None:
        self.remote = remote
        self.store = store
        key_check, key, name = "", None, "lfs"
        if isinstance(remote, RemoteStore):
            key_check, key = remote.cipher.key_check, remote.cipher.id_key
            name = remote.cache_dir_name()
        self.chunker = Chunker(key)
        chunks_root = cache_root / "chunks" / key_check if key_check else cache_root / "chunks"
        self.cache = ChunkCache(chunks_root, self.chunker)
        self.manifests = cache_root / "manifests" / name
        if isinstance(remote, RemoteStore) and remote.batches.cache is None:
            remote.batches.cache_in(cache_root / "batches" / name)
        self.whole = LocalStore(cache_root / "objects")  # objects stored whole (layout 1)
        self._local = chunked.LocalChunks(store, key_check) if store is not None else None
        self._layouts: dict[str, _Layout | None] = {}
        self._lock = threading.Lock()

    def read(self, pointer: Pointer, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of ``pointer``'s object (cut to its size), each checked."""
        start, end = max(0, start), min(end, pointer.size)
        if start >= end:
            return b""
        for store in (self.store, self.whole):
            if store is not None and store.has(pointer.oid, recheck_packs=False):
                return _read_local(store, pointer, start, end)
        layout = self._layout(pointer) if isinstance(self.remote, RemoteStore) else None
        if layout is None:  # stored whole (layout 1, an LFS host): checked as a whole
            layouts.download(self.remote, self.whole, pointer)
            return _read_local(self.whole, pointer, start, end)
        return self._read_chunks(layout, start, end)

    def _layout(self, pointer: Pointer) -> _Layout | None:
        """The object's manifest (None when it is stored whole), read once."""
        assert isinstance(self.remote, RemoteStore)
        with self._lock:
            if pointer.oid in self._layouts:
                return self._layouts[pointer.oid]
        found = self._cached_manifest(pointer)
        if found is None:
            found = layouts.stored_as(self.remote, pointer)
            if found is not None:
                self._keep_manifest(found)
        layout = _Layout.of(found) if found is not None else None
        with self._lock:
            self._layouts[pointer.oid] = layout
        return layout

    def _manifest_path(self, oid: str) -> Path:
        if not is_valid_oid(oid):
            raise ValueError(f"invalid oid {oid[:80]!r}")
        return self.manifests / oid[:2] / oid

    def _cached_manifest(self, pointer: Pointer) -> Manifest | None:
        try:
            body = self._manifest_path(pointer.oid).read_bytes()
            return manifest.decode_manifest(body, pointer.oid, pointer.size)
        except (OSError, manifest.ManifestFormatError):
            return None

    def _keep_manifest(self, found: Manifest) -> None:
        path = self._manifest_path(found.oid)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, [manifest.encode_manifest(found)], 0o444)

    def _read_chunks(self, layout: _Layout, start: int, end: int) -> bytes:
        wanted = layout.covering(start, end)
        refs = [layout.found.chunks[i] for i in wanted]
        held: dict[int, bytes | memoryview] = {}
        remote: list[ChunkRef] = []
        for ref in refs:
            data = self.cache.get(ref) or self._from_local(ref)
            if data is None:
                remote.append(ref)
            else:
                held[id(ref)] = data
        held.update(self._fetch(remote, layout.found.oid))
        body = b"".join(held[id(ref)] for ref in refs)
        offset = start - layout.starts[wanted.start]
        return body[offset : offset + end - start]

    def _from_local(self, ref: ChunkRef) -> bytes | None:
        """The chunk from an object of the local store that holds it, checked; or None."""
        if self._local is None or self.store is None:
            return None
        where = self._local.find(ref.id)
        if where is None:
            return None
        oid, offset = where
        try:
            with self.store.open(oid) as f:
                f.seek(offset)
                data = f.read(ref.raw)
        except OSError:
            return None
        if data is not None and len(data) == ref.raw and self.chunker.chunk_id(data) == ref.id:
            return bytes(data)
        return None

    def _fetch(self, refs: list[ChunkRef], oid: str) -> dict[int, bytes | memoryview]:
        """``refs`` read from the remote's packs (contiguous ones in one request), checked,
        and kept in the cache."""
        if not refs:
            return {}
        groups = chunked.contiguous(refs)

        remote = self.remote
        assert isinstance(remote, RemoteStore)

        def fetch(group: list[ChunkRef]) -> list[bytes | memoryview]:
            pieces = chunked.fetch_chunks(remote, group, oid)
            for ref, data in zip(group, pieces, strict=True):
                self.cache.put(ref, data)
            return pieces

        out: dict[int, bytes | memoryview] = {}
        with ThreadPoolExecutor(max_workers=min(FETCHES, len(groups))) as pool:
            for group, pieces in zip(groups, pool.map(fetch, groups), strict=True):
                out.update((id(ref), data) for ref, data in zip(group, pieces, strict=True))
        return out


def _read_local(store: LocalStore, pointer: Pointer, start: int, end: int) -> bytes:
    """Bytes ``start:end`` of an object of a local store (trusted: checked when stored)."""
    store.check_size(pointer)
    out = bytearray()
    with store.open(pointer.oid) as f:
        f.seek(start)
        while len(out) < end - start and (data := f.read(end - start - len(out))):
            out += data
    return bytes(out)
