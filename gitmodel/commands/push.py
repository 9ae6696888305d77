"""``git model push`` and the pre-push hook: send model objects before Git sends refs."""

from __future__ import annotations

import sys

from gitmodel import remotes, transfer
from gitmodel.commands.context import open_repo
from gitmodel.pointer import Pointer
from gitmodel.scan import format_size, pointers_in_history

ZERO_OIDS = {"0" * 40, "0" * 64}


def push(
    remote_name: str | None, refs: list[str], all_refs: bool,
    jobs: int | None = None, quiet: bool = False,
) -> int:  # fmt: skip
    """Upload the objects of REFs (default HEAD; --all: every branch and tag)."""
    repo, store = open_repo()
    settings = repo.settings()
    remote = remotes.resolve(repo, settings, remote_name)
    revs = ["--branches", "--tags"] if all_refs else (refs or ["HEAD"])
    for rev in revs:
        if not rev.startswith("--"):
            repo.rev_parse(rev)
    files = pointers_in_history(repo, revs)
    sent = transfer.upload(remote.open(), store, [f.pointer for f in files], jobs, quiet)
    _report(sent, remote, quiet)
    return 0


def pre_push(remote_name: str, url: str, stdin: bytes) -> int:
    """Git's pre-push hook: stdin has "<local ref> <local oid> <remote ref> <remote oid>" lines."""
    repo, store = open_repo()
    settings = repo.settings()
    if f"remote.{remote_name}.url" in settings:
        remote = remotes.resolve(repo, settings, remote_name)
        exclude = [f"--remotes={remote_name}"]
    else:  # pushing to a URL: only a local repository has a place for objects
        found = remotes.for_local_url(repo, url or remote_name)
        if found is None:
            return 0
        remote, exclude = found, []
    local_oids = []
    for line in stdin.decode().splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[1] not in ZERO_OIDS:
            local_oids.append(fields[1])
    if not local_oids:
        return 0  # only deletions
    files = pointers_in_history(repo, [*local_oids, "--not", *exclude])
    sent = transfer.upload(remote.open(), store, [f.pointer for f in files])
    _report(sent, remote, quiet=False)
    return 0


def _report(sent: list[Pointer], remote: remotes.ModelRemote, quiet: bool) -> None:
    if sent and not quiet:
        total = format_size(sum(p.size for p in sent))
        print(f"gitmodel: uploaded {len(sent)} object(s), {total}, to {remote.display}",
              file=sys.stderr)  # fmt: skip
