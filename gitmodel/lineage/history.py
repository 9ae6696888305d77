"""Versions of a model file through Git history, and the version a ``PATH[@REV]`` names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.pointer import Pointer
from gitmodel.specs import PathSpec, unknown_rev_hint

_RECORD = b"\x1e"
_FIELD = b"\x1f"
_LOG_FORMAT = "--format=%x1e%H%x1f%T%x1f%aI%x1f%an%x1f%ae%x1f%s"


@dataclass(frozen=True)
class HistoryEntry:
    """One version of a model file in its history: the commit that wrote this content at
    ``path`` (a :class:`FileVersion` is the file as any revision holds it)."""

    path: str
    oid: str
    size: int
    commit: str
    tree: str  # the commit's root tree: the code the version was committed with
    date: str  # author date, strict ISO 8601
    author: str
    email: str
    message: str

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "oid": self.oid, "size": self.size, "commit": self.commit,
                "tree": self.tree, "date": self.date, "author": self.author,
                "email": self.email, "message": self.message}  # fmt: skip


@dataclass(frozen=True)
class FileVersion:
    """A model file as one revision holds it; or a folder of tracked files, one data set
    (``files`` counts them; ``oid`` is their listing's digest, ``size`` their total:
    :mod:`gitmodel.lineage.folders`)."""

    path: str
    oid: str
    size: int
    commit: str
    files: int | None = None


def versions(repo: git.Repo, path: str, rev: str = "HEAD") -> list[HistoryEntry]:
    """Every version of ``path`` reachable from ``rev``, newest first, following renames.

    A commit that only renames the file, or changes it to something that is not a
    pointer (untracked content, deletion), adds no version.
    """
    commit = repo.rev_parse(rev)
    args = ["log", "--follow", _LOG_FORMAT, "--raw", "--no-abbrev", "-z", commit, "--", path]
    out = repo.run(args).stdout
    changes = []
    for chunk in out.split(_RECORD)[1:]:
        header, _, raw = chunk.partition(b"\0")
        fields = header.decode("utf-8", "replace").split("\x1f")
        changes += [(blob, at_path, fields) for blob, at_path in _raw_changes(raw)]
    pointers = git.pointers_of(repo, [blob for blob, _, _ in changes])
    found: list[HistoryEntry] = []
    for blob, at_path, fields in changes:
        pointer = pointers.get(blob)
        if pointer is not None:
            found.append(HistoryEntry(at_path, pointer.oid, pointer.size, *fields[:6]))
    return [v for i, v in enumerate(found) if i + 1 == len(found) or found[i + 1].oid != v.oid]


def _raw_changes(raw: bytes) -> list[tuple[str, str]]:
    """(new blob, new path) of each ``--raw -z`` change."""
    tokens = raw.split(b"\0")
    changes = []
    i = 0
    while i < len(tokens):
        token = tokens[i].lstrip(b"\n")
        if not token.startswith(b":"):
            i += 1
            continue
        meta = token.decode().split()
        paths = 2 if meta[4][:1] in ("R", "C") else 1
        changes.append((meta[3], os.fsdecode(tokens[i + paths])))
        i += paths + 1
    return changes


def _pointer(repo: git.Repo, blob: str) -> Pointer | None:
    return git.read_pointer(repo, blob)  # None for the null id: deleted


def repo_path(repo: git.Repo, path: str) -> str:
    """``path`` (relative to the current directory) as a path in the repository."""
    top = repo.top
    full = os.path.normpath(os.path.join(os.getcwd(), path))
    rel = os.path.relpath(full, top)
    if rel == "." or rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
        raise UserError(f"{path!r} is outside the repository", hint=f"name a file under {top}")
    return Path(rel).as_posix()


def file_version(repo: git.Repo, spec: PathSpec, default_rev: str = "HEAD") -> FileVersion:
    """The model file version ``PATH[@REV]`` names (REV defaults to ``default_rev``)."""
    rev = spec.rev or default_rev
    path, hint = repo_path(repo, spec.path), unknown_rev_hint(spec)
    return version_at(repo, path, repo.rev_parse(rev), rev, missing_hint=hint)


def version_at(
    repo: git.Repo, path: str, commit: str, label: str = "", missing_hint: str | None = None
) -> FileVersion:
    """The model file at ``path`` in ``commit``; a user error when it is none."""
    listed = repo.ls_tree(commit, [path])  # the file, or every file under a folder
    entries = [e for e in listed if e.path == path]
    where = label or commit[:10]
    if not entries and any(e.path.startswith(f"{path}/") for e in listed):
        raise UserError(f"{path} is a folder in {where}, not a model file",
                        hint=f"name one of its files: `git model ls-files {where}` lists them, "
                        f"`git model log {path}` their versions")  # fmt: skip
    if not entries:
        hint = missing_hint or f"`git model ls-files {where}` lists its model files"
        raise UserError(f"{path} is not in {where}", hint=hint)
    pointer = _pointer(repo, entries[0].oid)
    if pointer is None:
        raise UserError(
            f"{path} in {where} is not a model file",
            hint="track it with `git model track PATTERN`, then add and commit it",
        )
    return FileVersion(path, pointer.oid, pointer.size, commit)
