"""How an object is kept on a model remote: the one place that chooses, both ways.

- **whole** (layout 1, ``whole.py``): the file under ``data/``, beside a JSON manifest.
  Written when ``model.chunking=false``; every remote from before chunking holds these.
- **chunked** (layout 2, ``chunked.py``): content-defined chunks in shared packs, and a
  binary manifest listing them. The default, and the only one that can be encrypted.

A push writes what the remote's settings say (:func:`upload`). A read goes by what the
remote holds (:func:`stored_as`): a layout-1 remote has whole objects only; on a
layout-2 remote each object's manifest says which it is. So remotes of either
layout, and objects of both kinds on one remote, read the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gitmodel.errors import ChecksumError
from gitmodel.manifest import Manifest
from gitmodel.pointer import Pointer
from gitmodel.remote import chunked, whole
from gitmodel.remote.errors import RemoteError
from gitmodel.remote.store import LAYOUT_VERSION, LAYOUT_WHOLE, RemoteStore
from gitmodel.remote.workers import each

if TYPE_CHECKING:
    from gitmodel.progress import ByteCount
    from gitmodel.store.chunking import Segmenter
    from gitmodel.store.local import LocalStore


def upload(
    remote: RemoteStore, store: LocalStore, todo: list[Pointer], jobs: int,
    segmenter: Segmenter | None, done: Callable[[Pointer], None],
    on_bytes: ByteCount | None = None,
) -> tuple[dict[str, Exception], int]:  # fmt: skip
    """Send ``todo`` (objects the remote lacks) in the layout the remote's settings ask
    for. Returns the failures by oid and the bytes that crossed the network.

    Every layout calls ``on_bytes`` (if given) with the bytes of each part of an
    object as it is sent, so that progress moves within a large object."""
    if not remote.chunked:
        failed, _ = each(todo, lambda p: whole.upload(remote, store, p, on_bytes), jobs, done)
        return failed, sum(p.size for p in todo if p.oid not in failed)
    remote.ensure_layout(LAYOUT_VERSION)
    session = chunked.ChunkedPush(remote, store, segmenter, jobs, on_bytes)
    failed = session.run(todo, done)
    return failed, session.sent_bytes


def stored_as(remote: RemoteStore, pointer: Pointer) -> Manifest | None:
    """The chunked manifest of ``pointer`` on the remote, or None for a whole object.
    Raises :class:`RemoteObjectMissing` when the remote does not have it."""
    if remote.layout_version() == LAYOUT_WHOLE:
        return None  # no chunked object yet: the data file is read (or found missing)
    return remote.read_manifest(pointer)


def download(
    remote: RemoteStore, store: LocalStore, pointer: Pointer,
    local: chunked.LocalChunks | None = None, on_bytes: ByteCount | None = None,
) -> int:  # fmt: skip
    """Fetch one object into ``store``, verified; nothing unverified is ever kept.
    Returns the bytes read from the remote (fewer than the object's size when
    ``local`` objects already held some of its chunks). ``on_bytes`` is called with
    the bytes of each range as it arrives (of the object, whatever their source)."""
    found = stored_as(remote, pointer)
    if found is None:
        whole.download(remote, store, pointer, on_bytes)
        return pointer.size
    local = local or chunked.LocalChunks(store, remote.cipher.key_check)
    return chunked.download(remote, store, pointer, found, local, on_bytes)


def verify(remote: RemoteStore, pointer: Pointer) -> bool:
    """True when the remote has ``pointer`` and its bytes hash to the oid (streamed)."""
    if pointer.oid not in remote.present([pointer.oid]):
        return False
    try:
        found = remote.read_manifest(pointer)
    except RemoteError:
        return False
    if found is None:
        return whole.verify(remote, pointer)
    try:
        chunked.verify(remote, pointer, found)
    except (ChecksumError, chunked.ChunkedError):
        return False
    return True
