"""``git model fetch`` and ``pull``: bring model objects from the remote store."""

from __future__ import annotations

import fnmatch
import stat
import sys

from gitmodel import logsync, materialize, safepath
from gitmodel.pointer import try_parse
from gitmodel.remote import transfer
from gitmodel.remote.config import remote_for
from gitmodel.scan import PointerFile, pointer_files
from gitmodel.sizes import format_size
from gitmodel.store import onecopy
from gitmodel.store.local import write_atomically
from gitmodel.workspace import open_repo

POINTER_READ = 1024  # a worktree file this small may be a pointer left in place of content


def _select(files: list[PointerFile], include: list[str], exclude: list[str]) -> list[PointerFile]:
    def wanted(path: str) -> bool:
        if include and not any(fnmatch.fnmatchcase(path, g) for g in include):
            return False
        return not any(fnmatch.fnmatchcase(path, g) for g in exclude)

    return [f for f in files if wanted(f.path)]


def fetch(
    remote_name: str | None, refs: list[str], include: list[str], exclude: list[str],
    jobs: int | None = None, quiet: bool = False,
) -> int:  # fmt: skip
    """Download the objects of the files in REFs that the local store lacks; without REFs,
    of HEAD's files that are checked out (a sparse checkout leaves others out)."""
    repo, store = open_repo()
    remote = remote_for(repo, repo.settings(), remote_name)
    files: list[PointerFile] = []
    for ref in refs or ["HEAD"]:
        files += pointer_files(repo, repo.ls_tree(repo.rev_parse(ref)))
    if not refs:
        skipped = repo.skipped_paths()
        files = [f for f in files if f.path not in skipped]
    chosen = _select(files, include, exclude)
    got = transfer.download(remote.open(), store, [f.pointer for f in chosen], jobs, quiet)
    onecopy.note_held(store.root, remote.url, got.pointers)
    if got.pointers and not quiet:
        total = sum(p.size for p in got.pointers)
        # chunks already here (earlier versions) and compression make it less
        saved = f" ({format_size(got.transferred)} transferred)" if got.transferred < total else ""
        print(f"gitmodel: downloaded {len(got.pointers)} object(s), {format_size(total)}{saved}",
              file=sys.stderr)  # fmt: skip
    logsync.fetch_logs(repo, remote.name, quiet)
    return 0


def pull(
    remote_name: str | None, include: list[str], exclude: list[str],
    jobs: int | None = None, quiet: bool = False,
) -> int:  # fmt: skip
    """Fetch, then write the content of files that are still pointers in the worktree,
    or missing from it (as after a checkout that failed), like ``git lfs pull``."""
    fetch(remote_name, [], include, exclude, jobs, quiet)
    repo, store = open_repo()
    skipped = repo.skipped_paths()  # outside a sparse checkout: never written
    entries = [e for e in repo.ls_files() if e.path not in skipped]
    found = []  # every path is checked before anything is written
    for entry in _select(pointer_files(repo, entries), include, exclude):
        target = safepath.Target(repo.top, entry.path)
        found.append((entry, target, _head(target)))
    pending = []
    for entry, target, head in found:
        if head is None and store.has(entry.pointer.oid):
            # back as the pointer Git would have left, then as content
            head = entry.pointer.encode()
            write_atomically(target, [head])
        if head is not None and try_parse(head) == entry.pointer and store.has(entry.pointer.oid):
            pending.append(materialize.Pending(entry.path, entry.pointer))
    written = materialize.materialize(repo, store, pending, quiet)
    if written and not quiet:
        print(f"gitmodel: wrote {written} file(s) into the worktree", file=sys.stderr)
    return 0


def _head(target: safepath.Target) -> bytes | None:
    """The first bytes of a worktree file that may be a pointer (b"" when it is larger or
    unreadable), None when it is missing; refuses a path through a symlink."""
    st = safepath.lstat(target)
    if st is None:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size >= POINTER_READ:
        return b""
    try:
        src = safepath.open_file(target)
    except OSError:
        return b""
    if src is None:
        return None
    with src:
        return src.read(POINTER_READ)
