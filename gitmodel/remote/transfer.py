"""Moving objects between the local store and a remote: what to move, progress, errors.

Retries of single requests live in the remote store, and how each object is
written or read in ``layouts``; here a batch runs on a pool of workers and every
failure is collected, so a failed transfer names the objects it could not move
rather than stopping at the first.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitmodel.errors import GitModelError, ObjectMissingError, os_error_hint
from gitmodel.pointer import Pointer
from gitmodel.progress import Progress
from gitmodel.remote import default_jobs, layouts
from gitmodel.remote.errors import RemoteError, RemoteObjectDamaged, RemoteObjectMissing
from gitmodel.remote.workers import each

if TYPE_CHECKING:
    from gitmodel.remote.layouts import Remote
    from gitmodel.remote.lfs import LfsRemote, Plan
    from gitmodel.store.chunking import Segmenter
    from gitmodel.store.local import LocalStore

UPLOADING = "Uploading model objects"
DOWNLOADING = "Downloading model objects"
RETRY_HINT = "run the command again: objects already transferred are kept"
CHECK_HINT = "`git model fsck --remote` shows what the remote lacks"
UPLOAD_MISSING_HINT = (
    "fetch it first (`git model fetch`), or push from a clone that has it; "
    "`git model fsck --remote` lists every object neither here nor on the remote"
)


class TransferError(GitModelError):
    """Some objects could not be moved."""

    def __init__(self, verb: str, failed: dict[str, Exception]) -> None:
        names = ", ".join(sorted(failed)[:3]) + (" …" if len(failed) > 3 else "")
        first = next(iter(failed.values()))
        verb = verb.removesuffix("ing")  # the progress verb: "could not download …"
        super().__init__(f"could not {verb} {len(failed)} object(s): {names}: {first}")
        self.failed = failed
        self.hint = _hint(first, list(failed.values()))


def _hint(first: Exception, failures: list[Exception]) -> str:
    """What to do: what the first failure says fits it (a missing object, a damaged
    copy, a wrong pointer), or another's; running again only when every failure was
    the network's, after its retries."""
    for failure in (first, *failures):
        if isinstance(failure, GitModelError) and failure.hint:
            return failure.hint
    if all(_transient(failure) for failure in failures):
        return RETRY_HINT
    for failure in failures:  # a full disk, or a store that may not be written
        hint = os_error_hint(failure)
        if hint is not None:
            return hint
    return CHECK_HINT


def _transient(failure: Exception) -> bool:
    """A failure another run may not meet: the remote's (not an object's) after its
    retries, or the connection's."""
    if isinstance(failure, RemoteError):
        return not isinstance(failure, (RemoteObjectMissing, RemoteObjectDamaged))
    return isinstance(failure, (ConnectionError, TimeoutError))


@dataclass
class Moved:
    """What a transfer moved: the objects, and the bytes that crossed the network
    (fewer than theirs when the remote or the local store already had chunks)."""

    pointers: list[Pointer]
    transferred: int


def upload(
    remote: Remote, store: LocalStore, pointers: Iterable[Pointer],
    jobs: int | None = None, quiet: bool = False, segmenter: Segmenter | None = None,
) -> Moved:  # fmt: skip
    """Send what the remote lacks (found with one listing per oid prefix); returns what was sent.

    On a chunked remote only the chunks it lacks travel, packed (``layouts.py``);
    ``segmenter`` adds cuts where a file's structure has them (tensor starts)."""
    layouts.attach(remote, store)
    unique: dict[str, Pointer] = {}
    for pointer in pointers:
        if pointer.size > 0 and unique.setdefault(pointer.oid, pointer).size != pointer.size:
            store.check_size(pointer)  # two sizes for one oid: one pointer lies
            store.check_size(unique[pointer.oid])
    if layouts.on_host(remote):
        return _upload_to_host(remote, store, unique, jobs or default_jobs(), quiet)
    try:
        todo = layouts.lacking(remote, unique)
    except RemoteError as exc:  # nothing can be sent: say what that leaves behind
        raise TransferError("upload", dict.fromkeys(unique, exc)) from exc
    missing: dict[str, Exception] = {
        p.oid: ObjectMissingError(p.oid, hint=UPLOAD_MISSING_HINT)
        for p in todo
        if not store.has(p.oid)
    }
    if missing:  # the remote lacks them and so do we: refuse before sending anything
        raise TransferError("upload", missing)
    if not todo:
        return Moved([], 0)
    progress = Progress(UPLOADING, len(todo), sum(p.size for p in todo), quiet=quiet)
    try:
        failed, sent = layouts.upload(remote, store, todo, jobs or default_jobs(), segmenter,
                                      progress.object_done, progress.add)  # fmt: skip
    finally:
        progress.finish()
    if failed:
        raise TransferError("upload", failed)
    return Moved(todo, sent)


def _upload_to_host(remote: LfsRemote, store: LocalStore, unique: dict[str, Pointer],
                    jobs: int, quiet: bool) -> Moved:  # fmt: skip
    """Send what an LFS host asks for, its batch requests overlapping the uploads
    (:meth:`LfsRemote.plan_ahead`). The objects missing here are asked about first, all
    together, so that one the host lacks as well refuses the push before anything is
    sent; the others a hundred at a time while the first ones go. The progress line
    counts an object once the host has asked for it."""
    absent = [p for p in unique.values() if not store.has(p.oid)]
    missing = {p.oid for p in absent}
    present = [p for p in unique.values() if p.oid not in missing]
    progress = Progress(UPLOADING, 0, quiet=quiet)

    def asked(plans: dict[str, Plan]) -> None:
        wanted = [unique[oid] for oid, plan in plans.items() if "upload" in plan.actions]
        progress.expect(len(wanted), sum(p.size for p in wanted))

    try:
        lacking = remote.lacking(absent) if absent else []
        if not lacking:
            remote.plan_ahead("upload", present, asked)
    except RemoteError as exc:  # nothing can be sent: say what that leaves behind
        raise TransferError("upload", dict.fromkeys(unique, exc)) from exc
    if lacking:  # the host lacks them and so do we: refuse before sending anything
        raise TransferError("upload", {
            p.oid: ObjectMissingError(p.oid, hint=UPLOAD_MISSING_HINT) for p in lacking
        })  # fmt: skip
    sent: list[Pointer] = []

    def send(pointer: Pointer) -> int:
        if not remote.upload(store, pointer, progress.add):
            return 0  # the host has it
        sent.append(pointer)
        progress.object_done()
        return pointer.size

    try:
        failed, moved = each(present, send, jobs, lambda pointer: None)
    finally:
        progress.finish()
    if failed:
        raise TransferError("upload", failed)
    return Moved(sent, moved)


def download(
    remote: Remote, store: LocalStore, pointers: Iterable[Pointer],
    jobs: int | None = None, quiet: bool = False,
) -> Moved:  # fmt: skip
    """Fetch what the local store lacks."""
    todo = store.lacking(pointers)
    progress = Progress(DOWNLOADING, len(todo), sum(p.size for p in todo), quiet=quiet)
    try:
        ahead = layouts.prepare_download(remote, todo, store, jobs or default_jobs(),
                                         lambda pointer: progress.add(pointer.size))  # fmt: skip
    except RemoteError as exc:
        progress.finish()
        raise TransferError("download", {p.oid: exc for p in todo}) from exc
    local = None
    if not layouts.on_host(remote):
        from gitmodel.remote.chunked import LocalChunks

        local = LocalChunks(store, remote.cipher.key_check)
    fetch = functools.partial(layouts.download, remote, store, local=local, on_bytes=progress.add)
    try:
        failed, received = each(todo, fetch, jobs or default_jobs(), progress.object_done)
    finally:
        progress.finish()
    if failed:
        raise TransferError("download", failed)
    return Moved(todo, received + ahead)
