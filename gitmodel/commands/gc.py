"""``git model gc --remote``: delete objects no ref names any more, safely.

Mark, grace, sweep. A run lists every object on the remote and every pointer
reachable from the remote's refs (which must all be fetched here), from local
refs, remote-tracking refs, stashes and reflogs. Unreferenced objects are
*marked* in ``meta/gc-marks.json`` on the remote with the time they were first
seen unreferenced; an object is deleted only when it has stayed marked for the
whole grace period (default 14 days) and is still unreferenced. Objects that
became referenced again lose their mark. So the objects of a push in flight
(uploaded before its refs) are never swept: they are at most freshly marked.
Deleting removes the manifest first (the object stops existing), then the bytes.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone

from gitmodel import git, remotes
from gitmodel.commands.context import open_repo
from gitmodel.errors import UserError
from gitmodel.scan import format_size, pointers_in_history
from gitmodel.store.remote import RemoteError, RemoteStore

MARKS = "gc-marks.json"
DEFAULT_GRACE_DAYS = 14


def gc(remote_flag: bool, remote_name: str | None, dry_run: bool,
       grace_days: float = DEFAULT_GRACE_DAYS) -> int:  # fmt: skip
    """Report (``dry_run``) or mark and sweep what the remote holds that no ref names."""
    if not remote_flag:
        raise UserError("gc works on a remote store", hint="run `git model gc --remote`; "
                        "`git model prune` frees local space")  # fmt: skip
    repo, _ = open_repo()
    model_remote = remotes.resolve(repo, repo.settings(), remote_name)
    tips = remote_tips(repo, model_remote.name)
    remote = model_remote.open()
    remote.check_layout()
    stored = remote.list_objects()
    referenced = referenced_oids(repo, tips)
    unreferenced = {oid: size for oid, size in stored.items() if oid not in referenced}
    marks = read_marks(remote)
    now = time.time()
    for oid in sorted(unreferenced):
        since = marks.get(oid)
        state = f"marked {_date(since)}" if since is not None else "not marked yet"
        print(f"unreferenced {oid} {format_size(unreferenced[oid])} ({state})")
    total = format_size(sum(unreferenced.values()))
    print(f"gc: {len(unreferenced)} of {len(stored)} object(s) on {remote.display} "
          f"unreferenced, {total}")  # fmt: skip
    if dry_run:
        return 0
    _sweep(repo, remote, model_remote.name, tips, unreferenced, marks, now, grace_days)
    return 0


def remote_tips(repo: git.Repo, name: str) -> list[str]:
    """The commits the remote's refs point at; all of them must be here."""
    proc = repo.run(["ls-remote", "--refs", name], check=False)
    if proc.returncode != 0:
        raise UserError(f"cannot list the refs of remote {name!r}",
                        hint="check that it is reachable (`git ls-remote`)")  # fmt: skip
    tips = sorted({line.split()[0] for line in proc.stdout.decode().splitlines() if line})
    if tips:
        check = repo.run(["cat-file", "--batch-check"], input="\n".join(tips).encode() + b"\n")
        if b" missing" in check.stdout:
            raise UserError(f"remote {name!r} has commits that are not here",
                            hint=f"run `git fetch {name}` first")  # fmt: skip
    return tips


def referenced_oids(repo: git.Repo, tips: list[str]) -> set[str]:
    """Every object a ref, a stash, a reflog entry or one of ``tips`` leads to."""
    if not repo.has_commits() and not tips:
        return set()
    revs = [*tips, "--all", "--reflog"]
    return {found.pointer.oid for found in pointers_in_history(repo, revs)}


def read_marks(remote: RemoteStore) -> dict[str, float]:
    """oid → when it was first seen unreferenced (seconds since the epoch)."""
    body = remote.read_meta(MARKS)
    if body is None:
        return {}
    try:
        marks = json.loads(body)["marks"]
        return {str(oid): float(ts) for oid, ts in marks.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RemoteError(f"{remote.display}: unreadable meta/{MARKS}") from exc


def _sweep(repo: git.Repo, remote: RemoteStore, name: str, tips: list[str],
           unreferenced: dict[str, int], marks: dict[str, float], now: float,
           grace_days: float) -> None:  # fmt: skip
    new_marks = {oid: marks.get(oid, now) for oid in unreferenced}
    due = sorted(oid for oid, since in new_marks.items() if now - since >= grace_days * 86400)
    if due and remote_tips(repo, name) != tips:
        print("gc: the remote's refs moved meanwhile; nothing deleted, run gc again",
              file=sys.stderr)  # fmt: skip
        due = []
    for oid in due:
        remote.delete(oid)
        del new_marks[oid]
    body = json.dumps({"version": 1, "marks": new_marks}, indent=0, sort_keys=True)
    remote.write_meta(MARKS, body.encode())
    freed = format_size(sum(unreferenced[oid] for oid in due))
    print(f"gc: deleted {len(due)} object(s), {freed}; {len(new_marks)} marked, "
          f"deleted after {grace_days:g} day(s) if still unreferenced")  # fmt: skip


def _date(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
