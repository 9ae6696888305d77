"""``git model lock`` / ``unlock`` / ``locks``: file locks for what cannot be merged."""

from __future__ import annotations

import json
import sys

from gitmodel import locking
from gitmodel.text import printable
from gitmodel.workspace import open_repo


def lock(paths: list[str], remote: str | None = None) -> int:
    """Lock each PATH for this user, on the remote everyone pushes to."""
    repo, _ = open_repo()
    locks = locking.for_remote(repo, repo.settings(), remote)
    for path in paths:
        taken = locks.lock(locking.path_to_lock(repo, path))
        locking.set_read_only(repo.top, [taken.path], writable=True)
        print(f"Locked {printable(taken.path)}")
    return 0


def unlock(paths: list[str], force: bool = False, remote: str | None = None) -> int:
    """Release each PATH's lock (``force``: someone else's too, which is recorded, or
    one whose file has changes not yet committed and pushed)."""
    repo, _ = open_repo()
    settings = repo.settings()
    locks = locking.for_remote(repo, settings, remote)
    lockable = set(locking.lockable_paths(repo))
    for path in paths:
        path = locking.repo_path(repo, path)
        if not force:
            locking.check_finished(repo, path, locking.remote_name(settings, remote))
        released = locks.unlock(path, force)
        if released.path in lockable:
            locking.set_read_only(repo.top, [released.path], writable=False)
        print(f"Unlocked {printable(released.path)}")
    return 0


def list_locks(as_json: bool = False, remote: str | None = None) -> int:
    """Every lock on the remote: path, owner and since when."""
    repo, _ = open_repo()
    found = sorted(locking.for_remote(repo, repo.settings(), remote).current().values(),
                   key=lambda lock: lock.path)  # fmt: skip
    if as_json:
        json.dump([lock.to_json() for lock in found], sys.stdout, indent=2)
        print()
        return 0
    for item in found:
        owner = f"{item.owner} <{item.email}>" if item.email else item.owner
        print(f"{printable(item.path)}\t{owner}\tID:{item.id}\t{item.at}")
    return 0
