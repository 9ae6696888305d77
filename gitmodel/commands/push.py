"""``git model push``: send the model objects of some refs to the model remote."""

from __future__ import annotations

from gitmodel import logsync
from gitmodel.formats import tensor_starts
from gitmodel.pushing import adopted, forget_adopted, report
from gitmodel.remote import transfer
from gitmodel.remote.config import remote_for
from gitmodel.scan import pointers_in_history
from gitmodel.store import onecopy
from gitmodel.workspace import open_repo


def push(
    remote_name: str | None, refs: list[str], all_refs: bool,
    jobs: int | None = None, quiet: bool = False,
) -> int:  # fmt: skip
    """Upload the objects of REFs (default HEAD; --all: every branch and tag)."""
    repo, store = open_repo()
    settings = repo.settings()
    remote = remote_for(repo, settings, remote_name)
    revs = ["--branches", "--tags"] if all_refs else (refs or ["HEAD"])
    for rev in revs:
        if not rev.startswith("--"):
            repo.rev_parse(rev)
    files = pointers_in_history(repo, revs)
    pending = adopted(store)
    pointers = [f.pointer for f in files] + pending
    sent = transfer.upload(remote.open(), store, pointers, jobs, quiet, tensor_starts)
    onecopy.note_held(store.root, remote.url, pointers)
    report(sent, remote, quiet)
    forget_adopted(store, pending)
    logsync.push_logs(repo, remote.name, quiet)
    return 0
