"""Refs: read, listed under a prefix, and moved only by compare-and-swap, so that two
writers racing for one ref never both win (the record logs rely on it)."""

from __future__ import annotations

import re

from gitmodel.git.process import GitError

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    from gitmodel.git.repo import Repo


class RefMoved(GitError):
    """The ref was not where the caller last saw it: another writer moved it first, or
    holds its lock file (``lock``: its path, when Git named it)."""

    def __init__(self, message: str, lock: str | None = None) -> None:
        super().__init__(message)
        self.lock = lock


_LOCK_EXISTS = re.compile(r"Unable to create '(.+?\.lock)': File exists")


def update_ref(repo: Repo, ref: str, new: str, old: str | None, message: str) -> None:
    """Move ``ref`` to ``new`` only if it is still at ``old`` (None: it must not exist)."""
    zero = "0" * (repo.hash_size * 2)
    proc = repo.run(
        ["update-ref", "-m", message, "--end-of-options", ref, new, old or zero], check=False
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        if "cannot lock ref" in err:  # moved, created, or locked by a concurrent writer
            found = _LOCK_EXISTS.search(err)
            raise RefMoved(f"{ref} moved", found.group(1) if found else None)
        raise GitError(f"cannot update {ref}: {err.removeprefix('fatal: ')}")


def read_ref(repo: Repo, ref: str) -> str | None:
    """The commit ``ref`` points to, or None."""
    found = repo.pygit.references.get(ref)
    return str(found.resolve().target) if found is not None else None


def list_refs(repo: Repo, prefix: str) -> dict[str, str]:
    """Refs under ``prefix`` (e.g. ``refs/gitmodel/``) → commit id, keyed by the rest."""
    out = repo.run(["for-each-ref", "--format=%(objectname) %(refname)", prefix]).stdout
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        oid, _, name = line.partition(" ")
        refs[name.removeprefix(prefix)] = oid
    return refs


def is_ancestor(repo: Repo, ancestor: str, descendant: str) -> bool:
    """Whether commit ``ancestor`` is reachable from ``descendant`` (not the same commit)."""
    return bool(repo.pygit.descendant_of(descendant, ancestor))
