"""What a remote's manifest batches hold: oid → the batch and place of its manifest.

A push of many files writes their manifests as a few batches (``batches/<id>``, the
format in ``manifest.py``) instead of one object each, after every pack they name is
durable, so a batch is what makes its files exist. A batch is write-once and named by
the blake3 of its bytes: it is read whole (at most :data:`manifest.BATCH_MAX_SIZE`),
checked against its name, and kept in a local cache (beside the pack indexes) that is
re-checked the same way when read. Knowing every file of a remote then costs one
listing of ``batches/`` and one read per batch not seen before. A batch in the cache is
not held in memory: it is read back from there when asked for, and the last
:data:`RECENT` read back stay held (a clone asks for files in the order a push wrote
them, batch after batch), so a clone of 100,000 files holds a few of its 20-odd
batches, not 35 MiB of them. The batches a remote lists are bounded (:data:`HELD_MAX`
bytes, about three million files' manifests): a remote that lists more is refused.
What each file costs beyond its batch's bytes is 16 bytes in two sorted arrays: the
first 8 bytes of its oid and where it is, found by bisection and confirmed against the
batch's table (a dict of raw oids took 140 bytes a file); its entry is rebuilt from
that table when asked for, so a clone of 100,000 files holds under 2 MiB for them.
"""

from __future__ import annotations

import bisect
import heapq
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from blake3 import blake3

from gitmodel import manifest
from gitmodel.manifest import BatchEntry, Manifest
from gitmodel.remote.errors import RemoteError

HELD_MAX = 512 << 20
RECENT = 4  # batches read back from the cache that stay held, the last used ones


class BatchRemote(Protocol):
    """What the catalog needs of the remote store."""

    def list_batches(self) -> list[str]: ...
    def read_batch(self, batch: str) -> bytes: ...


def batch_id(body: bytes) -> str:
    return blake3(body).hexdigest()


LISTINGS = 3  # listings a refresh makes when batches vanish between listing and reading


class BatchCatalog:
    """The batches of one remote, loaded on first use; thread-safe."""

    def __init__(self, remote: BatchRemote, jobs: int = 8) -> None:
        self.remote = remote
        self.jobs = jobs
        self.cache: Path | None = None
        self._bodies: dict[str, bytes | None] = {}  # batch id → its bytes (None: cached only)
        self._recent: OrderedDict[str, bytes] = OrderedDict()  # cached ones read back
        self._lengths: dict[str, int] = {}  # batch id → its size, held or not
        self._names: list[str] = []  # batch number → id ("" once dropped)
        self._offsets: list[array[int]] = []  # batch number → where each manifest starts
        # every file the batches hold, by the first 8 bytes of its oid: those as ints and
        # its _slot(batch number, entry index), sorted by both (16 bytes a file)
        self._prefixes: array[int] = array("Q")
        self._slots: array[int] = array("Q")
        self._loaded = False
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()

    def cache_in(self, folder: Path) -> None:
        """Keep batches read from now on (and find earlier ones) under ``folder``."""
        self.cache = folder

    def refresh(self) -> None:
        """Learn the batches written since the last listing (one caller at a time: the
        others wait for what it learns rather than list and read again)."""
        with self._refreshing:
            self._refresh()

    def _refresh(self) -> None:
        names = self.remote.list_batches()
        for _ in range(LISTINGS):
            with self._lock:
                new = [name for name in names if name not in self._bodies]
                for name in set(self._bodies) - set(names):
                    self._drop(name)  # deleted by a gc: its survivors are in another batch
            read = self._load_all(new)  # each added as it arrives: a few held at a time
            with self._lock:
                self._loaded = True
            if all(read):
                return
            # a batch listed but not read: deleted meanwhile by a gc, which wrote the
            # batch holding its files first, so a new listing shows that one
            again = self.remote.list_batches()
            if again == names:
                return  # damaged, not deleted: its files are not there
            names = again

    def _check_held(self, more: int) -> None:
        if sum(self._lengths.values()) + more > HELD_MAX:
            raise RemoteError(
                f"the remote's manifest batches hold over {HELD_MAX >> 20} MiB",
                hint="a remote this large is not supported yet; `git model gc --remote` "
                "removes what no ref names",
            )

    def _load_all(self, names: list[str]) -> list[bool]:
        if len(names) < 2:
            return [self._load(name) for name in names]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            return list(pool.map(self._load, names))

    def _load(self, name: str) -> bool:
        """Add a batch, from the cache or the remote, checked against its name; False
        for one that fails the check (its files are not there)."""
        with self._lock:
            self._check_held(0)
        body = self._cached(name)
        cached = body is not None
        if body is None:
            body = self.remote.read_batch(name)
            if batch_id(body) != name or not _sound(body):
                return False
            cached = self._keep(name, body)
        with self._lock:
            self._check_held(len(body))
            self._add(name, body, hold=not cached)
            if cached:
                self._remember(name, body)
        return True

    def _cached(self, name: str) -> bytes | None:
        if self.cache is None:
            return None
        try:
            body = (self.cache / name).read_bytes()
        except OSError:
            return None
        return body if batch_id(body) == name else None

    def _keep(self, name: str, body: bytes) -> bool:
        """Put ``body`` in the cache; whether it is there now."""
        if self.cache is None:
            return False
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            tmp = self.cache / f".{name}.{os.getpid()}-{threading.get_ident()}"
            tmp.write_bytes(body)
            os.replace(tmp, self.cache / name)
        except OSError:
            return False
        return True

    def learn(self, name: str, body: bytes) -> None:
        """A batch this process wrote: known without reading it back. Once in the cache,
        only its name is held until a lookup asks where its files are; its bytes are then
        read back from the cache (a push of many files writes batch after batch and
        looks up none of them)."""
        cached = self._keep(name, body)
        with self._lock:
            self._add(name, body, hold=not cached)

    def _add(self, name: str, body: bytes, hold: bool = True) -> None:
        if name in self._bodies:
            return
        try:
            manifest.check_batch(body)
        except manifest.ManifestFormatError:
            return
        self._bodies[name] = body if hold else None
        self._lengths[name] = len(body)
        self._names.append(name)

    def _remember(self, name: str, body: bytes) -> None:
        """Hold a cached batch as one of the :data:`RECENT` last used."""
        self._recent[name] = body
        self._recent.move_to_end(name)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    def _index_new(self) -> None:
        """Learn where the files of the batches added since the last lookup are. Deferred
        to the first lookup, so a push that writes batch after batch, and never asks
        where a file is, holds no entry for any of them."""
        first = len(self._offsets)
        if first == len(self._names):
            return
        runs = []
        for number in range(first, len(self._names)):
            offsets, run = _walk(number, self._body(self._names[number]))
            self._offsets.append(offsets)
            runs.append(run)
        self._merge(runs)

    def _merge(self, runs: list[Iterator[tuple[int, int]]]) -> None:
        """Add ``runs`` of (oid prefix, slot), each in ascending order, to the index."""
        prefixes, slots = array("Q"), array("Q")
        for prefix, slot in heapq.merge(zip(self._prefixes, self._slots, strict=True), *runs):
            prefixes.append(prefix)
            slots.append(slot)
        self._prefixes, self._slots = prefixes, slots

    def _drop(self, name: str) -> None:
        self._index_new()
        self._bodies.pop(name, None)
        self._recent.pop(name, None)
        self._lengths.pop(name, None)
        runs = []
        for number, held in enumerate(self._names):  # an oid another batch holds too
            if held == name:
                self._names[number] = ""
                self._offsets[number] = array("L")
            elif held:
                runs.append(_walk(number, self._body(held))[1])
        self._prefixes, self._slots = array("Q"), array("Q")
        self._merge(runs)
        if self.cache is not None:
            (self.cache / name).unlink(missing_ok=True)

    def _lookup(self, oid: str) -> tuple[str, BatchEntry] | None:
        """``oid``'s batch and entry: among the entries whose oid starts with the same 8
        bytes (one, unless someone made sha256 prefixes collide, or a file is in two
        batches), the entry that is ``oid``'s and can still be read in the batch first
        by name, so that every process picks the same one whatever order it loaded the
        batches in."""
        prefix = _prefix(bytes.fromhex(oid))
        start = end = bisect.bisect_left(self._prefixes, prefix)
        while end < len(self._prefixes) and self._prefixes[end] == prefix:
            end += 1
        by_name = sorted(self._slots[start:end], key=lambda slot: self._names[_number(slot)])
        for slot in by_name:
            found = self._entry(slot)
            if found is not None and found[1].oid == oid:
                return found
        return None

    def _entry(self, slot: int) -> tuple[str, BatchEntry] | None:
        """The batch and entry at ``slot``; None when the batch can no longer be read."""
        number, index = divmod(slot, manifest.BATCH_MAX_ENTRIES)
        name = self._names[number]
        body = self._body(name)
        if not body:
            return None
        return name, manifest.batch_entry(body, index, self._offsets[number][index])

    def _body(self, name: str) -> bytes:
        """Batch ``name``'s bytes: held, or read back (from the cache, else the remote)
        and then held as one of the :data:`RECENT`; b"" when that fails."""
        body = self._bodies.get(name, b"")
        if body is not None:
            return body
        recent = self._recent.get(name)
        if recent is not None:
            self._recent.move_to_end(name)
            return recent
        body = self._cached(name) or self.remote.read_batch(name)
        if batch_id(body) != name or not _sound(body):
            return b""
        self._remember(name, body)
        return body

    def _ensure(self) -> None:
        with self._refreshing:
            if not self._loaded:
                self._refresh()

    def find(self, oid: str) -> tuple[str, BatchEntry] | None:
        """The batch holding ``oid``'s manifest and where in it, or None."""
        self._ensure()
        with self._lock:
            self._index_new()
            return self._lookup(oid)

    def manifest(self, oid: str, entry: BatchEntry, name: str) -> Manifest:
        """Decode ``oid``'s manifest; raises :class:`manifest.ManifestFormatError`."""
        with self._lock:
            body = self._body(name)
        return manifest.batch_manifest(body, entry)

    def sizes(self) -> dict[str, int]:
        """Every file the batches hold, and its size."""
        self._ensure()
        with self._lock:
            bodies = [body for name in self._names if name and (body := self._body(name))]
        sizes: dict[str, int] = {}
        for body in bodies:
            for raw_oid, size, _, _ in manifest.batch_records(body):
                sizes.setdefault(raw_oid.hex(), size)
        return sizes

    def holding(self, oids: Iterable[str]) -> dict[str, dict[str, BatchEntry]]:
        """The batches that hold any of ``oids``, each with its whole table."""
        self._ensure()
        wanted = {bytes.fromhex(oid) for oid in oids}
        with self._lock:
            bodies = {name: body for name in self._bodies if (body := self._body(name))}
        return {name: manifest.decode_batch(body) for name, body in bodies.items()
                if any(record[0] in wanted for record in manifest.batch_records(body))}  # fmt: skip

    def body(self, name: str) -> bytes:
        with self._lock:
            return self._body(name)

    def bodies(self) -> dict[str, bytes]:
        """Every batch that can be read, by id."""
        self._ensure()
        with self._lock:
            return {name: body for name in list(self._bodies) if (body := self._body(name))}


def _slot(number: int, index: int) -> int:
    """Batch ``number``'s entry ``index`` as one int."""
    return number * manifest.BATCH_MAX_ENTRIES + index


def _number(slot: int) -> int:
    """The batch number of ``slot``."""
    return slot // manifest.BATCH_MAX_ENTRIES


def _prefix(raw_oid: bytes) -> int:
    return int.from_bytes(raw_oid[:8], "big")


def _walk(number: int, body: bytes) -> tuple[array[int], Iterator[tuple[int, int]]]:
    """One pass over the table of batch ``number`` (b"": one that can no longer be
    read, holding nothing): where each file's manifest starts, and the (oid prefix,
    slot) of each file, ascending, as the table is in ascending oid order."""
    offsets, prefixes = array("L"), array("Q")
    for raw_oid, _, offset, _ in manifest.batch_records(body) if body else ():
        offsets.append(offset)
        prefixes.append(_prefix(raw_oid))
    first = _slot(number, 0)
    return offsets, zip(prefixes, range(first, first + len(prefixes)), strict=True)


def _sound(body: bytes) -> bool:
    try:
        manifest.check_batch(body)
    except manifest.ManifestFormatError:
        return False
    return True
