"""``git model prune``: free local space, like ``git lfs prune``.

An object is deleted only when nothing nearby needs it and the remote has it; the
temporary files of writes killed midway (in ``tmp/``, their process gone) go too.
Kept: everything the commits of the last ``--recent`` days (on any ref) name,
what every worktree has checked out or staged, every stash entry, every commit
not yet on a remote-tracking ref, and anything the remote lacks. With
``--verify-remote`` the remote's copy is read back and hash-checked first.
"""

from __future__ import annotations

import contextlib
import sys

from gitmodel.pointer import Pointer
from gitmodel.remote import layouts
from gitmodel.remote.config import remote_for
from gitmodel.scan import DEFAULT_RECENT_DAYS, needed_nearby
from gitmodel.sizes import format_size
from gitmodel.store.local import LocalStore
from gitmodel.workspace import open_repo


def prune(dry_run: bool, recent_days: int | None, verify_remote: bool,
          remote_name: str | None = None) -> int:  # fmt: skip
    """Delete local objects that are unreferenced nearby and safely on the remote."""
    repo, store = open_repo()
    settings = repo.settings()
    days = DEFAULT_RECENT_DAYS if recent_days is None else recent_days
    _remove_unfinished(store, dry_run)
    candidates = sorted(set(store.oids()) - needed_nearby(repo, days))
    if not candidates:
        print("prune: nothing to delete")
        return 0
    remote = remote_for(repo, settings, remote_name).open()
    on_remote = layouts.present(remote, [Pointer(oid, store.size(oid)) for oid in candidates])
    safe = [oid for oid in candidates if oid in on_remote]
    if verify_remote:
        safe = _verified(remote, store, safe)
    kept = len(candidates) - len(safe)
    total = sum(store.size(oid) for oid in safe)
    if dry_run:
        for oid in safe:
            print(f"would delete {oid} ({format_size(store.size(oid))})")
    else:
        store.remove(set(safe))
    verb = "would delete" if dry_run else "deleted"
    print(f"prune: {verb} {len(safe)} object(s), {format_size(total)}"
          + (f"; kept {kept} the remote lacks" if kept else ""))  # fmt: skip
    return 0


def _remove_unfinished(store: LocalStore, dry_run: bool) -> None:
    """Delete the temporary files of writes that were killed midway (no object is ever
    one of them: an object is renamed into place only once whole)."""
    total = 0
    unfinished = store.unfinished_writes()
    for path in unfinished:
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
            if not dry_run:
                path.unlink()
    if unfinished:
        verb = "would delete" if dry_run else "deleted"
        print(f"prune: {verb} {len(unfinished)} unfinished write(s) in model/tmp/, "
              f"{format_size(total)}")  # fmt: skip


def _verified(remote: layouts.Remote, store: LocalStore, oids: list[str]) -> list[str]:
    """The oids whose remote copy reads back whole and correct."""
    good = []
    for oid in oids:
        if layouts.verify(remote, Pointer(oid, store.size(oid))):
            good.append(oid)
        else:
            print(f"prune: keeping {oid}: the remote copy does not verify", file=sys.stderr)
    return good
