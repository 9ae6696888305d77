"""Sending model objects to the model remote: what the pre-push hook does before Git sends
refs, and the report both it and ``git model push`` print."""

from __future__ import annotations

import sys

from gitmodel.errors import UserError
from gitmodel.formats import tensor_starts
from gitmodel.remote import transfer
from gitmodel.remote.config import ModelRemote, for_local_url, remote_for, with_settings
from gitmodel.scan import pointers_in_history
from gitmodel.sizes import format_size
from gitmodel.urls import redact
from gitmodel.workspace import open_repo

ZERO_OIDS = {"0" * 40, "0" * 64}


def pre_push(remote_name: str, url: str, stdin: bytes) -> int:
    """Git's pre-push hook: stdin has "<local ref> <local oid> <remote ref> <remote oid>" lines."""
    repo, store = open_repo()
    settings = repo.settings()
    named = f"remote.{remote_name}.url" in settings
    local_oids = [
        fields[1]
        for fields in (line.split() for line in stdin.decode().splitlines())
        if len(fields) == 4 and fields[1] not in ZERO_OIDS
    ]
    if not local_oids:
        return 0  # only deletions
    exclude = [f"--remotes={remote_name}"] if named else []
    files = pointers_in_history(repo, [*local_oids, "--not", *exclude])
    if not files:
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
    sent = transfer.upload(remote.open(), store, [f.pointer for f in files],
                           segmenter=tensor_starts)  # fmt: skip
    report(sent, remote, quiet=False)
    return 0


def report(sent: transfer.Moved, remote: ModelRemote, quiet: bool) -> None:
    if sent.pointers and not quiet:
        total = sum(p.size for p in sent.pointers)
        new = f" ({format_size(sent.transferred)} new)" if sent.transferred < total else ""
        print(f"gitmodel: uploaded {len(sent.pointers)} object(s), {format_size(total)}{new}, "
              f"to {remote.display}", file=sys.stderr)  # fmt: skip
