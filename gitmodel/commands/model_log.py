"""``git model log PATH[@REV]``: every version of a model file through history."""

from __future__ import annotations

import json

from gitmodel.errors import UserError
from gitmodel.lineage.history import repo_path, versions
from gitmodel.sizes import format_size
from gitmodel.specs import PathSpec, unknown_rev_hint
from gitmodel.workspace import open_repo


def log(spec: PathSpec, as_json: bool = False) -> int:
    """List the versions of PATH reachable from REV (default HEAD), newest first."""
    repo, _ = open_repo()
    path, rev = repo_path(repo, spec.path), spec.rev or "HEAD"
    found = versions(repo, path, rev)
    if not found:
        raise UserError(
            f"no version of a model file {path} in {rev}",
            hint=unknown_rev_hint(spec)
            or f"check the path; `git model ls-files {rev}` lists model files",
        )
    if as_json:
        print(json.dumps({"path": path, "versions": [v.to_json() for v in found]}, indent=2))
        return 0
    for v in found:
        print(f"{v.commit[:10]} {v.date[:10]} {v.oid[:10]} {format_size(v.size):>9} "
              f"{v.path}  {v.author}: {v.message}")  # fmt: skip
    return 0
