"""How an object is kept on a model remote: the one place that chooses, both ways.

- **whole** (layout 1, ``whole.py``): the file under ``data/``, beside a JSON manifest.
  Written when ``model.chunking=false``; every remote from before chunking holds these.
- **chunked** (layout 2, ``chunked.py``): content-defined chunks in shared packs, and a
  binary manifest listing them. The default, and the only one that can be encrypted.
- **lfs** (``lfs.py``): a Git LFS host. Objects go whole, where its Batch API says.

A push writes what the remote's settings say (:func:`upload`). A read goes by what the
remote holds (:func:`stored_as`): a layout-1 remote has whole objects only; on a
layout-2 remote each object's manifest says which it is. So remotes of either
layout, and objects of both kinds on one remote, read the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias

from gitmodel.errors import ChecksumError
from gitmodel.pointer import Pointer
from gitmodel.remote.errors import RemoteError, RemoteObjectDamaged
from gitmodel.remote.workers import each

# Each kind of remote's modules are loaded where they are used: a push to an LFS host
# never loads the object-storage layouts (bulk, chunked, whole, store, trust, fsspec),
# one to object storage never loads the HTTP client (lfs), and a push that sends
# nothing, which is every push through the pre-push hook that adds no model file,
# loads neither.
Remote: TypeAlias = "RemoteStore | LfsRemote"
PROBE_OID = "0" * 64  # no object has it

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from gitmodel.manifest import Manifest
    from gitmodel.progress import ByteCount
    from gitmodel.remote import chunked
    from gitmodel.remote.bulk import Stored
    from gitmodel.remote.lfs import LfsRemote
    from gitmodel.remote.store import RemoteStore
    from gitmodel.store.chunking import Segmenter
    from gitmodel.store.local import LocalStore


def on_host(remote: Remote) -> TypeIs[LfsRemote]:
    """Whether ``remote`` is an LFS host; asked of the remote itself, so that telling
    the kinds apart loads neither kind's module."""
    return remote.lfs_host


def check(remote: Remote) -> None:
    """Refuse a remote this version cannot use (its layout, its key), before any transfer."""
    if on_host(remote):
        return  # every request is checked as it is answered
    remote.check_layout()


def probe(remote: Remote) -> None:
    """Reach the remote once, as ``doctor`` does: its layout file, or one batch request
    to an LFS host (what it says about the made-up object it is asked for is ignored)."""
    if on_host(remote):
        remote.plan("download", [Pointer(PROBE_OID, 1)])
    else:
        remote.check_layout()


def attach(remote: Remote, store: LocalStore) -> None:
    """Keep what is learnt of ``remote``'s manifest batches beside its cached pack
    indexes in ``store``, so that each batch is read once per clone."""
    if not on_host(remote) and remote.batches.cache is None:
        from gitmodel.remote.trust import index_cache

        remote.batches.cache_in(index_cache(remote, store) / "batches")


def lacking(remote: Remote, pointers: dict[str, Pointer]) -> list[Pointer]:
    """Which objects the remote does not have: one listing per oid prefix on object
    storage, one batch request per 100 objects on an LFS host."""
    if on_host(remote):
        return remote.lacking(pointers.values())
    remote.check_layout()
    present = remote.present(pointers)
    return [p for oid, p in pointers.items() if oid not in present]


def present(remote: Remote, pointers: Iterable[Pointer]) -> set[str]:
    """Which objects the remote has (without reading their bytes)."""
    if on_host(remote):
        plans = remote.plan("download", pointers)
        return {oid for oid, plan in plans.items() if "download" in plan.actions}
    return remote.present(p.oid for p in pointers)


def upload(
    remote: RemoteStore, store: LocalStore, todo: list[Pointer], jobs: int,
    segmenter: Segmenter | None, done: Callable[[Pointer], None],
    on_bytes: ByteCount | None = None,
) -> tuple[dict[str, Exception], int]:  # fmt: skip
    """Send ``todo`` (objects the remote lacks) in the layout the remote's settings ask
    for. Returns the failures by oid and the bytes that crossed the network. (An LFS
    host is sent to by ``transfer``, whose batch requests overlap the sends.)

    Every layout calls ``on_bytes`` (if given) with the bytes of each part of an
    object as it is sent, so that progress moves within a large object."""
    from gitmodel.remote import chunked, whole
    from gitmodel.remote.store import LAYOUT_VERSION

    if not remote.chunked:
        failed, _ = each(todo, lambda p: whole.upload(remote, store, p, on_bytes), jobs, done)
        return failed, sum(p.size for p in todo if p.oid not in failed)
    remote.ensure_layout(LAYOUT_VERSION)
    attach(remote, store)
    batched = len(todo) >= chunked.BATCH_MIN
    session = chunked.ChunkedPush(remote, store, segmenter, jobs, on_bytes, batched)
    failed = session.run(todo, done)
    return failed, session.sent_bytes


def stored_as(remote: RemoteStore, pointer: Pointer) -> Manifest | None:
    """The chunked manifest of ``pointer`` on the remote, or None for a whole object.
    Raises :class:`RemoteObjectMissing` when the remote does not have it."""
    from gitmodel.remote.store import LAYOUT_WHOLE

    if remote.layout_version() == LAYOUT_WHOLE:
        return None  # no chunked object yet: the data file is read (or found missing)
    return remote.read_manifest(pointer)


def prepare_download(remote: Remote, pointers: list[Pointer], store: LocalStore | None = None,
                     jobs: int = 8, on_stored: Stored | None = None) -> int:  # fmt: skip
    """Ask once for what a batch of downloads needs (an LFS host's actions for all);
    with ``store``, fetch the small chunked objects among them in bulk (``bulk.py``),
    leaving any it could not for :func:`download` to fetch, or to report; ``on_stored``
    is told of each object it stored, as it is. Returns the bytes read."""
    if on_host(remote):
        remote.plan_ahead("download", pointers)
    elif pointers:
        from gitmodel.remote import bulk
        from gitmodel.remote.store import LAYOUT_WHOLE

        remote.check_layout()
        if store is not None and remote.layout_version() > LAYOUT_WHOLE:
            attach(remote, store)
            return bulk.prefetch(remote, store, pointers, jobs, on_stored)
    return 0


def download(
    remote: Remote, store: LocalStore, pointer: Pointer,
    local: chunked.LocalChunks | None = None, on_bytes: ByteCount | None = None,
) -> int:  # fmt: skip
    """Fetch one object into ``store``, verified; nothing unverified is ever kept.
    Returns the bytes read from the remote (fewer than the object's size when
    ``local`` objects already held some of its chunks). ``on_bytes`` is called with
    the bytes of each range as it arrives (of the object, whatever their source)."""
    if on_host(remote):
        return remote.download(store, pointer, on_bytes)
    from gitmodel.remote import chunked, whole

    if store.has(pointer.oid, recheck_packs=False):
        return 0  # fetched with others (``prepare_download``)
    attach(remote, store)
    found = stored_as(remote, pointer)
    if found is None:
        whole.download(remote, store, pointer, on_bytes)
        return pointer.size
    local = local or chunked.LocalChunks(store, remote.cipher.key_check)
    return chunked.download(remote, store, pointer, found, local, on_bytes)


def damaged(remote: Remote, store: LocalStore, pointers: list[Pointer]) -> dict[str, list[str]]:
    """Read back the remote's copy of each of ``pointers`` it lists; returns those that
    are damaged (oid → the packs its manifest names). A transfer failure raises: an
    object that could not be read is not taken to be damaged."""
    if on_host(remote):
        raise RemoteError(
            f"{remote.display}: an LFS host's objects cannot be repaired from here",
            hint="the host checks what it is sent: ask its administrators to delete the object",
        )
    from gitmodel.remote import chunked, whole

    remote.check_layout()
    attach(remote, store)
    listed = remote.present(p.oid for p in pointers)
    found_damaged: dict[str, list[str]] = {}
    for pointer in pointers:
        if pointer.oid not in listed:
            continue  # a push sends it anyway
        found = None
        try:
            found = stored_as(remote, pointer)
            if found is None:
                sound = whole.verify(remote, pointer)
            else:
                chunked.verify(remote, pointer, found)
                sound = True
        except (RemoteObjectDamaged, ChecksumError, chunked.ChunkedError):
            sound = False
        if not sound:
            found_damaged[pointer.oid] = found.packs if found is not None else []
    return found_damaged


def forget(remote: RemoteStore, found_damaged: dict[str, list[str]]) -> None:
    """Make the remote forget damaged objects, so that a push sends them again: their
    manifests go (from their batches too), then the indexes of the packs they used,
    so that no push reuses a damaged chunk (a manifest still naming such a pack reads
    as before)."""
    remote.delete_objects(found_damaged)
    for pack in sorted({pack for packs in found_damaged.values() for pack in packs}):
        remote.forget_pack(pack)


def verify(remote: Remote, pointer: Pointer) -> bool:
    """True when the remote has ``pointer`` and its bytes hash to the oid (streamed)."""
    if on_host(remote):
        return remote.verify(pointer)
    from gitmodel.remote import chunked, whole

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
