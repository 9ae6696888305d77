"""Layout 1: each object whole, under ``data/ab/cd/<oid>``, made visible by a JSON manifest.

What ``model.chunking=false`` pushes, and what remotes written before chunking hold.
An upload streams the file in parts (multipart on S3), so memory stays bounded
whatever its size; the manifest ``{"oid", "size", "kind": "whole"}`` is written
last. A download reads no further than one byte past the pointer's size, in ranges
of :data:`SMALL_OBJECT`, hashing as it goes; nothing unproven enters the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitmodel.errors import ChecksumError, GitModelError
from gitmodel.pointer import Pointer
from gitmodel.progress import Attempt
from gitmodel.remote import backends
from gitmodel.remote.errors import (
    DAMAGED_HINT,
    RemoteError,
    RemoteObjectDamaged,
    RemoteObjectMissing,
    ShortRead,
)
from gitmodel.remote.store import LAYOUT_WHOLE, RemoteStore
from gitmodel.store.local import CHUNK_SIZE, LocalStore

if TYPE_CHECKING:
    from gitmodel.progress import ByteCount

SMALL_OBJECT = 8 << 20  # read in one request; larger objects in ranges of this size
PART_SIZE = 16 << 20
MAX_PARTS = 9_000  # S3 allows 10,000 parts per upload


def upload(remote: RemoteStore, store: LocalStore, pointer: Pointer,
           on_bytes: ByteCount | None = None) -> None:  # fmt: skip
    """Send one object, its manifest last; re-sending a visible object is harmless.
    ``on_bytes`` is told of each part as it is written (and takes back a failed try's)."""
    store.check_size(pointer)  # the manifest says the pointer's size: it must be true
    remote.ensure_layout(LAYOUT_WHOLE)
    key = remote.data_key(pointer.oid)
    remote.makedirs(key)
    remote.retry(lambda: _send(remote, store, pointer, key, on_bytes))
    body = json.dumps({"oid": pointer.oid, "size": pointer.size, "kind": "whole"})
    remote.write(remote.manifest_key(pointer.oid), body.encode())  # last, atomically


def _send(remote: RemoteStore, store: LocalStore, pointer: Pointer, key: str,
          on_bytes: ByteCount | None) -> None:  # fmt: skip
    part = part_size(pointer.size)
    block_size = backends.block_size(remote.protocols, part)
    with (
        Attempt(on_bytes) as count,
        store.open(pointer.oid) as src,
        remote.fs.open(key, "wb", block_size=block_size) as dst,
    ):
        while chunk := src.read(min(part, CHUNK_SIZE * 8)):
            dst.write(chunk)
            count(len(chunk))


def part_size(size: int) -> int:
    """16 MiB parts, larger for objects that would need more than 9,000 of them."""
    return max(PART_SIZE, -(-size // MAX_PARTS))


def download(remote: RemoteStore, store: LocalStore, pointer: Pointer,
             on_bytes: ByteCount | None = None) -> None:  # fmt: skip
    """Fetch one object into ``store``, verified, retrying a transfer cut short.
    ``on_bytes`` is told of each range as it arrives (and takes back a failed try's)."""
    key = remote.data_key(pointer.oid)
    for attempt in range(remote.tries):
        try:
            with Attempt(on_bytes) as count:
                _download_once(remote, store, pointer, key, count)
            return
        except FileNotFoundError:
            raise remote.missing(pointer.oid, key) from None
        except (ChecksumError, ShortRead) as exc:
            if not remote.exists(remote.manifest_key(pointer.oid)):
                message = (
                    f"{remote.display} has only part of object {pointer.oid} "
                    f"({remote.relative(key)} without its manifest: an interrupted push)"
                )
                raise RemoteObjectMissing(message) from None
            if isinstance(exc, ChecksumError):
                raise  # the remote's copy is wrong: another try reads the same bytes
            if attempt == remote.tries - 1:
                raise RemoteError(f"{remote.display}: fetching {pointer.oid}: {exc}") from exc
            remote.pause(attempt)
        except GitModelError:
            raise
        except Exception as exc:  # backends raise their own types (botocore, aiohttp …)
            if attempt == remote.tries - 1 or remote.is_final(exc):
                raise RemoteError(
                    f"{remote.display}: fetching {pointer.oid}: {backends.describe(exc)}"
                ) from exc
            remote.pause(attempt)


def _download_once(remote: RemoteStore, store: LocalStore, pointer: Pointer, key: str,
                   count: ByteCount) -> None:  # fmt: skip
    """One try: the object's bytes through a store writer (in memory while small, in
    ``tmp/`` once large, hashed as they come); nothing stays behind unless proven."""
    with store.writer() as writer:

        def take(data: bytes) -> None:
            writer.write(data)
            count(len(data))

        received = read(remote, key, pointer.size, take)
        if received > pointer.size:
            raise RemoteObjectDamaged(
                f"{remote.display}: object {pointer.oid} ({remote.relative(key)}) is longer "
                f"than the {pointer.size} bytes its pointer says; not read further"
            )
        try:
            writer.commit(pointer)
        except ChecksumError as exc:
            if received < pointer.size:  # cut short on the way, or a truncated copy
                raise ShortRead(f"{received} of {pointer.size} bytes arrived") from None
            where = f"remote object {pointer.oid} from {remote.display} ({remote.relative(key)})"
            error = ChecksumError(where, exc.expected, exc.actual)
            error.hint = DAMAGED_HINT
            raise error from None


def verify(remote: RemoteStore, pointer: Pointer) -> bool:
    """True when the remote's whole object hashes to the pointer's oid and size
    (streamed, not kept; read no further than one byte past the size)."""
    digest = hashlib.sha256()
    try:
        size = read(remote, remote.data_key(pointer.oid), pointer.size, digest.update)
    except FileNotFoundError:
        return False
    return (digest.hexdigest(), size) == (pointer.oid, pointer.size)


def read(remote: RemoteStore, key: str, size: int, take: Callable[[bytes], object]) -> int:
    """Read ``key`` from its start, handing each range to ``take``: at most ``size``
    plus one byte (so a copy that is too long shows, and is never read further), in
    ranges of :data:`SMALL_OBJECT` (one request each). Returns the bytes read."""
    received = 0
    while received <= size:
        left = size + 1 - received
        asked = left if left <= SMALL_OBJECT + 1 else SMALL_OBJECT  # never start at the end
        data = remote.ranged(key, received, received + asked)
        take(data)
        received += len(data)
        if len(data) < asked:
            break  # the object ended
    return received
