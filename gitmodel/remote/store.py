"""A remote object store on plain object storage, reached through fsspec.

Layout (``gitmodel-remote.json`` at the root names its version)::

    packs/ab/<pack id>    chunks back to back, write-once, ~16 MiB     (version 2)
    index/<pack id>       the pack's chunk ids and lengths, written after the pack
    manifests/ab/<oid>    the file's chunks in order (binary, ``manifest.py``), written last
    batches/<batch id>    many files' manifests in one object, written last  (version 3)
    data/ab/cd/<oid>      a whole object (version 1, and ``model.chunking=false``);
                          its manifest is JSON {"oid", "size", "kind": "whole"}
    meta/<name>           bookkeeping, e.g. ``gc-marks.json`` (``git model gc --remote``)

Version 2 readers read version 1 remotes; a chunked push to one upgrades its
layout file. Version 3 is version 2 with manifest batches (``batches.py``): a push of
many files names it before its first batch, so that older versions refuse the remote
rather than miss the files. How each object is written and read lives in ``whole.py`` and
``chunked.py``; ``layouts.py`` chooses between them.

An object exists on the remote if and only if its manifest exists (alone or in a
batch): bytes are
uploaded first and the manifest only once they are durable, so a crash never
leaves a half-visible object (existence checks list manifests). Keys are
derived from oids, never read from a manifest, and every byte read back is
checked against its sha256 before it enters the local store.

Every read stops at the size it expects, never at the end of what the remote
sends: a whole object at its pointer's size plus one byte (to see one that is too
long), a manifest at :func:`manifest.max_manifest_size` of that size, the layout
file at :data:`LAYOUT_MAX_SIZE`, a ``meta/`` file at :data:`META_MAX_SIZE`. A
range answered with more bytes than asked (a backend that ignores ranges) is
refused, never trusted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from gitmodel import manifest
from gitmodel.errors import GitModelError, UserError, is_disk_full
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.remote import backends, faults
from gitmodel.remote.batches import BatchCatalog, batch_id
from gitmodel.remote.errors import (
    RANGES_HINT,
    RemoteError,
    RemoteObjectDamaged,
    RemoteObjectMissing,
    ShortRead,
)
from gitmodel.remote.retry import Retrier, Verdict
from gitmodel.store import codec
from gitmodel.urls import redact

LAYOUT_FILE = "gitmodel-remote.json"
LAYOUT_VERSION = 2
LAYOUT_WHOLE = 1  # whole objects only: what a push with model.chunking=false keeps
LAYOUT_BATCHES = 3  # layout 2, and manifest batches
MERGE_BELOW = 1 << 20  # gc writes batches smaller than this together ...
MERGE_TARGET = 2 << 20  # ... into batches of up to about this size (a push's own)
LAYOUTS = (LAYOUT_WHOLE, LAYOUT_VERSION, LAYOUT_BATCHES)
PREFIX_LISTINGS = 16  # asked about more oid prefixes: one listing of every manifest instead
LAYOUT_MAX_SIZE = 4096
META_MAX_SIZE = 64 << 20  # a meta/ file: gc marks of about 700,000 objects
MANIFEST_FIRST_READ = 64 << 10  # then doubling: a claimed length is not an allocation

T = TypeVar("T")


@dataclass(frozen=True)
class Usage:
    objects: int
    logical: int
    packs: int
    pack_bytes: int
    whole_bytes: int
    metadata_bytes: int

    @property
    def stored(self) -> int:
        return self.pack_bytes + self.whole_bytes + self.metadata_bytes


class RemoteStore:
    """Objects under ``url`` on any fsspec filesystem (``file://``, ``s3://``, ``memory://`` …)."""

    lfs_host = False  # see layouts.on_host

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep, tries: int = backends.RETRY_TRIES,
                 first_delay: float = backends.RETRY_FIRST_DELAY, chunked: bool = True,
                 key: bytes | None = None, timeout: float = backends.REQUEST_TIMEOUT,
                 retry_timeout: float = backends.RETRY_TIMEOUT) -> None:  # fmt: skip
        self.url = url
        self.chunked = chunked or key is not None  # encryption needs the chunked format
        self.cipher = codec.Cipher(key)
        self.retrier = Retrier(tries, first_delay, retry_timeout, sleep)
        self.tries = self.retrier.tries
        self.timeout = timeout
        self.display = redact(url)
        self._options = dict(storage_options or {})
        self._protocol = backends.protocol_of(url)
        self.protocols: set[str] = set()
        self.fs: Any = None
        fs, root = self._open_filesystem()
        self.root = root.rstrip("/")
        self.protocols = set(_protocols(fs))
        self._folders = not self.protocols & _OBJECT_STORES  # object storage: no folders
        self.local = "file" in self.protocols  # a folder of this machine's file system
        self.fs = self._wrap(fs)
        self._layout: dict[str, Any] | None = None  # unknown until asked; {} when absent
        self._layout_lock = threading.Lock()
        self.batches = BatchCatalog(self)

    def _open_filesystem(self) -> tuple[Any, str]:
        """The backend's filesystem (SSH connects here: a failure is mapped like any other)."""
        try:
            opened: tuple[Any, str] = self.retry(functools.partial(
                backends.open_filesystem, self.url, self._options, self.timeout))  # fmt: skip
        except FileNotFoundError as exc:  # a file the backend's own config names (SSH's)
            raise backends.config_file_missing(self.display, self._protocol, exc) from None
        except RemoteError as exc:
            if not isinstance(exc.__cause__, (ImportError, ValueError, TypeError)):
                raise
            raise UserError(
                f"cannot use remote {self.display}: {backends.describe(exc.__cause__)}",
                hint="check the URL scheme; s3:// needs s3fs, gs:// gcsfs, az:// adlfs, "
                "sftp:// sshfs",
            ) from exc
        return opened

    def _wrap(self, fs: Any) -> Any:
        """``fs`` with ranged reads checked, then any test faults or counting."""
        checked = backends.RangeCheckedFileSystem(
            fs, seek_reads=bool(self.protocols & backends.SFTP)
        )
        try:
            return faults.wrap(checked)
        except ValueError as exc:
            raise UserError(str(exc), hint="fail=0.2,truncate=0.1,delay=0.01,seed=1") from exc

    # -- keys

    def data_key(self, oid: str) -> str:
        return f"{self.root}/data/{oid[0:2]}/{oid[2:4]}/{self._valid(oid)}"

    def manifest_key(self, oid: str) -> str:
        return f"{self.root}/manifests/{oid[0:2]}/{self._valid(oid)}"

    def pack_key(self, pack: str) -> str:
        return f"{self.root}/packs/{pack[0:2]}/{self._valid(pack)}"

    def index_key(self, pack: str) -> str:
        return f"{self.root}/index/{self._valid(pack)}"

    def batch_key(self, batch: str) -> str:
        return f"{self.root}/batches/{self._valid(batch)}"

    def cache_dir_name(self) -> str:
        """A name for this remote's local caches (a hash: the URL may hold a secret)."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:24]

    @staticmethod
    def _valid(oid: str) -> str:
        if not is_valid_oid(oid):
            raise ValueError(f"invalid oid {oid[:80]!r}")
        return oid

    # -- queries

    def check_layout(self) -> None:
        """Refuse a remote written in a layout this version cannot read, or encrypted
        with another key (or without one, when a key is set, and the reverse)."""
        key = f"{self.root}/{LAYOUT_FILE}"
        layout: dict[str, Any] = {}
        if self.retry(lambda: self.fs.exists(key)):
            try:
                layout = self.retry(functools.partial(self._read_layout, key))
                version = layout["layout"]
            except (RemoteError, KeyError, TypeError) as exc:
                raise RemoteError(
                    f"{self.display}: unreadable {LAYOUT_FILE}",
                    hint=f"the remote's {LAYOUT_FILE} is damaged (it is a small JSON object "
                    f'such as {{"layout": {LAYOUT_BATCHES}}}, written once and never again): '
                    "restore it from the remote's backups, or ask whoever manages the remote",
                ) from exc
            if version not in LAYOUTS:
                raise UserError(
                    f"{self.display} uses remote layout {str(version)[:20]}, not {LAYOUT_BATCHES}",
                    hint="upgrade gitmodel to read it",
                )
        else:
            self._check_bucket()
        self._check_key(layout)
        self._layout = layout

    def _check_bucket(self) -> None:
        """Refuse a bucket that does not exist. Asked only of a remote without a layout
        file (a new one, or a misspelt one), since GCS answers a read from a missing
        bucket as it does a missing object. Credentials that may use objects but not
        see the bucket cannot tell: then the bucket is taken to be there."""
        bucket = backends.bucket_of(self._protocol, self.root)
        if not bucket:
            return
        try:
            self.retry(functools.partial(self.fs.info, bucket))
        except FileNotFoundError:
            raise self._bucket_missing() from None
        except backends.AccessDenied:
            pass

    def _read_layout(self, key: str) -> dict[str, Any]:
        body = self.fs.cat_file(key, start=0, end=LAYOUT_MAX_SIZE)  # not trusted to be small
        if len(body) > LAYOUT_MAX_SIZE:  # the range was ignored
            raise TypeError(f"{LAYOUT_FILE} is longer than {LAYOUT_MAX_SIZE} bytes")
        try:
            layout = json.loads(body)
        except ValueError:
            raise ShortRead(f"{LAYOUT_FILE} is not JSON") from None  # cut short, or garbage
        if not isinstance(layout, dict):
            raise TypeError(LAYOUT_FILE)
        return layout

    def _check_key(self, layout: dict[str, Any]) -> None:
        check = layout.get("key_check")
        if check is None and self.cipher.encrypted and layout:
            raise UserError(f"{self.display} is not encrypted, but an encryption key is set",
                            hint="unset GIT_MODEL_ENCRYPTION_KEY / model.encryptionKeyFile "
                            "for this remote, or use a new one")  # fmt: skip
        if check is not None and not self.cipher.encrypted:
            raise UserError(
                f"{self.display} is encrypted and no key is set",
                hint="set GIT_MODEL_ENCRYPTION_KEY or model.encryptionKeyFile",
            )
        if check is not None and check != self.cipher.key_check:
            raise UserError(f"{self.display} is encrypted with a different key",
                            hint="set the key this remote was created with")  # fmt: skip

    def present(self, oids: Iterable[str]) -> set[str]:
        """Which of ``oids`` the remote has: those its batches list (layout 3), then one
        listing per oid prefix of the others, or one of every manifest when they have
        many prefixes (a few requests per thousand manifests), never one per object."""
        wanted = {self._valid(oid) for oid in oids}
        found: set[str] = set()
        if wanted and self.layout_version() >= LAYOUT_BATCHES:
            found = wanted & self.batches.sizes().keys()  # listed once a process
        prefixes = sorted({oid[:2] for oid in wanted - found})
        if len(prefixes) > PREFIX_LISTINGS:
            names = set(self.retry(lambda: self._find(f"{self.root}/manifests")))
            return found | (wanted & names)
        for prefix in prefixes:
            folder = f"{self.root}/manifests/{prefix}"
            listed = self.retry(functools.partial(self._list, folder))
            found.update(name for name in listed if name in wanted)
        return found

    def list_batches(self) -> list[str]:
        """The ids of the manifest batches on the remote."""
        names = self.retry(functools.partial(self._list, f"{self.root}/batches"))
        return sorted(name for name in names if is_valid_oid(name))

    def read_batch(self, batch: str) -> bytes:
        """A batch's bytes, read no further than :data:`manifest.BATCH_MAX_SIZE` (one
        byte more: a longer one is refused); b"" when it is gone or too long."""
        try:
            body = self.read(self.batch_key(batch), 0, manifest.BATCH_MAX_SIZE + 1, exact=False)
        except FileNotFoundError:
            return b""
        return body if len(body) <= manifest.BATCH_MAX_SIZE else b""

    def write_batch(self, manifests: list[manifest.Manifest]) -> str:
        """Write ``manifests`` as one batch (they exist once it is written); names layout 3
        first. Returns the batch's id."""
        self.ensure_layout(LAYOUT_BATCHES)
        body = manifest.encode_batch(manifests)
        name = batch_id(body)
        self.write(self.batch_key(name), body)
        self.batches.learn(name, body)
        return name

    def _list(self, folder: str) -> list[str]:
        try:
            entries = self.fs.ls(folder, detail=False, refresh=True)
        except FileNotFoundError as exc:
            if backends.names_missing_bucket(exc):
                raise  # not an empty folder: ``_retry`` names the bucket
            return []
        return [str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries]

    def list_objects(self) -> dict[str, int]:
        """Every object on the remote (those with a manifest, alone or in a batch) and
        its size in bytes."""
        manifests = self.retry(lambda: self._find(f"{self.root}/manifests"))
        data = self.retry(lambda: self._find(f"{self.root}/data"))
        chunked = [oid for oid in manifests if oid not in data]
        with ThreadPoolExecutor(max_workers=8) as pool:
            sizes = dict(zip(chunked, pool.map(self._declared_size, chunked), strict=True))
        found = {oid: data[oid] if oid in data else sizes[oid] for oid in manifests}
        if self.layout_version() >= LAYOUT_BATCHES:
            self.batches.refresh()
            found = self.batches.sizes() | found
        return found

    def _declared_size(self, oid: str) -> int:
        """The size a chunked manifest declares (its head only is read), 0 if unreadable."""
        try:
            head = self.read(self.manifest_key(oid), 0, manifest.MANIFEST_HEAD_SIZE)
        except (FileNotFoundError, RemoteError):
            return 0
        return manifest.manifest_size(head) or 0

    def _find(self, folder: str) -> dict[str, int]:
        """The objects (or packs) under ``folder`` by name, and their sizes."""
        names = {key.rsplit("/", 1)[-1]: size for key, size in self._find_sizes(folder).items()}
        return {name: size for name, size in names.items() if is_valid_oid(name)}

    def _find_sizes(self, folder: str) -> dict[str, int]:
        """Every file under ``folder`` by key, and its size."""
        try:
            found = self.fs.find(folder, detail=True)
        except FileNotFoundError as exc:
            if backends.names_missing_bucket(exc):
                raise  # not an empty folder: ``_retry`` names the bucket
            return {}
        return {str(key): int(info.get("size") or 0) for key, info in found.items()}

    def usage(self) -> Usage:
        """What the remote holds: logical bytes (its objects' sizes, what whole-file
        storage would take) against the bytes it stores."""
        objects = self.list_objects()
        sizes = {part: self.retry(functools.partial(self._find_sizes, f"{self.root}/{part}"))
                 for part in ("packs", "data", "manifests", "index", "batches")}  # fmt: skip
        return Usage(
            objects=len(objects),
            logical=sum(objects.values()),
            packs=len(sizes["packs"]),
            pack_bytes=sum(sizes["packs"].values()),
            whole_bytes=sum(sizes["data"].values()),
            metadata_bytes=sum(
                sum(sizes[part].values()) for part in ("manifests", "index", "batches")
            ),
        )

    def delete(self, oid: str) -> None:
        """Remove an object: its manifest first (it stops existing), then its bytes."""
        self.delete_objects([oid])

    def delete_objects(self, oids: Iterable[str]) -> None:
        """Remove objects: each batch that holds any is written anew without them (the
        others stay visible throughout) and only then deleted; then each manifest of its
        own, then the bytes of whole objects."""
        doomed = {self._valid(oid) for oid in oids}
        if self.layout_version() >= LAYOUT_BATCHES:
            self._rewrite_batches(doomed)
        for oid in sorted(doomed):
            for key in (self.manifest_key(oid), self.data_key(oid)):
                with contextlib.suppress(FileNotFoundError):
                    self.retry(functools.partial(self.fs.rm_file, key))

    def _rewrite_batches(self, doomed: set[str]) -> None:
        self.batches.refresh()
        for name, table in self.batches.holding(doomed).items():
            body = self.batches.body(name)
            kept = [manifest.batch_manifest(body, e) for o, e in table.items() if o not in doomed]
            if kept:
                self.write_batch(kept)
            with contextlib.suppress(FileNotFoundError):
                self.retry(functools.partial(self.fs.rm_file, self.batch_key(name)))
        self.batches.refresh()

    def small_batches(self) -> list[tuple[str, bytes]]:
        """The batches :meth:`merge_batches` would write together, by id."""
        if self.layout_version() < LAYOUT_BATCHES:
            return []
        self.batches.refresh()
        return sorted((name, body) for name, body in self.batches.bodies().items()
                      if len(body) < MERGE_BELOW)  # fmt: skip

    def merge_batches(self) -> tuple[int, int]:
        """Write the manifests of the small batches (each push of a few dozen files
        leaves one, and a clone reads every batch) together, as batches of up to
        :data:`MERGE_TARGET` bytes; delete each merged batch once the batch holding its
        manifests is written, so every file stays visible throughout. Returns how many
        batches were merged, and into how many."""
        groups: list[list[tuple[str, bytes, dict[str, manifest.BatchEntry]]]] = [[]]
        size = entries = 0
        for name, body in self.small_batches():
            table = manifest.decode_batch(body)
            if groups[-1] and (size + len(body) > MERGE_TARGET
                               or entries + len(table) > manifest.BATCH_MAX_ENTRIES):  # fmt: skip
                groups.append([])
                size = entries = 0
            groups[-1].append((name, body, table))
            size, entries = size + len(body), entries + len(table)
        merged = written = 0
        for group in groups:
            if len(group) < 2:
                continue
            found: dict[str, manifest.Manifest] = {}
            for _, body, table in group:
                for oid, entry in table.items():
                    found.setdefault(oid, manifest.batch_manifest(body, entry))
            name = self.write_batch(list(found.values()))
            for old, _, _ in group:
                if old != name:
                    with contextlib.suppress(FileNotFoundError):
                        self.retry(functools.partial(self.fs.rm_file, self.batch_key(old)))
            merged, written = merged + len(group), written + 1
        if merged:
            self.batches.refresh()
        return merged, written

    def pack_sizes(self) -> dict[str, int]:
        """Every pack on the remote and its size."""
        return self.retry(functools.partial(self._find, f"{self.root}/packs"))

    def packs_used(self, objects: dict[str, int], jobs: int = 8) -> set[str]:
        """The packs the manifests of ``objects`` (oid → size) name."""

        def packs_of(oid: str) -> list[str]:
            found = self.read_manifest(Pointer(oid, objects[oid]))
            return found.packs if found is not None else []

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return {pack for packs in pool.map(packs_of, objects) for pack in packs}

    def delete_pack(self, pack: str) -> None:
        """Remove a pack no manifest uses: its index first (no push dedups against it
        any more), then its bytes."""
        for key in (self.index_key(pack), self.pack_key(pack)):
            with contextlib.suppress(FileNotFoundError):
                self.retry(functools.partial(self.fs.rm_file, key))

    def forget_pack(self, pack: str) -> None:
        """Remove a pack's index only: no push dedups against it any more, and the
        manifests that name it read it as before (``gc`` deletes it once none does)."""
        with contextlib.suppress(FileNotFoundError):
            self.retry(functools.partial(self.fs.rm_file, self.index_key(pack)))

    def read_meta(self, name: str) -> bytes | None:
        """A bookkeeping file under ``meta/`` (e.g. garbage-collection marks), or None;
        one over :data:`META_MAX_SIZE` is refused, read no further than that."""
        key = self._meta_key(name)
        try:
            body = self.ranged(key, 0, META_MAX_SIZE + 1)
        except FileNotFoundError:
            return None
        if len(body) > META_MAX_SIZE:
            raise RemoteError(f"{self.display}: meta/{name} is larger than {META_MAX_SIZE} bytes")
        return body

    def write_meta(self, name: str, body: bytes) -> None:
        """Replace a bookkeeping file under ``meta/``: written aside, then moved over it,
        so a reader sees the old or the new file, never half of one."""
        key = self._meta_key(name)
        self.makedirs(key)
        self._write_aside(key, body)

    def _meta_key(self, name: str) -> str:
        if not name.replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"invalid meta name {name[:80]!r}")
        return f"{self.root}/meta/{name}"

    # -- transfers

    def is_empty(self) -> bool:
        """Whether nothing was ever written here: no layout file (every upload names
        the layout before its first object)."""
        if self._layout is None:
            self.check_layout()
        return not self._layout

    def layout_version(self) -> int:
        """The remote's layout: 1 (whole objects only) until a chunked push names 2."""
        if self._layout is None:
            self.check_layout()
        assert self._layout is not None
        return int(self._layout.get("layout", LAYOUT_WHOLE))

    def read_manifest(self, pointer: Pointer) -> manifest.Manifest | None:
        """The chunked manifest of ``pointer`` (from a batch, else its own), or None for
        a whole object."""
        batched = self.batched_manifest(pointer)
        if batched is not None:
            return batched
        cap = max(LAYOUT_MAX_SIZE, manifest.max_manifest_size(pointer.size))
        key = self.manifest_key(pointer.oid)

        def once() -> bytes:
            body = self._read_growing(key, cap)
            length = manifest.manifest_length(body)
            if length is not None and length > cap:
                reason = f"{length} bytes for a {pointer.size}-byte object"
                raise self._bad_manifest(pointer.oid, key, reason)
            if not manifest.is_manifest(body) and len(body) >= LAYOUT_MAX_SIZE:
                reason = "neither a chunked manifest nor a whole object's, which is short"
                raise self._bad_manifest(pointer.oid, key, reason)
            if _cut_short(body):
                raise ShortRead(f"only {len(body)} bytes of the manifest of {pointer.oid}")
            return body

        try:
            body = self.retry(once)
        except FileNotFoundError:
            raise self.missing(pointer.oid, key) from None
        if not manifest.is_manifest(body):
            return None  # a whole object's JSON manifest: its bytes are under data/
        try:
            return manifest.decode_manifest(body, pointer.oid, pointer.size)
        except manifest.ManifestFormatError as exc:
            reason = str(exc)
            declared = manifest.manifest_size(body)
            if declared is not None and declared != pointer.size:
                reason = (f"it says {declared} bytes, the pointer {pointer.size} "
                          "(a wrong size in the pointer, or a bad manifest)")  # fmt: skip
            raise self._bad_manifest(pointer.oid, key, reason) from None

    def batched_manifest(self, pointer: Pointer) -> manifest.Manifest | None:
        """``pointer``'s manifest from the batches (layout 3), None if none holds it:
        no request once the batches are known."""
        if self.layout_version() < LAYOUT_BATCHES:
            return None
        found = self.batches.find(self._valid(pointer.oid))
        if found is None:
            return None
        name, entry = found
        try:
            if entry.size != pointer.size:
                raise manifest.ManifestFormatError(
                    f"it says {entry.size} bytes, the pointer {pointer.size} "
                    "(a wrong size in the pointer, or a bad manifest)"
                )
            return self.batches.manifest(pointer.oid, entry, name)
        except manifest.ManifestFormatError as exc:
            raise self._bad_manifest(pointer.oid, self.batch_key(name), str(exc)) from None

    def _bad_manifest(self, oid: str, key: str, reason: str) -> RemoteObjectDamaged:
        return RemoteObjectDamaged(
            f"{self.display}: bad manifest for {oid} ({self.relative(key)}): {reason}"
        )

    def _read_growing(self, key: str, cap: int) -> bytes:
        """A manifest's bytes: its first :data:`MANIFEST_FIRST_READ`, then, while its head
        says there is more, reads each up to twice what has arrived (and one byte past
        the declared end, to see an overlong one), so what is held in memory grows with
        the bytes the remote actually has, never with a number it claims."""
        asked = min(cap, MANIFEST_FIRST_READ)
        body = bytearray(self.ranged(key, 0, asked))
        length = manifest.manifest_length(bytes(body[: manifest.MANIFEST_HEAD_SIZE]))
        if length is None or length > cap:
            return bytes(body)
        while len(body) == asked and len(body) <= length:
            end = min(length + 1, 2 * len(body))
            asked = length + 1 if end == length else end  # never start a read at the end
            body += self.ranged(key, len(body), asked)
        return bytes(body)

    def ranged(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of ``key`` or fewer (where it ends); more than that is
        refused: a backend that ignores the range must not make us hold, or trust, the
        whole file."""
        data = self.read(key, start, end, exact=False)
        if len(data) > end - start:
            error = RemoteError(f"{self.display}: {len(data)} bytes came back for a "
                                f"{end - start}-byte range of {self.relative(key)}")  # fmt: skip
            error.hint = RANGES_HINT
            raise error
        return data

    def read(self, key: str, start: int | None = None, end: int | None = None,
             exact: bool = True) -> bytes:  # fmt: skip
        """Bytes ``start:end`` of ``key``; a short read is retried unless ``exact`` is False."""

        def once() -> bytes:
            data: bytes = self.fs.cat_file(key, start=start, end=end)
            if exact and start is not None and end is not None and len(data) < end - start:
                raise ShortRead(f"{len(data)} of {end - start} bytes arrived")
            return data

        return self.retry(once)

    def write(self, key: str, body: bytes | memoryview) -> None:
        """Write a whole write-once file (one request on object storage)."""
        if isinstance(body, memoryview) and self.protocols & _STREAMED:
            view = body  # read in pieces: bytes(view) would cost a copy of a 16 MiB pack
            self.makedirs(key)
            self.retry(lambda: self.fs.pipe_file(key, _Upload(view)))
            return
        if isinstance(body, memoryview) and not self.local:
            body = bytes(body)  # other clients take bytes only; memory:// keeps the view
        self.makedirs(key)
        if self.local and key.startswith((f"{self.root}/manifests/", f"{self.root}/batches/")):
            # an S3 PUT is atomic, a local write is not: a torn manifest would be a present
            # object that cannot be read. Packs and indexes check themselves (exact
            # lengths; packs are proven before reuse), so a torn one costs a re-send only.
            self._write_aside(key, body)
            return
        self.retry(lambda: self.fs.pipe_file(key, body))

    def exists(self, key: str) -> bool:
        return bool(self.retry(functools.partial(self.fs.exists, key)))

    def list_indexes(self) -> list[str]:
        """The pack ids whose index is on the remote."""
        names = self.retry(functools.partial(self._list, f"{self.root}/index"))
        return sorted(name for name in names if is_valid_oid(name))

    def missing(self, oid: str, key: str) -> RemoteObjectMissing:
        return RemoteObjectMissing(
            f"{self.display} does not have object {oid} (no {self.relative(key)})"
        )

    def relative(self, key: str) -> str:
        """A key as the remote's layout names it (``manifests/ab/<oid>``): where we looked."""
        return key.removeprefix(f"{self.root}/")

    def makedirs(self, key: str) -> None:
        """Parent folders, for filesystems that have them. Skipped on object storage,
        where a key needs no folder and s3fs would spend a request asking for the bucket."""
        if not self._folders:
            return
        parent = key.rsplit("/", 1)[0]
        self.retry(lambda: self.fs.makedirs(parent, exist_ok=True))

    def _write_aside(self, key: str, body: bytes | memoryview) -> None:
        """Write to a temporary name and move it over ``key``, so a crash never leaves
        part of a file visible (a visible manifest is a present object)."""
        tmp = f"{key}.{os.getpid()}-{threading.get_ident()}.tmp"
        try:
            self.retry(lambda: self.fs.pipe_file(tmp, body))
            self.retry(lambda: self.fs.mv(tmp, key))
        except BaseException:
            with contextlib.suppress(OSError, GitModelError):
                self.fs.rm_file(tmp)
            raise

    def ensure_layout(self, version: int) -> None:
        """Name the layout before the first object of that layout is written (once per
        store, so parallel uploads do not each ask again)."""
        with self._layout_lock:
            if self._layout is None:
                self.check_layout()
            assert self._layout is not None
            if self._layout.get("layout", 0) >= version:
                return
            layout: dict[str, Any] = {"layout": version}
            if self.cipher.encrypted:
                layout |= {"encryption": "aes-256-gcm", "key_check": self.cipher.key_check}
            key = f"{self.root}/{LAYOUT_FILE}"
            self.makedirs(key)
            body = json.dumps(layout).encode()
            if self.local:  # a torn layout file would make the whole remote unreadable
                self._write_aside(key, body)
            else:
                self.retry(lambda: self.fs.pipe_file(key, body))
            self._layout = layout

    def retry(self, call: Callable[[], T]) -> T:
        """``call()``, retried as :mod:`retry` says. A refused credential, an unknown
        host key or a missing bucket is not retried: it fails with a hint to fix it."""
        return self.retrier.run(call, self._judge)

    def _judge(self, exc: Exception) -> Verdict | None:
        if isinstance(exc, FileNotFoundError):
            if backends.names_missing_bucket(exc):
                raise self._bucket_missing() from None
            return None
        if isinstance(exc, (IsADirectoryError, GitModelError)):
            return None
        self._raise_if_final(exc)  # backends raise their own types (botocore, aiohttp …)

        def give_up(tries: int, spent: float) -> RemoteError:
            return RemoteError(
                f"{self.display}: {backends.describe(exc)} "
                f"(gave up after {tries} tries, {spent:.0f} s)",
                hint="check the network and the remote's endpoint; model.retries, "
                "model.retryTimeout and model.timeout bound the wait",
            )

        return Verdict(give_up, marks_down=not isinstance(exc, ShortRead),  # that object's fault
                       before_retry=self._reconnect if backends.is_connection_closed(exc)
                       else None)  # fmt: skip

    def pause(self, attempt: int) -> None:
        """Wait before try ``attempt + 2``: the first delay, doubling, with jitter."""
        self.retrier.sleep(self.retrier.delay(attempt))

    @staticmethod
    def is_final(exc: Exception) -> bool:
        """Whether the same request would fail the same way again."""
        return isinstance(exc, FINAL_ERRORS)

    def _raise_if_final(self, exc: Exception) -> None:
        """Map a failure no retry can mend to its one-line error."""
        if backends.is_host_key_unknown(exc):
            raise backends.host_key_unknown(self.display, backends.describe(exc)) from None
        if backends.is_unresolvable(exc):
            raise RemoteError(
                f"{self.display}: its host name does not resolve ({backends.describe(exc)})",
                hint="check the host in the remote's URL or endpoint (`git model remote show`)",
            ) from None
        if backends.is_denied(exc):
            raise backends.access_denied(
                self.display, self._protocol, backends.describe(exc)
            ) from None
        if is_disk_full(exc):
            raise RemoteError(
                f"{self.display}: no space left on the device that holds it",
                hint="free space there and push again: what this push already sent is "
                "not sent twice",
            ) from None
        if isinstance(exc, FINAL_ERRORS):  # the same request fails the same way again
            raise RemoteError(
                f"{self.display}: {backends.describe(exc)}",
                hint="the remote cannot serve this request: check its URL and backend "
                "(`git model doctor`)",
            ) from exc

    def _bucket_missing(self) -> backends.BucketMissing:
        bucket = backends.bucket_of(self._protocol, self.root)
        return backends.bucket_missing(self.display, self._protocol, bucket)

    def _reconnect(self) -> None:
        """A new connection after the old one closed (SFTP; sshfs does not reopen one)."""
        if self.fs is None:
            return  # still opening: the next try connects anew anyway
        with contextlib.suppress(Exception):  # still down: the next try says so
            self.fs = self._wrap(backends.reopen_filesystem(self.url, self._options,
                                                            self.timeout))  # fmt: skip


FINAL_ERRORS = (PermissionError, NotImplementedError, TypeError, ValueError, ImportError)
_OBJECT_STORES = backends.OBJECT_STORES
_STREAMED = frozenset({"s3", "s3a"})  # botocore reads a file body in pieces, copying none


class _Upload(io.RawIOBase):
    """A view as the file an upload reads (and rewinds, to sign or check it); given
    bytes, botocore keeps a second copy of them while it sends (measured: a pack's size more
    for each pack in flight). One per attempt: each starts at the beginning."""

    def __init__(self, view: memoryview) -> None:
        self._view, self._pos = view, 0

    def __len__(self) -> int:
        return len(self._view)

    def __getitem__(self, part: slice) -> bytes:  # the fault injection's torn upload
        return bytes(self._view[part])

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), len(self._view) - self._pos))
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}
        self._pos = max(0, base[whence] + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _cut_short(body: bytes) -> bool:
    """Whether a manifest read stopped early (a transport fault, worth another try)."""
    if manifest.MANIFEST_MAGIC.startswith(body):
        return True
    length = manifest.manifest_length(body)
    if length is not None:
        return len(body) < length
    if manifest.is_manifest(body):
        return True  # not even its head arrived
    try:
        json.loads(body)
    except ValueError:
        return True
    return False


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = getattr(fs, "protocol", ())
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
