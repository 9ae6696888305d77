"""``git model push``: send the model objects of some refs to the model remote."""

from __future__ import annotations

import sys

from gitmodel import logsync
from gitmodel.errors import UserError
from gitmodel.formats import tensor_starts
from gitmodel.pointer import Pointer
from gitmodel.pushing import adopted, forget_adopted, report
from gitmodel.remote import layouts, transfer
from gitmodel.remote.config import remote_for
from gitmodel.scan import pointers_in_history
from gitmodel.store import onecopy
from gitmodel.store.local import LocalStore
from gitmodel.workspace import check_remote_argument, open_repo


def push(
    remote_name: str | None, refs: list[str], all_refs: bool,
    jobs: int | None = None, quiet: bool = False, repair: bool = False,
) -> int:  # fmt: skip
    """Upload the objects of REFs (default HEAD; --all: every branch and tag); with
    ``repair``, first read back the remote's copies of those held here and send again
    the damaged ones."""
    repo, store = open_repo()
    settings = repo.settings()
    check_remote_argument(repo, settings, remote_name, "push")
    remote = remote_for(repo, settings, remote_name)
    # each REF as the commit it names: no word typed reaches rev-list as an option
    revs = ["--branches", "--tags"] if all_refs else [repo.rev_parse(r) for r in refs or ["HEAD"]]
    files = pointers_in_history(repo, revs)
    pending = adopted(store)
    pointers = [f.pointer for f in files] + pending
    store_remote = remote.open()
    if repair:
        _repair(store_remote, store, pointers, quiet)
    sent = transfer.upload(store_remote, store, pointers, jobs, quiet, tensor_starts)
    onecopy.note_held(store.root, remote.url, pointers)
    report(sent, remote, quiet)
    forget_adopted(store, pending)
    logsync.push_logs(repo, remote.name, quiet)
    return 0


def _repair(remote: layouts.Remote, store: LocalStore, pointers: list[Pointer],
            quiet: bool) -> None:  # fmt: skip
    """Read back the remote's copy of each of ``pointers`` held here; have the remote
    forget the damaged ones, once this clone's copy of each proves sound, so that the
    push sends them again. Those not held here cannot be checked, and are named."""
    held = {p.oid: p for p in pointers if p.size > 0 and store.has(p.oid)}
    found = layouts.damaged(remote, store, list(held.values()))
    unsound = [oid for oid in found if store.digest(oid) != oid]
    if unsound:
        raise UserError(
            f"the remote's copy of {unsound[0]} is damaged, and so is this clone's",
            hint="run it in a clone whose copy is sound (`git model fsck --objects` checks one)",
        )
    if found:
        assert not layouts.on_host(remote)  # ``damaged`` refuses an LFS host
        layouts.forget(remote, found)
    for oid in found:
        print(f"gitmodel: {oid}: the remote's copy was damaged; sending it again",
              file=sys.stderr)  # fmt: skip
    if not quiet:
        print(f"gitmodel: checked the remote's copies of {len(held)} object(s): "
              f"{len(found)} damaged", file=sys.stderr)  # fmt: skip
    absent = len({p.oid for p in pointers if p.size > 0}) - len(held)
    if absent and not quiet:
        print(f"gitmodel: {absent} object(s) not in this clone's store were not checked "
              "(`git model fetch` them first to check them)", file=sys.stderr)  # fmt: skip
