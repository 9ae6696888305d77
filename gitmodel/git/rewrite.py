"""Rewrite history tree by tree (pygit2), for ``git model migrate``.

Each commit is recreated with the same author, committer, dates, message and
encoding over a rewritten tree; a commit whose tree and parents did not change
keeps its id. Trees are rewritten once per (tree, path) and blobs converted once
per blob, so a long history with few changes costs little more than its commits.
Signatures cannot survive a rewrite and are dropped, as with ``git lfs migrate``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import cast

import pygit2

from gitmodel import git

ATTRIBUTES = ".gitattributes"
_BLOB_MODES = (0o100644, 0o100755)
_TREE_MODE = 0o040000

Convert = Callable[[pygit2.Oid], pygit2.Oid]  # a blob's id -> its replacement's id
EditAttributes = Callable[[bytes | None], bytes | None]  # old .gitattributes -> new (None: none)


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A gitattributes-style glob: ``*`` and ``?`` stay within a directory, ``**`` does not."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def glob_match(pattern: str, path: str) -> bool:
    """Whether ``path`` matches ``pattern`` as a ``.gitattributes`` line at the top would:
    a pattern without a slash matches the file name at any depth."""
    if "/" not in pattern:
        return _glob_regex(pattern).fullmatch(path.rsplit("/", 1)[-1]) is not None
    return _glob_regex(pattern.lstrip("/")).fullmatch(path) is not None


@dataclass
class Rewriter:
    """Rewrites commits whose blobs at ``globs`` paths go through ``convert``."""

    repo: git.Repo
    globs: list[str]
    convert: Convert
    edit_attributes: EditAttributes
    commits: dict[pygit2.Oid, pygit2.Oid] = field(default_factory=dict)  # old id -> new
    _trees: dict[tuple[pygit2.Oid, str], pygit2.Oid] = field(default_factory=dict)
    _roots: dict[pygit2.Oid, pygit2.Oid] = field(default_factory=dict)
    _blobs: dict[pygit2.Oid, pygit2.Oid] = field(default_factory=dict)

    def selected(self, path: str) -> bool:
        return any(glob_match(g, path) for g in self.globs)

    def rewrite_commits(self, shas: list[str]) -> None:
        """Rewrite ``shas``, parents before children (``rev-list --topo-order --reverse``)."""
        pyrepo = self.repo.pygit
        for sha in shas:
            commit = cast(pygit2.Commit, pyrepo[sha])
            parents = [self.commits.get(p, p) for p in commit.parent_ids]
            tree = self.root_tree(commit.tree)
            if tree == commit.tree_id and parents == list(commit.parent_ids):
                self.commits[commit.id] = commit.id
                continue
            self.commits[commit.id] = pyrepo.create_commit(
                None, commit.author, commit.committer, commit.raw_message, tree, parents,
                *([commit.message_encoding] if commit.message_encoding else []),
            )  # fmt: skip

    def root_tree(self, tree: pygit2.Tree) -> pygit2.Oid:
        if tree.id not in self._roots:
            new_id = self._tree(tree, "")
            self._roots[tree.id] = self._with_attributes(new_id)
        return self._roots[tree.id]

    def _tree(self, tree: pygit2.Tree, prefix: str) -> pygit2.Oid:
        key = (tree.id, prefix)
        if key in self._trees:
            return self._trees[key]
        pyrepo = self.repo.pygit
        builder = None
        for entry in tree:
            name = entry.name or ""
            path = prefix + name
            if entry.filemode == _TREE_MODE:
                new = self._tree(cast(pygit2.Tree, pyrepo[entry.id]), path + "/")
            elif entry.filemode in _BLOB_MODES and self.selected(path):
                new = self._blob(entry.id)
            else:
                continue
            if new != entry.id:
                builder = builder or pyrepo.TreeBuilder(tree)
                builder.insert(name, new, entry.filemode)
        result = builder.write() if builder is not None else tree.id
        self._trees[key] = result
        return result

    def _blob(self, blob_id: pygit2.Oid) -> pygit2.Oid:
        if blob_id not in self._blobs:
            self._blobs[blob_id] = self.convert(blob_id)
        return self._blobs[blob_id]

    def _with_attributes(self, tree_id: pygit2.Oid) -> pygit2.Oid:
        pyrepo = self.repo.pygit
        tree = cast(pygit2.Tree, pyrepo[tree_id])
        try:
            old: bytes | None = blob(self.repo, tree[ATTRIBUTES].id).data
        except KeyError:
            old = None
        new = self.edit_attributes(old)
        if new == old:
            return tree_id
        builder = pyrepo.TreeBuilder(tree)
        if new is None:
            builder.remove(ATTRIBUTES)
        else:
            builder.insert(ATTRIBUTES, pyrepo.create_blob(new), 0o100644)
        return builder.write()


def blob(repo: git.Repo, oid: pygit2.Oid) -> pygit2.Blob:
    return cast(pygit2.Blob, repo.pygit[oid])


def tag_object(repo: git.Repo, tag_id: pygit2.Oid, target: pygit2.Oid) -> pygit2.Oid:
    """A copy of annotated tag ``tag_id`` pointing at ``target`` (its signature dropped)."""
    raw = bytes(repo.pygit.odb.read(tag_id)[1])
    header, sep, message = raw.partition(b"\n\n")
    lines = header.split(b"\n")
    lines[0] = b"object " + str(target).encode()
    cut = message.find(b"-----BEGIN PGP SIGNATURE-----")
    if cut < 0:
        cut = message.find(b"-----BEGIN SSH SIGNATURE-----")
    body = message[:cut] if cut >= 0 else message
    return repo.pygit.odb.write(pygit2.enums.ObjectType.TAG, b"\n".join(lines) + sep + body)


def blob_size(repo: git.Repo, oid: pygit2.Oid) -> int:
    return int(repo.pygit.odb.read_header(oid)[1])


def write_blob(repo: git.Repo, data: bytes) -> pygit2.Oid:
    return repo.pygit.create_blob(data)


def write_blob_from_file(repo: git.Repo, path: str) -> pygit2.Oid:
    """A blob of ``path``'s bytes, streamed by libgit2 (never whole in memory here)."""
    return repo.pygit.create_blob_fromdisk(path)


def tag_target(repo: git.Repo, oid: str) -> tuple[pygit2.Oid, pygit2.Oid] | None:
    """(the tag's id, what it points at) when ``oid`` is an annotated tag, else None."""
    obj = repo.pygit[oid]
    return (obj.id, obj.target) if isinstance(obj, pygit2.Tag) else None


def object_id(repo: git.Repo, oid: str) -> pygit2.Oid:
    return repo.pygit[oid].id
