"""Sending model objects to the model remote: what the pre-push hook does before Git sends
refs, and the report both it and ``git model push`` print.

Objects taken in from elsewhere (``migrate import --from-lfs``) are named by commits the
remote already has, so a scan of the pushed commits would never send them; they are
listed in ``<model dir>/adopted`` instead, sent by the next push and then forgotten."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import sys
import threading
from typing import TYPE_CHECKING, BinaryIO

from gitmodel import git, locking
from gitmodel.errors import GitModelError, UserError
from gitmodel.logs import records
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.remote import transfer
from gitmodel.remote.config import ModelRemote, for_local_url, remote_for, with_settings
from gitmodel.scan import pointers_in_history
from gitmodel.sizes import format_size
from gitmodel.store import onecopy
from gitmodel.store.local import LocalStore
from gitmodel.text import printable
from gitmodel.trace import trace
from gitmodel.urls import redact

if TYPE_CHECKING:  # the store is loaded by a push that sends objects, not by every push
    from gitmodel.remote.store import RemoteStore

ZERO_OIDS = {"0" * 40, "0" * 64}
ADOPTED = "adopted"
SENT_DIR = "pushed"
SENT_TIPS = 32  # commits remembered per remote


def pre_push(repo: git.Repo, store: LocalStore, remote_name: str, url: str, stdin: bytes,
             settings: dict[str, str] | None = None) -> int:  # fmt: skip
    """Git's pre-push hook: stdin has "<local ref> <local oid> <remote ref> <remote oid>"
    lines; ``settings``: the repository's, when they were read already."""
    settings = repo.settings() if settings is None else settings
    named = f"remote.{remote_name}.url" in settings
    updates = [
        fields
        for fields in (line.split() for line in stdin.decode().splitlines())
        if len(fields) == 4 and fields[1] not in ZERO_OIDS
    ]
    local_oids = [fields[1] for fields in updates]
    if not local_oids:
        return 0  # only deletions
    # what the remote already has: its tracking refs, the commits it names for the refs
    # pushed (when we have them) and what earlier pushes sent to the same model store
    exclude = [f"--remotes={remote_name}"] if named else []
    exclude += [fields[3] for fields in updates if fields[3] not in ZERO_OIDS]
    memo = SentTips(store, remote_name if named else url)
    new = all(fields[3] in ZERO_OIDS for fields in updates)  # branches the Git remote lacks
    remote: ModelRemote | None = None
    holding = store.holds_any()
    if memo.path.exists():  # its store had objects once: resolving it now is no surprise
        remote = _model_remote(repo, settings, remote_name, url, named)
    elif holding:  # objects here may be sent: which store, if any, can say now
        with contextlib.suppress(GitModelError):  # none: said when an object needs one
            remote = _model_remote(repo, settings, remote_name, url, named)
    ahead = _load_ahead(remote) if remote is not None and holding else None
    tips = memo.read(remote) if remote is not None else []
    revs = [*local_oids, "--not", *exclude, *tips]
    if named:
        refuse_locked_changes(repo, settings, remote_name, revs,
                              refs=[fields[2] for fields in updates])  # fmt: skip
    pending = adopted(store)
    pointers = [f.pointer for f in pointers_in_history(repo, revs, ignore_missing=True)]
    # the commits left out may not be on the store after all: ask it on a new branch, or
    # when it is opened anyway to send objects (its layout, read once, is the answer)
    said_held = [*exclude, *tips]
    ask = remote is not None and bool(said_held) and (new or bool(pointers or pending))
    if ahead is not None and (ask or pointers or pending):
        ahead.join()  # loaded: nothing imports while the store is asked, or an upload forks
    opened = _open_store(remote) if ask and remote is not None else None
    refill = opened is not None and not _holds_objects(opened)
    if refill and remote is not None:  # the store lacks what it was said to hold: send that too
        pointers += _said_held(repo, store, said_held, pointers, remote)
    repo.pointer_blobs = None  # scanned: the upload has better use for its memory
    before = " and those the remote is said to hold (its model store is empty)" if refill else ""
    trace(f"pre-push: {len(pointers)} pointer(s) in {shlex.join(revs)}{before}")
    if not pointers and not pending:
        if remote is not None:
            memo.remember(remote, local_oids)
        return 0  # nothing of ours in these commits: no store needed
    if remote is None:
        remote = _model_remote(repo, settings, remote_name, url, named, len(pointers))
    pointers += pending
    target = opened if opened is not None else remote.open()
    sent = transfer.upload(target, store, pointers, segmenter=_tensor_starts)
    report(sent, remote, quiet=False)
    if remote.persists:  # else the store's copy stays the only one: never lent
        onecopy.note_held(store.root, remote.url, pointers)
    forget_adopted(store, pending)
    memo.remember(remote, local_oids)
    return 0


def _load_ahead(remote: ModelRemote) -> threading.Thread:
    """Load the code an upload to ``remote`` runs, on another thread, while Git finds
    what to send, so its load (tens of milliseconds) no longer adds to the push: the LFS
    client, or the chunked transfer. Only gitmodel's own modules and what they import:
    a storage SDK loads where it is used (gcsfs imported on another thread left the
    next call to it waiting forever). The upload joins it first."""

    def load() -> None:
        with contextlib.suppress(Exception):  # the upload itself reports what fails
            if remote.lfs:
                import gitmodel.remote.lfs  # noqa: F401
            else:
                from gitmodel.remote import chunked, layouts, store  # noqa: F401

    thread = threading.Thread(target=load, name="gitmodel-load", daemon=True)
    thread.start()
    return thread


def _said_held(repo: git.Repo, store: LocalStore, revs: list[str], found: list[Pointer],
               remote: ModelRemote) -> list[Pointer]:  # fmt: skip
    """The objects of the history a push leaves out, ``revs`` (the remote-tracking refs,
    the commits the Git remote names for the refs pushed, earlier pushes' tips: the Git
    remote is said to have them), beyond those ``found``, for a model store found empty,
    as far as this clone holds them. Those it lacks are a warning, not a refusal: the push
    cannot make them less there than they are, and the objects of the commits being
    pushed, which must all be sent, are checked as always."""
    known = {p.oid for p in found}
    rest = [f.pointer for f in pointers_in_history(repo, revs, ignore_missing=True)
            if f.pointer.oid not in known]  # fmt: skip
    lacking = {p.oid for p in store.lacking(rest)}
    held = [p for p in rest if p.oid not in lacking]
    if lacking:
        print(f"gitmodel: warning: {remote.display} is empty, and {len(lacking)} "
              "model object(s) of earlier commits are not here either: clones of those "
              "commits will lack them", file=sys.stderr)  # fmt: skip
        print("hint: push again from a clone that has them; `git model fsck --remote` "
              "lists them", file=sys.stderr)  # fmt: skip
    return held


def _open_store(remote: ModelRemote) -> RemoteStore | None:
    """``remote`` opened as object storage, for the upload and :func:`_holds_objects` to
    share; None for an LFS host, or a store that cannot be opened now (the upload says
    why, if it comes to one)."""
    if remote.lfs:
        return None
    try:
        return remote.open_store()
    except GitModelError:
        return None


def _holds_objects(remote: RemoteStore) -> bool:
    """Whether a model store holds objects: False when it has no layout file, that is
    when it was emptied, or made anew at the same URL (a Git remote deleted and made
    again, or ``model.remote`` pointed at a new bucket), though earlier pushes or the
    remote-tracking refs say it has them; a push then sends every commit's objects again,
    as Git sends every commit to a new repository. Asked of a push of branches the Git
    remote lacks, and of one that sends objects, for which the layout is read anyway. A
    store that cannot be asked now is taken at its word."""
    try:
        return not remote.is_empty()
    except GitModelError:
        return True


def _tensor_starts(f: BinaryIO) -> list[int]:
    """:func:`gitmodel.formats.tensor_starts`, loaded by the first chunked upload that
    asks (an LFS host takes files whole and never does)."""
    from gitmodel.formats import tensor_starts

    return tensor_starts(f)


def _model_remote(
    repo: git.Repo, settings: dict[str, str], remote_name: str, url: str, named: bool,
    count: int = 0,
) -> ModelRemote:  # fmt: skip
    """The model store a push to ``remote_name`` (or ``url``) uploads to."""
    if named:
        return remote_for(repo, settings, remote_name)
    # pushing to a URL: only a local repository has a place for objects
    found = for_local_url(repo, url or remote_name)
    if found is None:
        raise UserError(
            f"nowhere to upload {count} model object(s) pushed to {redact(url)}",
            hint="push to a named remote with a model store (`git model remote set`)",
        )
    return with_settings(found, settings)


class SentTips:
    """The commits whose every model object an earlier push sent to one model store,
    newest first, so the next push to the same Git remote scans only what is new.

    ``<model dir>/pushed/<sha256 of the Git remote's name or URL, 24 hex>`` holds the
    sha256 of the model store's URL, then up to :data:`SENT_TIPS` commit ids, a line each.
    A tip stands for its whole history, since a push sends all of it that the remote
    lacked; tips of another store (the remote's store was changed), or that are no longer
    commits here, are ignored. Deleting the file only costs one full scan."""

    def __init__(self, store: LocalStore, remote: str) -> None:
        key = hashlib.sha256(remote.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        self.path = store.root / SENT_DIR / key

    def read(self, remote: ModelRemote) -> list[str]:
        """The tips recorded for ``remote``'s store; none for another store's."""
        try:
            lines = self.path.read_text(encoding="ascii", errors="replace").splitlines()
        except OSError:
            return []
        if not lines or lines[0] != _store_key(remote):
            return []
        return [tip for tip in lines[1 : SENT_TIPS + 1] if _is_commit_id(tip)]

    def remember(self, remote: ModelRemote, tips: list[str]) -> None:
        """Add ``tips``, whose objects are now on ``remote``'s store (the oldest drop)."""
        kept = list(dict.fromkeys([*tips, *self.read(remote)]))[:SENT_TIPS]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(f"{line}\n" for line in [_store_key(remote), *kept]),
                       encoding="ascii")  # fmt: skip
        tmp.replace(self.path)


def _store_key(remote: ModelRemote) -> str:
    return hashlib.sha256(remote.url.encode("utf-8", "surrogateescape")).hexdigest()


def _is_commit_id(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def refuse_locked_changes(
    repo: git.Repo, settings: dict[str, str], remote: str, revs: list[str],
    refs: list[str] | None = None,
) -> None:  # fmt: skip
    """Stop a push that changes lockable files someone else has locked (asked of the
    remote only when the push changes a file marked ``lockable``). An LFS host is asked
    about each remote ref the push updates (``refs``), as git-lfs asks it."""
    out = repo.run(["log", "--format=", "--name-only", "-z", "--ignore-missing", *revs,
                    "--"]).stdout  # fmt: skip
    changed = {os.fsdecode(p).strip("\n") for p in out.split(b"\0") if p.strip(b"\n")}
    changed = set(locking.lockable_paths(repo, sorted(changed))) if changed else set()
    if not changed:
        return
    keeper = locking.for_remote(repo, settings, remote)
    if isinstance(keeper, locking.LfsLocks):
        asked: list[str | None] = list(dict.fromkeys(refs or [])) or [None]
        held = {path: lock for ref in asked for path, lock in keeper.theirs(ref).items()}
        theirs = [held[path] for path in sorted(changed) if path in held]
    else:
        try:
            _, email = records.identity(repo)
        except UserError:
            email = ""
        theirs = locking.conflicts(changed, keeper.current(), email)
    if theirs:
        first = theirs[0]
        more = f" (and {len(theirs) - 1} more)" if len(theirs) > 1 else ""
        raise UserError(f"cannot push: {printable(first.path)} is locked by {first.owner}{more}",
                        hint="ask them to unlock it (`git model locks`), or push without "
                        "that change")  # fmt: skip


def adopt(store: LocalStore, pointers: list[Pointer]) -> None:
    """List objects for the next push to send, whatever commits it pushes."""
    if pointers:
        store.root.mkdir(parents=True, exist_ok=True)
        with open(store.root / ADOPTED, "a", encoding="ascii") as listing:
            listing.writelines(f"{p.oid} {p.size}\n" for p in pointers)


def adopted(store: LocalStore) -> list[Pointer]:
    """The objects :func:`adopt` listed that this store still has."""
    try:
        text = (store.root / ADOPTED).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    found: dict[str, Pointer] = {}
    for line in text.splitlines():
        oid, _, size = line.partition(" ")
        if is_valid_oid(oid) and size.isdigit() and store.has(oid):
            found[oid] = Pointer(oid, int(size))
    return list(found.values())


def forget_adopted(store: LocalStore, sent: list[Pointer]) -> None:
    """Drop what a push sent from the list (objects adopted meanwhile stay on it)."""
    if not sent:
        return
    done = {p.oid for p in sent}
    left = [p for p in adopted(store) if p.oid not in done]
    path = store.root / ADOPTED
    if not left:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{ADOPTED}.tmp")
    tmp.write_text("".join(f"{p.oid} {p.size}\n" for p in left), encoding="ascii")
    tmp.replace(path)


def report(sent: transfer.Moved, remote: ModelRemote, quiet: bool) -> None:
    if sent.pointers and not quiet:
        total = sum(p.size for p in sent.pointers)
        new = f" ({format_size(sent.transferred)} new)" if sent.transferred < total else ""
        print(f"gitmodel: uploaded {len(sent.pointers)} object(s), {format_size(total)}{new}, "
              f"to {remote.display}", file=sys.stderr)  # fmt: skip
