"""``git model versions NAME``: every committed version of a registered model."""

from __future__ import annotations

import json
import sys

from gitmodel import git
from gitmodel.registry import declare
from gitmodel.registry.versions import versions
from gitmodel.sizes import format_size
from gitmodel.text import printable


def list_versions(name: str, as_json: bool = False) -> int:
    """Every committed version of NAME, oldest first."""
    repo = git.Repo.discover()
    registry = declare.load(repo)
    model = registry.model(name)
    found = versions(repo, registry, model)
    if as_json:
        print(json.dumps({"model": name, "versions": [v.to_json() for v in found]}, indent=2))
        return 0
    if not found:
        print(f"{name}: no committed version yet", file=sys.stderr)
    for v in found:
        size = format_size(sum(f.size for f in v.files))
        print(
            f"v{v.number:<4} {v.commit[:10]} {v.date[:10]} {len(v.files):>3} file(s) "
            f"{size:>9}  {printable(v.author)}: {printable(v.message)}"
        )
        for f in v.files:
            print(f"        {(f.oid or 'git:' + f.blob)[:12]} {printable(f.path)}")
    return 0
