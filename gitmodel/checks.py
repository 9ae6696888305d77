"""Problems with pointers, shared by ``git model fsck`` and the pre-commit hooks."""

from __future__ import annotations

from dataclasses import dataclass

from gitmodel import git
from gitmodel.pointer import POINTER_MAX_SIZE, looks_like_pointer, try_parse
from gitmodel.text import printable


@dataclass(frozen=True)
class Problem:
    """One thing wrong, and how to fix it."""

    what: str
    fix: str
    oid: str | None = None  # the object a refetch would fix

    def __str__(self) -> str:
        return f"{self.what}; {self.fix}"


def blob_problem(repo: git.Repo, entry: git.FileEntry, tracked: bool, where: str) -> Problem | None:
    """What is wrong with a blob that looks like a pointer or should be one, if anything."""
    head = repo.read_blob(entry.oid, limit=POINTER_MAX_SIZE - 1)
    if head is not None and (head == b"" or try_parse(head) is not None):
        return None
    if head is not None and looks_like_pointer(head):
        return Problem(
            f"{printable(entry.path)} ({where}): not a canonical pointer",
            f"restore its content and `git add {printable(entry.path)}` (see `git model pointer "
            "--check`)",
        )
    if tracked:
        return Problem(
            f"{printable(entry.path)} ({where}): tracked by the model filter but committed as a "
            "full Git blob",
            f"run `git model install` then `git add --renormalize -- {printable(entry.path)}` and "
            "commit",
        )
    return None
