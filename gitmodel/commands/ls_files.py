"""``git model ls-files``: the model files in the index or a commit."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.scan import pointer_files
from gitmodel.sizes import format_size
from gitmodel.text import printable
from gitmodel.workspace import no_index_hint, open_repo


def ls_files(
    rev: str | None = None, paths: Sequence[str] = (), as_json: bool = False, long: bool = False
) -> int:
    """The model files of the index (and those a merge left in conflict), or of REV;
    under ``paths`` (relative to the current folder) only. A REV that names no revision
    but an existing path is a path too, as Git reads ``git log data/``."""
    repo, store = open_repo()
    if rev is not None and repo.commit_of(rev) is None and os.path.lexists(rev):
        paths, rev = [rev, *paths], None
    if rev is None and repo.worktree is None:
        raise UserError("a bare repository has no index to list",
                        hint="name a commit: `git model ls-files HEAD`")  # fmt: skip
    tops = [_from_top(repo, p) for p in paths]
    if "" in tops:  # the top itself: everything
        tops = []
    unmerged: list[str] = []
    if rev is not None:
        entries = repo.ls_tree(repo.rev_parse(rev), tops)
    else:
        specs = [f":(top,literal){p}" for p in tops]
        entries = repo.ls_files(specs)
        unmerged = _model_paths(repo, repo.unmerged_paths(specs))
    files = pointer_files(repo, entries)
    if rev is None and (hint := no_index_hint(repo)):  # why the list is empty
        print(f"hint: {hint}", file=sys.stderr)
    if as_json:
        rows = [
            {
                "path": f.path,
                "oid": f.pointer.oid,
                "size": f.pointer.size,
                "present": store.has(f.pointer.oid),
            }
            for f in files
        ]
        print(json.dumps({"files": rows, **({"unmerged": unmerged} if rev is None else {})},
                         indent=2))  # fmt: skip
        return 0
    for f in files:
        oid = f.pointer.oid if long else f.pointer.oid[:10]
        mark = "*" if store.has(f.pointer.oid) else "-"
        print(f"{oid} {mark} {printable(f.path)} ({format_size(f.pointer.size)})")
    for path in unmerged:  # no one version to list: a merge left it in conflict
        blank = "-" * (64 if long else 10)
        print(f"{blank} U {printable(path)} (in conflict: `git model status` shows both sides)")
    return 0


def _model_paths(repo: git.Repo, paths: list[str]) -> list[str]:
    filters = repo.check_attr("filter", paths)
    return [p for p in paths if filters.get(p) == "model"]


def _from_top(repo: git.Repo, path: str) -> str:
    """``path`` (relative to the current folder) from the worktree's top ("" for the top);
    in a bare repository, as given."""
    if repo.worktree is None:
        return path.strip("/")
    rel = os.path.relpath(os.path.normpath(os.path.join(os.getcwd(), path)), repo.top)
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        raise UserError(f"{path!r} is outside the repository", hint=f"name a path under {repo.top}")
    return "" if rel == "." else Path(rel).as_posix()
