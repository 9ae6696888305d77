"""``merge=model``: Git's merge driver for model files (``merge.model.driver``, run by Git).

Git runs it only when both sides changed a file, and differently. Two versions of a model
do not merge, and a line merge of their pointers is neither version: it would leave pointer
text with conflict markers in the worktree. So, as Git does with a binary file, yours is
kept (``%A`` is left as it is) and the path stays in conflict, with a hint to take theirs.
In a rebase ``%A`` is the branch rebased onto and theirs the user's own commit, so the
message says so rather than calling the kept version theirs.
"""

from __future__ import annotations

import filecmp
import shlex
import sys


def merge_driver(base: str, ours: str, theirs: str, path: str) -> int:
    """Keep ``ours`` (Git's ``%A``, also the result); 1 (a conflict) unless both sides
    hold the same bytes. ``base`` is the common ancestor's version, unused."""
    del base
    if filecmp.cmp(ours, theirs, shallow=False):
        return 0
    # a committed path: shown without control characters, and named in the hint only
    # when it can be typed as it is
    shown = "".join(ch if ch.isprintable() else "?" for ch in path)
    quoted = shlex.quote(path) if shown == path else "PATH"
    kept, other = ("the version you are rebasing onto", "your commit's") if _rebasing() else (
        "yours", "theirs")  # fmt: skip
    print(f"gitmodel: {shown}: changed on both sides; a model file does not merge, {kept} is "
          f"kept", file=sys.stderr)  # fmt: skip
    print(f"hint: to take {other}: git checkout --theirs -- {quoted} && git add -- {quoted}",
          file=sys.stderr)  # fmt: skip
    return 1


def _rebasing() -> bool:
    """Whether Git runs this driver for a rebase (it runs it at the worktree's top)."""
    from gitmodel import git
    from gitmodel.errors import GitModelError

    try:
        return git.Repo.discover(".").rebasing
    except GitModelError:
        return False
