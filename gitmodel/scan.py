"""Find pointer files among Git blobs without reading any large blob."""

from __future__ import annotations

import stat
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from gitmodel import git, safepath
from gitmodel.pointer import POINTER_MAX_SIZE, Pointer, try_parse


@dataclass(frozen=True, slots=True)
class PointerFile:
    path: str
    blob: str  # the Git blob id of the pointer file
    pointer: Pointer
    commit: str = ""  # the commit it was found in (:func:`pointers_in_trees`)


def pointer_files(repo: git.Repo, entries: Iterable[git.FileEntry]) -> list[PointerFile]:
    """The entries whose blobs are canonical pointers."""
    files = [e for e in entries if e.mode & 0o170000 == 0o100000]  # no symlinks, submodules
    pointers = git.pointers_of(repo, {e.oid for e in files})
    return [PointerFile(e.path, e.oid, pointers[e.oid]) for e in files if e.oid in pointers]


def pointers_in_history(
    repo: git.Repo, revs: list[str], ignore_missing: bool = False
) -> list[PointerFile]:
    """Pointer files in every commit of ``revs`` (``git rev-list`` arguments, e.g.
    ``["main", "--not", "--remotes=origin"]``), each blob once; with ``ignore_missing``,
    revisions this repository lacks are left out instead of an error."""
    options = ["--ignore-missing"] if ignore_missing else []
    listing = repo.run(["rev-list", "--objects", "--no-object-names", *options, *revs, "--"]).stdout
    pointers = git.pointers_of(repo, listing.decode().split())
    return [PointerFile("", oid, pointer) for oid, pointer in pointers.items()]


def pointers_in_trees(repo: git.Repo, commits: list[str]) -> list[PointerFile]:
    """Pointer files in the trees of ``commits`` (full ids; no history walked), each
    blob read once, with the path and commit where it was first found (in the order
    given)."""
    listing = git.trees_of(repo, commits)
    pointers = git.pointers_of(repo, listing.oids())
    return [PointerFile(path, oid, pointers[oid], commit)
            for commit, oid, path in listing.named(pointers)]  # fmt: skip


def index_pointers(repo: git.Repo) -> list[PointerFile]:
    """Pointer files staged in this worktree's index."""
    return pointer_files(repo, repo.ls_files())


def worktree_dirs(repo: git.Repo) -> list[Path]:
    """Every worktree of the repository that still exists (the main one first)."""
    out = repo.run(["worktree", "list", "--porcelain", "-z"]).stdout.decode(
        "utf-8", "surrogateescape"
    )
    dirs = [
        Path(item[len("worktree ") :]) for item in out.split("\0") if item.startswith("worktree ")
    ]
    return [d for d in dirs if d.is_dir() and (d / ".git").exists()]


def stash_commits(repo: git.Repo) -> list[str]:
    """Each stash entry with its parents (the base, the index and untracked files)."""
    proc = repo.run(["log", "--walk-reflogs", "--format=%H %P", "refs/stash", "--"], check=False)
    return proc.stdout.decode().split() if proc.returncode == 0 else []


def checked_out_pointers(repo: git.Repo) -> set[Pointer]:
    """What every worktree has checked out or staged: each one's HEAD tree and index."""
    found: set[Pointer] = set()
    for path in worktree_dirs(repo) or [repo.cwd]:
        other = repo if path == repo.worktree else git.Repo.discover(path)
        if other.has_commits():
            found.update(f.pointer for f in pointer_files(other, other.ls_tree("HEAD")))
        found.update(f.pointer for f in index_pointers(other))
    return found


def stashed_pointers(repo: git.Repo) -> set[Pointer]:
    """Pointers in any stash entry: its worktree, index and untracked trees."""
    commits = stash_commits(repo)
    if not commits:
        return set()
    return {f.pointer for f in pointers_in_history(repo, ["--no-walk", *commits])}


DEFAULT_RECENT_DAYS = 10  # git-lfs: lfs.fetchrecentrefsdays (7) + lfs.pruneoffsetdays (3)


def needed_nearby(repo: git.Repo, days: int = DEFAULT_RECENT_DAYS) -> set[str]:
    """The objects ``git model prune`` keeps whatever the remote holds: what every
    worktree has checked out or staged, every stash entry, the commits of the last
    ``days`` days on any ref, and every commit no remote-tracking ref has."""
    keep = checked_out_pointers(repo) | stashed_pointers(repo)
    if repo.has_commits():
        since = int(time.time()) - days * 86400
        keep.update(f.pointer for f in pointers_in_history(repo, ["--all", f"--max-age={since}"]))
        unpushed = ["HEAD", "--branches", "--tags", "--not", "--remotes"]
        keep.update(f.pointer for f in pointers_in_history(repo, unpushed))
    return {pointer.oid for pointer in keep}


def checked_out_as_pointers(repo: git.Repo, modified: Collection[str] = ()) -> list[str]:
    """Model files whose worktree file is still the pointer the index holds (a clone made
    before the filter was installed, a skipped smudge, a checkout whose hook was killed):
    Git sees no change, since the pointer cleans to itself, or a modification where it
    saw the file another size (those ``modified``, when known). Only those files and
    those the index saw shorter than any pointer are read (100,000 files of model bytes
    cost no read)."""
    small = repo.small_index_files(POINTER_MAX_SIZE, also=set(modified))
    return [item.path for item in pointer_files(repo, small)
            if _holds_pointer(safepath.Target(repo.top, item.path), item.pointer)]  # fmt: skip


def _holds_pointer(target: safepath.Target, pointer: Pointer) -> bool:
    try:
        st = safepath.lstat(target)
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size >= POINTER_MAX_SIZE:
            return False
        src = safepath.open_file(target) if st.st_size != pointer.size else None
    except (safepath.UnsafePathError, OSError):
        return False
    if src is None:
        return False
    with src:
        return try_parse(src.read(POINTER_MAX_SIZE)) == pointer
