"""``git diff --raw`` as records (used by ``git model diff`` and the pre-commit hooks)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from gitmodel.git.process import run

NULL_OID_RE = re.compile(r"0+")


class DiffEntry:
    """One path of ``git diff --raw``; a blob id of None means absent on that side,
    ``""`` the worktree file. ``old_path`` differs from ``path`` for a rename. A path a
    merge left in conflict (the index holds its sides, not one version) is ``unmerged``,
    with no blob on either side."""

    __slots__ = ("new_blob", "old_blob", "old_path", "path", "unmerged")

    def __init__(self, path: str, old_blob: str | None, new_blob: str | None,
                 old_path: str | None = None, unmerged: bool = False) -> None:  # fmt: skip
        self.path, self.old_blob, self.new_blob = path, old_blob, new_blob
        self.old_path = path if old_path is None else old_path
        self.unmerged = unmerged

    def __repr__(self) -> str:
        return f"DiffEntry({self.path!r}, {self.old_blob!r}, {self.new_blob!r})"


def diff_raw(revs: Sequence[str], paths: Sequence[str] = (), cwd: Path | None = None,
             cached: bool = False, renames: bool = False) -> list[DiffEntry]:  # fmt: skip
    """Changed paths between ``revs`` (revisions only, never options; pathspecs relative
    to ``cwd``), renames only if asked for; paths in the result are relative to the top."""
    out = run(
        ["diff", "--raw", "-z", "-M" if renames else "--no-renames", "--no-abbrev",
         "--no-ext-diff", "--no-relative", *(["--cached"] if cached else []),
         "--end-of-options", *revs, "--", *paths],
        cwd=cwd,
    ).stdout  # fmt: skip
    fields = iter(out.split(b"\0"))
    entries = []
    for meta in fields:
        if not meta.startswith(b":"):
            continue
        _, _, old, new, status = meta[1:].decode().split(" ")
        old_path = path = os.fsdecode(next(fields, b""))
        if status[0] in "RC":  # a rename or copy: the new path follows the old
            path = os.fsdecode(next(fields, b""))
        if status == "U":
            entries.append(DiffEntry(path, None, None, unmerged=True))
            continue
        entries.append(
            DiffEntry(
                path,
                None if status == "A" else old,
                None if status == "D" else ("" if NULL_OID_RE.fullmatch(new) else new),
                old_path,
            )
        )
    return entries
