"""``git model migrate import --from-lfs``: adopt a git-lfs repository as it is.

git-lfs pointers are gitmodel pointers, byte for byte, so no commit changes:
the objects in ``.git/lfs/objects`` are copied into the model store (each one
hashed; a corrupt one is reported and skipped), ``.gitattributes`` files move
from ``filter=lfs`` to ``filter=model`` in one new commit, git-lfs's own hooks
give way to ours, and ``filter.lfs`` is pointed at gitmodel in this repository
so that old commits, whose attributes still say ``filter=lfs``, check out from
the model store too, with no network and no git-lfs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gitmodel import attributes, git, safepath
from gitmodel.errors import ChecksumError, UserError
from gitmodel.installation import install_hooks, lfs_filter_config
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.pushing import adopt
from gitmodel.sizes import format_size
from gitmodel.store.local import CHUNK_SIZE, LocalStore, write_atomically

LFS_HOOK_MARK = "This repository is configured for Git LFS"
COMMIT_MESSAGE = "Move large files from git-lfs to gitmodel"
ATTRIBUTES_MAX = 100 << 20  # Git reads no .gitattributes larger than this either


def is_lfs_repository(repo: git.Repo) -> bool:
    """Whether there is anything of git-lfs's to adopt: a committed ``.gitattributes``
    naming ``filter=lfs``, an object in ``<git dir>/lfs/objects``, or a git-lfs hook."""
    if attribute_changes(repo):
        return True
    if next((repo.common_dir / "lfs" / "objects").glob("??/??/*"), None) is not None:
        return True
    return bool(_lfs_hooks(repo))


def import_from_lfs(repo: git.Repo, store: LocalStore) -> int:
    """Import the objects, switch the attributes, hooks and filter; 1 if an object was bad."""
    switched = attribute_changes(repo)  # first: a refused path changes nothing
    imported, bad = import_lfs_objects(repo, store)
    size = sum(p.size for p in imported)
    print(f"migrate: imported {len(imported)} git-lfs object(s), {format_size(size)}")
    adopt(store, imported)
    if imported:
        print("migrate: the next push sends them to the model remote (or now: git model push)")
    for oid in bad:
        print(f"migrate: skipped corrupt git-lfs object {oid}; fetch it from the git-lfs "
              "server (`git lfs fetch --all`) and run this again", file=sys.stderr)  # fmt: skip
    for name in remove_lfs_hooks(repo):
        print(f"migrate: removed git-lfs hook {name}")
    install_hooks(repo)
    for key, value in lfs_filter_config(skip_smudge=False).items():
        git.config_set(key, value, "local", repo.cwd)
    changed = switch_attributes(switched)
    if changed:
        repo.run(["add", "--", *changed])
        repo.run(["commit", "-q", "-m", COMMIT_MESSAGE, "--", *changed])
        print(f"migrate: committed {', '.join(changed)} with filter=model")
    return 1 if bad else 0


def import_lfs_objects(repo: git.Repo, store: LocalStore) -> tuple[list[Pointer], list[str]]:
    """Copy every valid object of ``<git dir>/lfs/objects`` into ``store``, verified:
    those copied, and the oids of those whose bytes did not match."""
    imported: list[Pointer] = []
    bad = []
    for path in sorted((repo.common_dir / "lfs" / "objects").glob("??/??/*")):
        oid = path.name
        if not is_valid_oid(oid) or not path.is_file() or store.has(oid):
            continue
        try:
            _copy_in(store, path, Pointer(oid, path.stat().st_size))
        except ChecksumError:
            bad.append(oid)
            continue
        imported.append(Pointer(oid, path.stat().st_size))
    return imported, bad


def _copy_in(store: LocalStore, path: Path, pointer: Pointer) -> None:
    with store.writer() as writer, open(path, "rb") as src:
        while chunk := src.read(CHUNK_SIZE):
            writer.write(chunk)
        writer.commit(pointer)


def remove_lfs_hooks(repo: git.Repo) -> list[str]:
    """Delete the hooks ``git lfs install`` wrote (also where ours kept them, as
    ``.gitmodel-legacy`` or ``.legacy``)."""
    removed = _lfs_hooks(repo)
    for path in removed:
        path.unlink()
    return [path.name for path in removed]


def _lfs_hooks(repo: git.Repo) -> list[Path]:
    if not repo.hooks_dir.is_dir():
        return []
    found = []
    for path in sorted(repo.hooks_dir.iterdir()):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if LFS_HOOK_MARK in text and "git lfs " in text:
            found.append(path)
    return found


def attribute_changes(repo: git.Repo) -> list[tuple[safepath.Target, str]]:
    """Each committed ``.gitattributes`` that names ``filter=lfs``, with its committed
    text moved to ``filter=model``. One with changes not committed is refused (the new
    commit would take them in unseen), unless it already holds the new text (a run that
    was stopped before its commit). Read without following a symlink: one in the way is
    refused."""
    listed = repo.run(["ls-files", "-z", "--", ":(glob)**/.gitattributes"]).stdout
    changes = []
    for name in sorted(os.fsdecode(p) for p in listed.split(b"\0") if p):
        target = safepath.Target(repo.top, name)
        text = _read_text(target)
        committed = git.file_at(repo, "HEAD", name, ATTRIBUTES_MAX)
        base = text if committed is None else committed.decode("utf-8", "surrogateescape")
        new_text = attributes.lfs_to_model(base)
        if new_text == base:
            continue
        if text not in (base, new_text):
            raise UserError(f"{name} has changes that are not committed",
                            hint="commit or stash them, then run this again")  # fmt: skip
        changes.append((target, new_text))
    return changes


def _read_text(target: safepath.Target) -> str:
    src = safepath.open_file(target)
    if src is None:
        return ""
    with src:
        return src.read().decode("utf-8", "surrogateescape")


def switch_attributes(changes: list[tuple[safepath.Target, str]]) -> list[str]:
    """Write the ``.gitattributes`` files :func:`attribute_changes` planned; their paths."""
    for target, text in changes:
        write_atomically(target, [text.encode("utf-8", "surrogateescape")])
    return [target.rel for target, _ in changes]
