"""The two sides of a diff as places to read any path, and the sharded checkpoints on them.

``git diff`` lists changed files only; a model-level view of a sharded checkpoint also
needs its index and its unchanged shards, so each side (a commit's tree, the index, or
the worktree) is asked for the files of a folder. Symlinks are never followed: a
committed one is not a shard, and a worktree path must lead through real directories.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import stat
from collections.abc import Iterable
from pathlib import Path

from gitmodel import git, safepath
from gitmodel.formats.base import FormatError
from gitmodel.formats.diff import FileContent, FileDiff
from gitmodel.formats.shards import ShardedModel, diff_sharded, is_index, read_sharded
from gitmodel.resolver import Resolver
from gitmodel.store.digests import DigestStore
from gitmodel.store.local import hash_file

_SYMLINK = 0o120000


class Side:
    """Files by repository path on one side: ``rev`` (a commit), else the index
    (``index=True``), else the tracked files of the worktree."""

    def __init__(self, repo: git.Repo, resolver: Resolver, rev: str | None = None,
                 index: bool = False, untracked: bool = False) -> None:  # fmt: skip
        self.repo, self.resolver, self.rev, self.index = repo, resolver, rev, index
        self.untracked = untracked  # the worktree's untracked files too (inspect)
        self._folders: dict[str, dict[str, str]] = {}

    def files(self, folder: str) -> dict[str, str]:
        """Path -> blob id ("" in the worktree) of the regular files right in ``folder``."""
        if folder not in self._folders:
            self._folders[folder] = {
                p: blob for p, blob in self._listing(folder).items()
                if posixpath.dirname(p) == folder
            }  # fmt: skip
        return self._folders[folder]

    def _listing(self, folder: str) -> dict[str, str]:
        if self.untracked and self.rev is None and not self.index:
            return self._worktree(folder)
        spec = [folder] if folder else []
        if self.rev is not None:
            entries = self.repo.ls_tree(self.rev, spec)
        else:  # the index; the worktree has what it tracks, as git diff sees it
            entries = self.repo.ls_files([f":(literal){p}" for p in spec])
        found = {e.path: e.oid for e in entries if e.mode & 0o170000 != _SYMLINK}
        if self.rev is not None or self.index:
            return found
        return {path: "" for path in found if _regular(self.repo.top, path)}

    def _worktree(self, folder: str) -> dict[str, str]:
        """Every regular file right in ``folder``, reached through real directories."""
        names = [f"{folder}/{name}" if folder else name for name in _names(self.repo.top, folder)]
        return {path: "" for path in names if _regular(self.repo.top, path)}

    def content(self, path: str) -> FileContent | None:
        """A file's content on this side (None: not there, or not a regular file)."""
        blob = self.files(posixpath.dirname(path)).get(path)
        if blob is None:
            return None
        if blob == "":
            return self.resolver.file(self.repo.top / path, path)
        return self.resolver.blob(blob, path)


class NoFiles(Side):
    """The side before the first commit: nothing on it."""

    def _listing(self, folder: str) -> dict[str, str]:
        return {}


def _names(top: Path, folder: str) -> list[str]:
    if folder:
        try:
            status = safepath.lstat(safepath.Target(top, folder))
        except safepath.UnsafePathError:
            return []
        if status is None or not stat.S_ISDIR(status.st_mode):
            return []
    try:
        return os.listdir(top / folder if folder else top)
    except OSError:
        return []


def _regular(top: Path, path: str) -> bool:
    try:
        status = safepath.lstat(safepath.Target(top, path))
    except safepath.UnsafePathError:
        return False
    return status is not None and stat.S_ISREG(status.st_mode)


def index_files(sides: Iterable[Side], folders: Iterable[str]) -> list[str]:
    """The shard indexes in ``folders`` on any of the sides."""
    sides = list(sides)
    found = {p for folder in set(folders) for side in sides for p in side.files(folder)}
    return sorted(p for p in found if is_index(p))


def sharded_diffs(
    old: Side, new: Side, changed: set[str], sidecars: DigestStore
) -> tuple[list[FileDiff], set[str]]:
    """Model-level diffs of the sharded checkpoints that ``changed`` paths touch, and
    the paths they cover (their indexes and shards, on either side)."""
    folders = {posixpath.dirname(p) for p in changed}
    diffs, covered = [], set()
    for index in index_files((old, new), folders):
        try:
            models = [_model(side, index) for side in (old, new)]
        except FormatError as exc:  # a bad index: the shards are still diffed one by one
            diffs.append(FileDiff(index, None, None, note=str(exc)))
            covered.add(index)
            continue
        paths = {index} | {p for m in models if m is not None for p in m.shards}
        if paths & changed:
            a, b = models
            indexes = _hashed(old.content(index)), _hashed(new.content(index))
            diffs.append(diff_sharded(index, a, b, sidecars, *indexes))
            covered |= paths
    return diffs, covered


def _hashed(content: FileContent | None) -> FileContent | None:
    """An index file (a plain Git file, at most 64 MiB) with its sha256, so that a diff
    names each side's version rather than none."""
    if content is None or content.oid is not None:
        return content
    return dataclasses.replace(content, oid=hash_file(content.file)[0])


def _model(side: Side, index: str) -> ShardedModel | None:
    content = side.content(index)
    return None if content is None else read_sharded(index, content, side.content)
