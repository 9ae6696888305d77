"""``git model ls-files``: the model files in the index or a commit."""

from __future__ import annotations

import json

from gitmodel.errors import UserError
from gitmodel.scan import pointer_files
from gitmodel.sizes import format_size
from gitmodel.text import printable
from gitmodel.workspace import open_repo


def ls_files(rev: str | None = None, as_json: bool = False, long: bool = False) -> int:
    repo, store = open_repo()
    if rev is None and repo.worktree is None:
        raise UserError("a bare repository has no index to list",
                        hint="name a commit: `git model ls-files HEAD`")  # fmt: skip
    entries = repo.ls_tree(repo.rev_parse(rev)) if rev is not None else repo.ls_files()
    files = pointer_files(repo, entries)
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
        print(json.dumps({"files": rows}, indent=2))
        return 0
    for f in files:
        oid = f.pointer.oid if long else f.pointer.oid[:10]
        mark = "*" if store.has(f.pointer.oid) else "-"
        print(f"{oid} {mark} {printable(f.path)} ({format_size(f.pointer.size)})")
    return 0
