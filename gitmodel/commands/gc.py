"""``git model gc``: merge the local store's packs; ``--remote``: delete what no ref names.

Mark, grace, sweep. A run lists every object on the remote and every pointer
reachable from the remote's refs (which must all be fetched here), from local
refs, remote-tracking refs, stashes and reflogs. Unreferenced objects are
*marked* in ``meta/gc-marks.json`` on the remote with the time they were first
seen unreferenced; an object is deleted only when it has stayed marked for the
whole grace period (default 14 days) and is still unreferenced. Objects that
became referenced again lose their mark. So the objects of a push in flight
(uploaded before its refs) are never swept: they are at most freshly marked.
Deleting removes the manifest first (the object stops existing), then the bytes.

Chunked objects share packs, so deleting one removes only its manifest; packs
that no remaining manifest uses are then marked and swept the same way (their
index first, so no push dedups against them any more). A push that reuses a
pack checks that it still exists before it writes its manifests.

A clone reads every manifest batch, and each push of a few dozen files leaves one, so a
run then writes the small batches together, deleting each once its files are in the new
batch (``RemoteStore.merge_batches``).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.remote.config import remote_for
from gitmodel.remote.errors import RemoteError
from gitmodel.remote.store import RemoteStore
from gitmodel.scan import pointers_in_history
from gitmodel.sizes import format_size
from gitmodel.workspace import open_repo

MARKS = "gc-marks.json"
PACK_MARKS = "gc-pack-marks.json"
DEFAULT_GRACE_DAYS = 14


def gc(remote_flag: bool, remote_name: str | None, dry_run: bool,
       grace_days: float = DEFAULT_GRACE_DAYS) -> int:  # fmt: skip
    """Report (``dry_run``) or mark and sweep what the remote holds that no ref names."""
    if not remote_flag:
        return compact_local(dry_run)
    repo, _ = open_repo()
    model_remote = remote_for(repo, repo.settings(), remote_name)
    tips = remote_tips(repo, model_remote.name)
    remote = model_remote.open_store("`git model gc --remote`")
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
        _sweep_packs(remote, stored, read_marks(remote, PACK_MARKS), now, grace_days, dry_run)
        small = len(remote.small_batches())
        if small > 1:
            print(f"gc: {small} small manifest batch(es) to write together")
        return 0
    deleted = _sweep(repo, remote, model_remote.name, tips, unreferenced, marks, now, grace_days)
    remaining = {oid: size for oid, size in stored.items() if oid not in deleted}
    _sweep_packs(remote, remaining, read_marks(remote, PACK_MARKS), now, grace_days, dry_run)
    merged, written = remote.merge_batches()
    if merged:
        print(f"gc: wrote {merged} small manifest batch(es) as {written}: a clone reads "
              "each batch")  # fmt: skip
    return 0


def _sweep_packs(remote: RemoteStore, objects: dict[str, int], marks: dict[str, float],
                 now: float, grace_days: float, dry_run: bool) -> None:  # fmt: skip
    """Mark packs no manifest uses (chunks of deleted objects, or of a push that died
    before its manifests); delete those marked for the whole grace period."""
    packs = remote.pack_sizes()
    if not packs:
        return
    used = remote.packs_used(objects)
    unused = {pack: size for pack, size in packs.items() if pack not in used}
    new_marks = {pack: marks.get(pack, now) for pack in unused}
    due = sorted(p for p, since in new_marks.items() if now - since >= grace_days * 86400)
    for pack in sorted(unused):
        state = f"marked {_date(marks[pack])}" if pack in marks else "not marked yet"
        print(f"unused pack {pack} {format_size(unused[pack])} ({state})")
    if dry_run:
        print(f"gc: {len(unused)} of {len(packs)} pack(s) unused, "
              f"{format_size(sum(unused.values()))}")  # fmt: skip
        return
    for pack in due:
        remote.delete_pack(pack)
        del new_marks[pack]
    body = json.dumps({"version": 1, "marks": new_marks}, indent=0, sort_keys=True)
    remote.write_meta(PACK_MARKS, body.encode())
    print(f"gc: deleted {len(due)} pack(s), {format_size(sum(unused[p] for p in due))}; "
          f"{len(new_marks)} marked")  # fmt: skip


def compact_local(dry_run: bool) -> int:
    """Merge the local store's packs of small objects, like ``git gc`` does its own."""
    _, store = open_repo()
    if dry_run:
        packs = len(list(store.packs.root.glob("pack-*.pack")))
        print(f"gc: {packs} local pack(s); a run merges those no process is writing")
        return 0
    merged, bad = store.compact()
    print(f"gc: merged {merged} local pack(s)" if merged else "gc: local packs already compact")
    if bad:
        print(f"gc: moved {bad} corrupt object(s) to {store.bad_dir}; "
              "`git model fsck --repair` fetches them again", file=sys.stderr)  # fmt: skip
    print("gc: `git model prune` frees local space, `git model gc --remote` the remote's")
    return 0


def remote_tips(repo: git.Repo, name: str) -> list[str]:
    """The commits the remote's refs point at; all of them must be here."""
    proc = repo.run(["ls-remote", "--refs", "--end-of-options", name], check=False)
    if proc.returncode != 0:
        raise UserError(f"cannot list the refs of remote {name!r}",
                        hint="check that it is reachable (`git ls-remote`)")  # fmt: skip
    tips = sorted({line.split()[0] for line in proc.stdout.decode().splitlines() if line})
    if tips and len(git.headers(repo, tips)) < len(tips):
        raise UserError(f"remote {name!r} has commits that are not here",
                        hint=f"run `git fetch {name}` first")  # fmt: skip
    return tips


def referenced_oids(repo: git.Repo, tips: list[str]) -> set[str]:
    """Every object a ref, a stash, a reflog entry or one of ``tips`` leads to."""
    if not repo.has_commits() and not tips:
        return set()
    revs = [*tips, "--all", "--reflog"]
    return {found.pointer.oid for found in pointers_in_history(repo, revs)}


def read_marks(remote: RemoteStore, name: str = MARKS) -> dict[str, float]:
    """oid (or pack id) → when it was first seen unreferenced (seconds since the epoch)."""
    body = remote.read_meta(name)
    if body is None:
        return {}
    try:
        marks = json.loads(body)["marks"]
        return {str(oid): float(ts) for oid, ts in marks.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RemoteError(f"{remote.display}: unreadable meta/{name}") from exc


def _sweep(repo: git.Repo, remote: RemoteStore, name: str, tips: list[str],
           unreferenced: dict[str, int], marks: dict[str, float], now: float,
           grace_days: float) -> set[str]:  # fmt: skip
    new_marks = {oid: marks.get(oid, now) for oid in unreferenced}
    due = sorted(oid for oid, since in new_marks.items() if now - since >= grace_days * 86400)
    if due and remote_tips(repo, name) != tips:
        print("gc: the remote's refs moved meanwhile; nothing deleted, run gc again",
              file=sys.stderr)  # fmt: skip
        due = []
    remote.delete_objects(due)  # a batch holding several is written anew once
    for oid in due:
        del new_marks[oid]
    body = json.dumps({"version": 1, "marks": new_marks}, indent=0, sort_keys=True)
    remote.write_meta(MARKS, body.encode())
    freed = format_size(sum(unreferenced[oid] for oid in due))
    print(f"gc: deleted {len(due)} object(s), {freed}; {len(new_marks)} marked, "
          f"deleted after {grace_days:g} day(s) if still unreferenced")  # fmt: skip
    return set(due)


def _date(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
