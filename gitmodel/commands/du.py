"""``git model du``: how much the remote stores against what its objects add up to;
``--local``: what the worktree and the local store take on disk, counting each block
once (a lent object is one file under two names, a reflink shares extents), and what a
prune could free."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from gitmodel import safepath
from gitmodel.remote.config import remote_for
from gitmodel.scan import index_pointers, needed_nearby
from gitmodel.sizes import format_size
from gitmodel.store import onecopy
from gitmodel.workspace import check_remote_argument, open_repo


def du(remote_name: str | None, as_json: bool) -> int:
    """Print the remote's logical bytes, stored bytes and dedup ratio."""
    repo, _ = open_repo()
    check_remote_argument(repo, repo.settings(), remote_name, "du")
    model_remote = remote_for(repo, repo.settings(), remote_name,
                              without_remote="for the disk use of this clone alone: "
                              "git model du --local")  # fmt: skip
    remote = model_remote.open_store("`git model du`")
    remote.check_layout()
    usage = remote.usage()
    ratio = usage.logical / usage.stored if usage.stored else 0.0
    if as_json:
        document = {
            "remote": remote.display,
            "objects": usage.objects,
            "logical_bytes": usage.logical,
            "stored_bytes": usage.stored,
            "pack_bytes": usage.pack_bytes,
            "packs": usage.packs,
            "whole_object_bytes": usage.whole_bytes,
            "metadata_bytes": usage.metadata_bytes,
            "dedup_ratio": round(ratio, 4),
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"remote       {remote.display}")
    print(f"objects      {usage.objects}")
    print(f"logical      {format_size(usage.logical)} (stored whole, as git-lfs would)")
    print(f"stored       {format_size(usage.stored)} ({usage.packs} pack(s) "
          f"{format_size(usage.pack_bytes)}, whole objects {format_size(usage.whole_bytes)}, "
          f"manifests and indexes {format_size(usage.metadata_bytes)})")  # fmt: skip
    if usage.logical:
        print(f"dedup ratio  {ratio:.2f}x ({savings(usage.logical, usage.stored)})")
    else:
        print("dedup ratio  - (no objects yet)")
    return 0


def savings(logical: int, stored: int) -> str:
    """What dedup saved, said without a sign: manifests and indexes can make a store
    with nothing to share slightly larger than its objects, which is no saving, not a
    negative one (``-0%``)."""
    if stored >= logical:
        if stored == logical:
            return "nothing saved"
        return f"nothing saved; {format_size(stored - logical)} more than the objects"
    saved = (logical - stored) * 100 // logical  # rounded down: never claims 100%
    return f"{saved}% saved" if saved else "under 1% saved"


def du_local(as_json: bool) -> int:
    """Print the worktree's model files and the local store on disk, each block once."""
    repo, store = open_repo()
    store_inodes: dict[tuple[int, int], int] = {}  # (device, inode) -> bytes on disk
    object_bytes = 0
    object_dirs = (f"{store.objects_dir}{os.sep}", f"{store.packs.root}{os.sep}")
    for path, held in _files_under(store.root):
        key = (held.st_dev, held.st_ino)
        if key not in store_inodes and path.startswith(object_dirs):
            object_bytes += held.st_blocks * 512
        store_inodes[key] = held.st_blocks * 512
    files = logical = own = lent = reflinked = 0
    seen: set[tuple[int, int]] = set()
    top = repo.top
    for item in index_pointers(repo):
        target = safepath.Target(top, item.path)
        try:
            st = safepath.lstat(target)
        except safepath.UnsafePathError:
            continue
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != item.pointer.size:
            continue  # not checked out (still its pointer), or not ours to count
        files += 1
        logical += st.st_size
        key = (st.st_dev, st.st_ino)
        if key in store_inodes:
            lent += st.st_size
            continue
        if key in seen:
            continue
        seen.add(key)
        on_disk = st.st_blocks * 512
        src = safepath.open_file(target)
        if src is not None:
            with src:
                shared = min(onecopy.shared_bytes(src.fileno()), on_disk)
            reflinked += shared
            on_disk -= shared
        own += on_disk
    needed = needed_nearby(repo)
    prunable = [oid for oid in store.oids() if oid not in needed]
    freed = sum(_freed(store.object_path(oid), store.size(oid)) for oid in prunable)
    store_bytes = sum(store_inodes.values())
    report = {
        "worktree_files": files,
        "worktree_logical_bytes": logical,
        "worktree_own_bytes": own,
        "lent_bytes": lent,
        "reflinked_bytes": reflinked,
        "store_bytes": store_bytes,
        "store_object_bytes": object_bytes,
        "total_bytes": own + store_bytes,
        "prunable_objects": len(prunable),
        "prunable_bytes": freed,
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"worktree     {files} model file(s), {format_size(logical)}; "
          f"{format_size(own)} on disk of their own")  # fmt: skip
    print(f"shared       {format_size(lent)} lent by the store (one file, two names), "
          f"{format_size(reflinked)} in reflinked blocks")  # fmt: skip
    print(f"store        {format_size(store_bytes)} on disk "
          f"(objects {format_size(object_bytes)})")  # fmt: skip
    print(f"total        {format_size(own + store_bytes)} on disk")
    print(f"prunable     {len(prunable)} object(s), {format_size(freed)}, needed by no nearby "
          "commit (`git model prune` deletes those the remote holds)")  # fmt: skip
    return 0


def _files_under(root: Path) -> list[tuple[str, os.stat_result]]:
    """Every regular file under ``root`` and its status, never through a symlink (one
    removed meanwhile is left out)."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((path, st))
    return found


def _freed(path: Path, size: int) -> int:
    """What deleting an object frees: its file's blocks, unless another name (a
    worktree file) keeps them; a packed object's bytes."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return size
    return st.st_blocks * 512 if st.st_nlink == 1 else 0
