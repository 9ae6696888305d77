"""Sending model objects to the model remote: what the pre-push hook does before Git sends
refs, and the report both it and ``git model push`` print.

Objects taken in from elsewhere (``migrate import --from-lfs``) are named by commits the
remote already has, so a scan of the pushed commits would never send them; they are
listed in ``<model dir>/adopted`` instead, sent by the next push and then forgotten."""

from __future__ import annotations

import os
import sys

from gitmodel import git, locking
from gitmodel.errors import UserError
from gitmodel.formats import tensor_starts
from gitmodel.logs import records
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.remote import transfer
from gitmodel.remote.config import ModelRemote, for_local_url, remote_for, with_settings
from gitmodel.scan import pointers_in_history
from gitmodel.sizes import format_size
from gitmodel.store.local import LocalStore
from gitmodel.urls import redact
from gitmodel.workspace import open_repo

ZERO_OIDS = {"0" * 40, "0" * 64}
ADOPTED = "adopted"


def pre_push(remote_name: str, url: str, stdin: bytes) -> int:
    """Git's pre-push hook: stdin has "<local ref> <local oid> <remote ref> <remote oid>" lines."""
    repo, store = open_repo()
    settings = repo.settings()
    named = f"remote.{remote_name}.url" in settings
    updates = [
        fields
        for fields in (line.split() for line in stdin.decode().splitlines())
        if len(fields) == 4 and fields[1] not in ZERO_OIDS
    ]
    local_oids = [fields[1] for fields in updates]
    if not local_oids:
        return 0  # only deletions
    exclude = [f"--remotes={remote_name}"] if named else []
    if named:
        refuse_locked_changes(repo, settings, remote_name, [*local_oids, "--not", *exclude],
                              refs=[fields[2] for fields in updates])  # fmt: skip
    pending = adopted(store)
    files = pointers_in_history(repo, [*local_oids, "--not", *exclude])
    if not files and not pending:
        return 0  # nothing of ours in these commits: no store needed
    if named:
        remote = remote_for(repo, settings, remote_name)
    else:  # pushing to a URL: only a local repository has a place for objects
        found = for_local_url(repo, url or remote_name)
        if found is None:
            raise UserError(
                f"nowhere to upload {len(files)} model object(s) pushed to {redact(url)}",
                hint="push to a named remote with a model store (`git model remote set`)",
            )
        remote = with_settings(found, settings)
    sent = transfer.upload(remote.open(), store, [f.pointer for f in files] + pending,
                           segmenter=tensor_starts)  # fmt: skip
    report(sent, remote, quiet=False)
    forget_adopted(store, pending)
    return 0


def refuse_locked_changes(
    repo: git.Repo, settings: dict[str, str], remote: str, revs: list[str],
    refs: list[str] | None = None,
) -> None:  # fmt: skip
    """Stop a push that changes lockable files someone else has locked (asked of the
    remote only when the push changes a file marked ``lockable``). An LFS host is asked
    about each remote ref the push updates (``refs``), as git-lfs asks it."""
    out = repo.run(["log", "--format=", "--name-only", "-z", *revs, "--"]).stdout
    changed = {os.fsdecode(p).strip("\n") for p in out.split(b"\0") if p.strip(b"\n")}
    changed = set(locking.lockable_paths(repo, sorted(changed))) if changed else set()
    if not changed:
        return
    keeper = locking.for_remote(repo, settings, remote)
    if isinstance(keeper, locking.LfsLocks):
        asked: list[str | None] = list(dict.fromkeys(refs or [])) or [None]
        held = {path: lock for ref in asked for path, lock in keeper.theirs(ref).items()}
        theirs = [held[path] for path in sorted(changed) if path in held]
    else:
        try:
            _, email = records.identity(repo)
        except UserError:
            email = ""
        theirs = locking.conflicts(changed, keeper.current(), email)
    if theirs:
        first = theirs[0]
        more = f" (and {len(theirs) - 1} more)" if len(theirs) > 1 else ""
        raise UserError(f"cannot push: {first.path} is locked by {first.owner}{more}",
                        hint="ask them to unlock it (`git model locks`), or push without "
                        "that change")  # fmt: skip


def adopt(store: LocalStore, pointers: list[Pointer]) -> None:
    """List objects for the next push to send, whatever commits it pushes."""
    if pointers:
        store.root.mkdir(parents=True, exist_ok=True)
        with open(store.root / ADOPTED, "a", encoding="ascii") as listing:
            listing.writelines(f"{p.oid} {p.size}\n" for p in pointers)


def adopted(store: LocalStore) -> list[Pointer]:
    """The objects :func:`adopt` listed that this store still has."""
    try:
        text = (store.root / ADOPTED).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    found: dict[str, Pointer] = {}
    for line in text.splitlines():
        oid, _, size = line.partition(" ")
        if is_valid_oid(oid) and size.isdigit() and store.has(oid):
            found[oid] = Pointer(oid, int(size))
    return list(found.values())


def forget_adopted(store: LocalStore, sent: list[Pointer]) -> None:
    """Drop what a push sent from the list (objects adopted meanwhile stay on it)."""
    if not sent:
        return
    done = {p.oid for p in sent}
    left = [p for p in adopted(store) if p.oid not in done]
    path = store.root / ADOPTED
    if not left:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{ADOPTED}.tmp")
    tmp.write_text("".join(f"{p.oid} {p.size}\n" for p in left), encoding="ascii")
    tmp.replace(path)


def report(sent: transfer.Moved, remote: ModelRemote, quiet: bool) -> None:
    if sent.pointers and not quiet:
        total = sum(p.size for p in sent.pointers)
        new = f" ({format_size(sent.transferred)} new)" if sent.transferred < total else ""
        print(f"gitmodel: uploaded {len(sent.pointers)} object(s), {format_size(total)}{new}, "
              f"to {remote.display}", file=sys.stderr)  # fmt: skip
