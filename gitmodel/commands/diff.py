"""``git model diff``: what changed inside model files, tensor by tensor."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.formats.diff import FileContent, FileDiff, diff_versions
from gitmodel.formats.report import diff_json, diff_text
from gitmodel.formats.shards import is_index
from gitmodel.resolver import Resolver
from gitmodel.sides import NoFiles, Side, sharded_diffs
from gitmodel.store.digests import DigestStore
from gitmodel.text import printable
from gitmodel.workspace import open_repo


def diff(revs: list[str], paths: list[str], cached: bool = False, as_json: bool = False) -> int:
    """Compare model files like ``git diff``: worktree vs index, REV vs worktree, or
    two revisions; ``cached`` compares the index with REV (default HEAD)."""
    repo, store = open_repo()
    _check_revs(repo, revs, cached)
    _check_paths(repo, paths)
    entries = git.diff_raw(revs, paths, Path.cwd(), cached=cached, renames=True)
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    sidecars = DigestStore(store.root)
    diffs: list[FileDiff] = []
    with tempfile.TemporaryDirectory(dir=store.tmp_dir) as tmp:
        resolver = Resolver(repo, store, Path(tmp))
        models = model_entries(repo, entries, resolver)
        unmerged = [e.path for e in models if e.unmerged]  # in conflict: no one version
        models = [e for e in models if not e.unmerged]
        covered: set[str] = set()
        sides = _sides(repo, resolver, revs, cached)
        if sides is not None:  # sharded checkpoints: one model-level diff each
            changed = {p for e in models for p in (e.path, e.old_path)}
            changed |= {e.path for e in entries if is_index(e.path)}
            diffs, covered = sharded_diffs(*sides, changed, sidecars)
        for entry in models:
            if entry.path in covered or entry.old_path in covered:
                continue
            old = _side(resolver, repo, entry.old_blob, entry.old_path)
            new = _side(resolver, repo, entry.new_blob, entry.path)
            diffs.append(diff_versions(entry.path, old, new, sidecars, entry.old_path))
    if as_json:
        listed = {"files": [diff_json(d) for d in diffs], "unmerged": unmerged}
        print(json.dumps(listed, indent=2))
    else:
        for path in unmerged:  # as git diff says it; `git model status` shows both sides
            print(f"* Unmerged path {printable(path)}")
        for d in diffs:
            print("\n".join(diff_text(d)))
    return 0


def _sides(
    repo: git.Repo, resolver: Resolver, revs: list[str], cached: bool
) -> tuple[Side, Side] | None:
    """Where each side of the diff reads files, as ``git diff`` chooses them (None for
    a ``A...B`` merge-base range: no model-level view)."""
    if len(revs) == 1 and ".." in revs[0]:
        if "..." in revs[0]:
            return None
        revs = [part or "HEAD" for part in revs[0].split("..", 1)]
    if len(revs) == 2:
        return Side(repo, resolver, revs[0]), Side(repo, resolver, revs[1])
    if cached and not revs and not repo.has_commits():  # as git diff --cached: all is new
        return NoFiles(repo, resolver), Side(repo, resolver, index=True)
    old = Side(repo, resolver, revs[0] if revs else ("HEAD" if cached else None), index=True)
    new = Side(repo, resolver, index=True) if cached else Side(repo, resolver)
    return old, new


def _check_revs(repo: git.Repo, revs: list[str], cached: bool) -> None:
    if len(revs) > (1 if cached else 2):
        raise UserError("too many revisions", hint="give at most two; put paths after --")
    for rev in revs:
        if rev.startswith("-"):
            raise UserError(f"{rev!r} is not a revision", hint="put paths after --")
        for part in rev.split("..") if ".." in rev else [rev]:
            if part:
                repo.rev_parse(part.removeprefix("."))


def _check_paths(repo: git.Repo, paths: list[str]) -> None:
    """Each path (not a ``:(magic)`` pathspec) is inside the worktree, as git diff needs."""
    if repo.worktree is None:
        return
    for path in paths:
        if path.startswith(":"):
            continue  # git reads the magic, and names a bad one itself
        rel = os.path.relpath(os.path.normpath(os.path.join(os.getcwd(), path)), repo.top)
        if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
            raise UserError(f"{printable(path)!r} is outside the repository",
                            hint=f"name a path under {printable(str(repo.top))}")  # fmt: skip


def model_entries(
    repo: git.Repo, entries: list[git.DiffEntry], resolver: Resolver
) -> list[git.DiffEntry]:
    """The entries that are model files: a pointer on either side, or ``diff=model``."""
    if not entries:
        return []
    attrs = repo.check_attr("diff", [e.path for e in entries])
    resolver.read_pointers(blob for e in entries for blob in (e.old_blob, e.new_blob) if blob)
    return [e for e in entries if attrs.get(e.path) == "model" or _has_pointer(resolver, e)]


def _has_pointer(resolver: Resolver, entry: git.DiffEntry) -> bool:
    blobs = (entry.old_blob, entry.new_blob)
    return any(blob and resolver.pointer_of(blob) for blob in blobs)


def _side(resolver: Resolver, repo: git.Repo, blob: str | None, path: str) -> FileContent | None:
    if blob is None:
        return None
    if blob == "":
        file = repo.top / path
        return resolver.file(file, path) if file.exists() else None
    return resolver.blob(blob, path)
