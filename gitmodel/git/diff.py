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
    ``""`` the worktree file."""

    __slots__ = ("new_blob", "old_blob", "path")

    def __init__(self, path: str, old_blob: str | None, new_blob: str | None) -> None:
        self.path, self.old_blob, self.new_blob = path, old_blob, new_blob

    def __repr__(self) -> str:
        return f"DiffEntry({self.path!r}, {self.old_blob!r}, {self.new_blob!r})"


def diff_raw(revs: Sequence[str], paths: Sequence[str] = (), cwd: Path | None = None,
             cached: bool = False) -> list[DiffEntry]:  # fmt: skip
    """Changed paths between ``revs`` (revisions only, never options; pathspecs relative
    to ``cwd``), without renames; paths in the result are relative to the top."""
    out = run(
        ["diff", "--raw", "-z", "--no-renames", "--no-abbrev", "--no-ext-diff", "--no-relative",
         *(["--cached"] if cached else []), "--end-of-options", *revs, "--", *paths],
        cwd=cwd,
    ).stdout  # fmt: skip
    fields = out.split(b"\0")
    entries = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(b":"):
            continue
        _, _, old, new, status = meta[1:].decode().split(" ")
        entries.append(
            DiffEntry(
                os.fsdecode(path),
                None if status == "A" else old,
                None if status == "D" else ("" if NULL_OID_RE.fullmatch(new) else new),
            )
        )
    return entries
