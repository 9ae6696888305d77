"""Which record logs exist, and syncing them on push, fetch and clone.

Add a log kind to :func:`kinds` so that sync knows how to replay it (``commutes``);
logs of kinds not listed there are still pushed and fetched, but only fast-forwarded.
"""

from __future__ import annotations

import sys

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.logs import records
from gitmodel.logs import sync as records_sync


def kinds() -> dict[str, records.LogKind]:
    """The log kinds sync knows. Their modules (the registry's, lineage's) load only when
    a log is there to sync: every ``git clone`` fetches the logs, and most remotes have
    none."""
    from gitmodel import locking
    from gitmodel.lineage import store as lineage_store
    from gitmodel.registry import requests as registry_requests
    from gitmodel.registry import stages as registry_stages

    known = (locking.KIND, lineage_store.KIND, registry_stages.KIND, registry_requests.KIND)
    return {kind.name: kind for kind in known}


def push_logs(repo: git.Repo, remote: str, quiet: bool = False) -> list[str]:
    """Push every record log that moved since the last sync to ``remote``. A log the
    remote holds damaged is a warning: the push it comes with (Git's, the objects')
    goes on, and so does everyone's work until the log there is mended."""
    try:
        pushed = records_sync.push(repo, remote, kinds())
    except records_sync.RemoteLogDamaged as exc:
        print(f"gitmodel: warning: model logs not pushed: {exc}", file=sys.stderr)
        print(f"hint: {exc.hint}", file=sys.stderr)
        return []
    if pushed and not quiet:
        print(f"gitmodel: pushed log(s) {', '.join(pushed)}", file=sys.stderr)
    return pushed


def fetch_logs(repo: git.Repo, remote: str, quiet: bool = False) -> list[str]:
    """Fetch ``remote``'s record logs and bring the local ones up to date."""
    changed = records_sync.fetch(repo, remote, kinds)
    if changed and not quiet:
        print(f"gitmodel: updated log(s) {', '.join(changed)}", file=sys.stderr)
    return changed


def fetch_logs_after_clone(repo: git.Repo, remote: str) -> None:
    """At the end of ``git clone``: fetch the logs; a failure is a warning, not a failed clone."""
    try:
        fetch_logs(repo, remote, quiet=True)
    except GitModelError as exc:
        print(f"gitmodel: warning: model logs not fetched: {exc}", file=sys.stderr)
        print("hint: run `git model fetch` in the clone", file=sys.stderr)
