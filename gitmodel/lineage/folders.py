"""A folder of tracked files as one lineage input: a data set of many files, named by one
digest as a file version is by its content oid.

The digest is the sha256 of the folder's listing as Git holds it in one commit (or the
index): each file's path inside the folder, its content id (the pointer's oid for a
model file, the Git blob id for any other) and its size, sorted by path. It is a 64-hex
oid like a file's, so every reader of the lineage (graph, review, checks) takes it as one
version; the same files at the same paths make the same digest in any commit.
"""

from __future__ import annotations

import hashlib
import os

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.lineage.history import FileVersion, repo_path, version_at
from gitmodel.scan import pointer_files
from gitmodel.specs import PathSpec, unknown_rev_hint
from gitmodel.text import printable

LISTING_HEADER = b"gitmodel folder 1\n"
_GITLINK = 0o160000


def folder_version(repo: git.Repo, path: str, commit: str) -> FileVersion | None:
    """The folder ``path`` as ``commit`` ("" for the index) holds it, or None when it
    holds no folder there."""
    listed = repo.ls_tree(commit, [path]) if commit else repo.ls_files([f":(top,literal){path}"])
    prefix = f"{path}/"
    files = [e for e in listed if e.path.startswith(prefix) and e.mode & 0o170000 != _GITLINK]
    if not files:
        return None
    pointers = {f.path: f.pointer for f in pointer_files(repo, files)}
    sizes = git.headers(repo, [e.oid for e in files if e.path not in pointers])
    digest = hashlib.sha256(LISTING_HEADER)
    total = 0
    for entry in sorted(files, key=lambda e: os.fsencode(e.path)):
        pointer = pointers.get(entry.path)
        content, size = (f"sha256:{pointer.oid}", pointer.size) if pointer else (
            f"blob:{entry.oid}", sizes.get(entry.oid, ("", 0))[1])  # fmt: skip
        name = os.fsencode(entry.path[len(prefix) :])
        digest.update(name + b"\0" + f"{content} {size}\n".encode())
        total += size
    return FileVersion(path, digest.hexdigest(), total, commit, files=len(files))


def version_or_folder(repo: git.Repo, path: str, commit: str, label: str = "",
                      missing_hint: str | None = None) -> FileVersion:  # fmt: skip
    """The model file or the folder at ``path`` in ``commit``; a user error when neither."""
    found = folder_version(repo, path, commit)
    return found or version_at(repo, path, commit, label, missing_hint)


def spec_version(repo: git.Repo, spec: PathSpec) -> FileVersion:
    """The model file or folder ``PATH[@REV]`` names (REV defaults to HEAD)."""
    rev, path = spec.rev or "HEAD", repo_path(repo, spec.path)
    check_inside(repo, path)
    return version_or_folder(repo, path, repo.rev_parse(rev), rev, unknown_rev_hint(spec))


def check_inside(repo: git.Repo, path: str) -> None:
    """A user error when the worktree's ``path`` (from the top) leads outside the
    repository through a symlink."""
    if repo.worktree is None:
        return
    top = os.path.realpath(repo.worktree)
    real = os.path.realpath(os.path.join(top, path))
    if real != top and not real.startswith(top + os.sep):
        raise UserError(f"{printable(path)} leads outside the repository through a symlink",
                        hint="name a folder the repository holds")  # fmt: skip


def check_worktree(repo: git.Repo, path: str, staged_ok: bool) -> None:
    """A user error when the worktree's ``path`` (a file or folder) is not what is being
    recorded: untracked files, changes not staged, or (unless ``staged_ok``: the staged
    changes are being committed) changes not committed."""
    out = repo.run(["status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=all",
                    "--", f":(top,literal){path}"]).stdout  # fmt: skip
    for item in out.split(b"\0"):
        xy, name = item[:2].decode("ascii", "replace"), os.fsdecode(item[3:])
        if not item or (xy[1] == " " and (staged_ok or xy[0] == " ")):
            continue
        what = ("is untracked" if xy == "??" else "has changes not staged" if xy[1] != " "
                else "has changes not committed")  # fmt: skip
        raise UserError(
            f"{printable(name)} {what}: the worktree's {printable(path)} is not the version "
            "that would be recorded",
            hint=f"add and commit it first (`git add -- {printable(path)}`), or name a "
            f"committed version: {printable(path)}@HEAD",
        )
