"""What a remote's manifest batches hold: oid → the batch and place of its manifest.

A push of many files writes their manifests as a few batches (``batches/<id>``, the
format in ``manifest.py``) instead of one object each, after every pack they name is
durable, so a batch is what makes its files exist. A batch is write-once and named by
the blake3 of its bytes: it is read whole (at most :data:`manifest.BATCH_MAX_SIZE`),
checked against its name, and kept in a local cache (beside the pack indexes) that is
re-checked the same way when read. Knowing every file of a remote then costs one
listing of ``batches/`` and one read per batch not seen before. The batches held in
memory are bounded (:data:`HELD_MAX`, about three million files' manifests): a remote
that lists more is refused rather than allowed to exhaust memory.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from blake3 import blake3

from gitmodel import manifest
from gitmodel.manifest import BatchEntry, Manifest
from gitmodel.remote.errors import RemoteError

HELD_MAX = 512 << 20


class BatchRemote(Protocol):
    """What the catalog needs of the remote store."""

    def list_batches(self) -> list[str]: ...
    def read_batch(self, batch: str) -> bytes: ...


def batch_id(body: bytes) -> str:
    return blake3(body).hexdigest()


class BatchCatalog:
    """The batches of one remote, loaded on first use; thread-safe."""

    def __init__(self, remote: BatchRemote, jobs: int = 8) -> None:
        self.remote = remote
        self.jobs = jobs
        self.cache: Path | None = None
        self._bodies: dict[str, bytes] = {}  # batch id → its bytes
        self._where: dict[str, tuple[str, BatchEntry]] = {}  # oid → (batch id, entry)
        self._loaded = False
        self._reading = 0  # bytes of batches read by the refresh under way, not yet added
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
        with self._lock:
            new = [name for name in names if name not in self._bodies]
            gone = set(self._bodies) - set(names)
        try:
            loaded = self._load_all(new)
        finally:
            with self._lock:
                self._reading = 0
        with self._lock:
            for name in gone:  # deleted by a gc: its survivors are in another batch
                self._drop(name)
            for name, body in loaded:
                self._add(name, body)
            self._loaded = True

    def _check_held(self, more: int) -> None:
        held = sum(len(body) for body in self._bodies.values()) + self._reading + more
        if held > HELD_MAX:
            raise RemoteError(
                f"the remote's manifest batches hold over {HELD_MAX >> 20} MiB",
                hint="a remote this large is not supported yet; `git model gc --remote` "
                "removes what no ref names",
            )

    def _load_all(self, names: list[str]) -> list[tuple[str, bytes]]:
        if len(names) < 2:
            return [(name, self._load(name)) for name in names]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            return list(zip(names, pool.map(self._load, names), strict=True))

    def _load(self, name: str) -> bytes:
        """A batch's bytes, from the cache or the remote, checked against its name; a
        batch that fails the check is treated as empty (its files are not there)."""
        with self._lock:
            self._check_held(0)
        body = self._cached(name)
        if body is None:
            body = self.remote.read_batch(name)
            if batch_id(body) != name or _table(body) is None:
                return b""
            self._keep(name, body)
        with self._lock:  # counted before it is kept: reads in flight stay bounded too
            self._check_held(len(body))
            self._reading += len(body)
        return body

    def _cached(self, name: str) -> bytes | None:
        if self.cache is None:
            return None
        try:
            body = (self.cache / name).read_bytes()
        except OSError:
            return None
        return body if batch_id(body) == name else None

    def _keep(self, name: str, body: bytes) -> None:
        if self.cache is None:
            return
        with contextlib.suppress(OSError):
            self.cache.mkdir(parents=True, exist_ok=True)
            tmp = self.cache / f".{name}.{os.getpid()}-{threading.get_ident()}"
            tmp.write_bytes(body)
            os.replace(tmp, self.cache / name)

    def learn(self, name: str, body: bytes) -> None:
        """A batch this process wrote: known without reading it back."""
        self._keep(name, body)
        with self._lock:
            self._add(name, body)

    def _add(self, name: str, body: bytes) -> None:
        table = _table(body)
        if table is None:
            return
        self._bodies[name] = body
        for oid, entry in table.items():
            self._where.setdefault(oid, (name, entry))

    def _drop(self, name: str) -> None:
        self._bodies.pop(name, None)
        self._where = {o: w for o, w in self._where.items() if w[0] != name}
        for other, body in self._bodies.items():  # an oid another batch holds too
            for oid, entry in (_table(body) or {}).items():
                self._where.setdefault(oid, (other, entry))
        if self.cache is not None:
            (self.cache / name).unlink(missing_ok=True)

    def _ensure(self) -> None:
        with self._refreshing:
            if not self._loaded:
                self._refresh()

    def find(self, oid: str) -> tuple[str, BatchEntry] | None:
        """The batch holding ``oid``'s manifest and where in it, or None."""
        self._ensure()
        with self._lock:
            return self._where.get(oid)

    def manifest(self, oid: str, entry: BatchEntry, name: str) -> Manifest:
        """Decode ``oid``'s manifest; raises :class:`manifest.ManifestFormatError`."""
        with self._lock:
            body = self._bodies.get(name, b"")
        return manifest.batch_manifest(body, entry)

    def sizes(self) -> dict[str, int]:
        """Every file the batches hold, and its size."""
        self._ensure()
        with self._lock:
            return {oid: entry.size for oid, (_, entry) in self._where.items()}

    def holding(self, oids: Iterable[str]) -> dict[str, dict[str, BatchEntry]]:
        """The batches that hold any of ``oids``, each with its whole table."""
        self._ensure()
        wanted = set(oids)
        with self._lock:
            tables = {name: _table(body) or {} for name, body in self._bodies.items()}
        return {name: table for name, table in tables.items() if wanted & table.keys()}

    def body(self, name: str) -> bytes:
        with self._lock:
            return self._bodies.get(name, b"")


def _table(body: bytes) -> dict[str, BatchEntry] | None:
    try:
        return manifest.decode_batch(body)
    except manifest.ManifestFormatError:
        return None
