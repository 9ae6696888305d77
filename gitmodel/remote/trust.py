"""Which remote packs a push may reuse chunks from: those whose index is proven.

Dedup trusts a pack index: a chunk it lists is not sent again, and the new
manifest points at the pack instead. An index that lies — damaged, written by
a faulty client, or naming a pack that was since deleted — would make the push
succeed while the file it sent can never be read back. So before the first
reuse of a pack, a push reads that pack once (one request, about 16 MiB) and
checks that it holds exactly the chunks its index lists, each opening to its
id; a pack that fails is never reused and its chunks are sent again. A pack
once proven is remembered (``<model dir>/remote-index/<remote>/checked/<pack>``),
as are the packs this clone wrote itself, so each pack is read at most once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from gitmodel import manifest
from gitmodel.errors import GitModelError
from gitmodel.manifest import CHUNK_MAX, STORED_SLACK, PackIndexEntry
from gitmodel.store import codec
from gitmodel.store.chunking import Chunker
from gitmodel.store.local import LocalStore

if TYPE_CHECKING:
    from gitmodel.remote.chunked import RemoteChunks

PACK_LIMIT = (64 << 20) + CHUNK_MAX + STORED_SLACK  # no honest pack is longer
PROVING = 4  # packs read at once (each is held in memory while it is checked)


def index_cache(remote: RemoteChunks, store: LocalStore) -> Path:
    """Where the pack indexes read from ``remote`` are kept (and, under ``checked/``,
    which packs were proven)."""
    return store.root / "remote-index" / remote.cache_dir_name()


class PackTrust:
    """Proves remote packs against their indexes, once each; remembers the verdicts."""

    def __init__(self, remote: RemoteChunks, store: LocalStore, jobs: int) -> None:
        self.remote = remote
        self.indexes = index_cache(remote, store)
        self.checked = self.indexes / "checked"
        self.jobs = max(1, jobs)
        self._verdicts: dict[str, bool] = {}
        self._lock = threading.Lock()

    def vouch(self, pack: str) -> None:
        """Record a pack this push wrote from bytes it chunked itself."""
        self._record(pack, True)

    def trusted(self, packs: Iterable[str]) -> set[str]:
        """The packs among ``packs`` whose chunks may be reused (those not yet proven are
        read and checked against their cached index, a few at a time)."""
        wanted = set(packs)
        with self._lock:
            todo = sorted(p for p in wanted if p not in self._verdicts)
        todo = [p for p in todo if not self._remembered(p)]
        if todo:
            with ThreadPoolExecutor(max_workers=min(self.jobs, PROVING)) as pool:
                verdicts = pool.map(self._prove, todo)
                for pack, ok in zip(todo, verdicts, strict=True):
                    self._record(pack, ok)
        with self._lock:
            return {p for p in wanted if self._verdicts.get(p, False)}

    def _remembered(self, pack: str) -> bool:
        if (self.checked / pack).is_file():
            with self._lock:
                self._verdicts[pack] = True
            return True
        return False

    def _record(self, pack: str, ok: bool) -> None:
        with self._lock:
            self._verdicts[pack] = ok
        if ok:
            self.checked.mkdir(parents=True, exist_ok=True)
            (self.checked / pack).touch()

    def _entries(self, pack: str) -> list[PackIndexEntry]:
        """The pack's index as ``known_chunks`` cached it (it caches only those that parse)."""
        try:
            return manifest.decode_index((self.indexes / pack).read_bytes(), pack)
        except (OSError, manifest.ManifestFormatError):
            return []

    def _prove(self, pack: str) -> bool:
        """Whether the pack's bytes hold every chunk its index lists, each matching its id
        (an index's chunks lie back to back from offset 0; bytes after them are unused)."""
        refs = self._entries(pack)
        length = sum(r.stored for r in refs)
        if not refs or length > PACK_LIMIT:
            return False
        try:
            body = self.remote.read(self.remote.pack_key(pack), 0, length)
        except (FileNotFoundError, GitModelError, OSError):
            return False
        if len(body) != length:
            return False
        chunker = Chunker(self.remote.cipher.id_key)
        view = memoryview(body)
        for ref in refs:
            stored = bytes(view[ref.offset : ref.offset + ref.stored])
            with contextlib.suppress(codec.CodecError):
                raw = self.remote.cipher.open(ref.id, stored, ref.raw, ref.codec)
                if len(raw) == ref.raw and chunker.chunk_id(raw) == ref.id:
                    continue
            return False
        return True
