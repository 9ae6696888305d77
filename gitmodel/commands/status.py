"""``git model status``: model files staged, modified, in conflict, and committed but not
pushed."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from gitmodel import git, installation
from gitmodel.errors import UserError
from gitmodel.pointer import Pointer
from gitmodel.scan import checked_out_as_pointers, pointers_in_history
from gitmodel.sizes import format_size
from gitmodel.text import printable
from gitmodel.workspace import no_index_hint, open_repo


@dataclass(frozen=True)
class Change:
    path: str
    old: Pointer | None
    new: Pointer | None
    origin: str | None = None  # the path it was renamed (or copied) from
    was_plain: bool = False  # committed as an ordinary Git file: this converts it
    was_empty: bool = False  # committed empty (an empty file stays empty, no pointer)
    staged_as: str | None = None  # "whole" or "empty" where the index holds no pointer


@dataclass(frozen=True)
class Unmerged:
    """A model file a merge, rebase or cherry-pick left in conflict: the index holds its
    sides (stages 1 to 3) instead of one version."""

    path: str
    state: str  # as `git status` says it: "both modified", "deleted by us", …
    base: Pointer | None
    ours: Pointer | None
    theirs: Pointer | None
    empty: frozenset[str] = frozenset()  # the sides ("base", …) that are an empty file


# porcelain v2's XY of an unmerged entry, in `git status`'s words
UNMERGED_STATES = {
    "DD": "both deleted",
    "AU": "added by us",
    "UD": "deleted by them",
    "UA": "added by them",
    "DU": "deleted by us",
    "AA": "both added",
    "UU": "both modified",
}

SIDES = ("base", "ours", "theirs")  # an unmerged file's index stages 1 to 3

UNMERGED_HINT = ("  (keep one side: `git checkout --ours -- PATH` or `--theirs`, then "
                 "`git add -- PATH`)\n  (or remove the file: `git rm -- PATH`)")  # fmt: skip


@dataclass(frozen=True)
class Changes:
    staged: list[Change]
    unstaged: list[str]
    deleted: set[str]  # of the unstaged: gone from the worktree
    untracked: list[str]
    unmerged: list[Unmerged]


def status(as_json: bool = False) -> int:
    repo, _store = open_repo()
    if repo.worktree is None:
        raise UserError("a bare repository has no worktree to show the status of",
                        hint="run it in a non-bare clone; `git model ls-files REV` lists a "
                        "commit's model files")  # fmt: skip
    prefix = "" if as_json else repo.status_prefix()  # JSON: from the top, as porcelain
    changes = _worktree_changes(repo)
    staged, unstaged, untracked = changes.staged, changes.unstaged, changes.untracked
    as_pointers = checked_out_as_pointers(repo, unstaged)
    unpushed = _unpushed(repo)
    if as_json:
        print(
            json.dumps(
                {
                    "staged": [_change_json(c) for c in staged],
                    "modified": unstaged,
                    "deleted": [p for p in unstaged if p in changes.deleted],
                    "untracked": untracked,
                    "unmerged": [_unmerged_json(u) for u in changes.unmerged],
                    "pointers": as_pointers,
                    "unpushed": [{"oid": p.oid, "size": p.size} for p in unpushed],
                },
                indent=2,
            )
        )
        return 0
    shown = _Shown(prefix)
    print("Model files to be committed:")
    for change in staged:
        print(f"\t{shown(change.path)} {_describe(change, shown)}")
    print("\nModel files not staged for commit:")
    for path in unstaged:
        print(f"\t{shown(path)}" + (" (deleted)" if path in changes.deleted else ""))
    if changes.unmerged:
        print("\nUnmerged model files:")
        print(UNMERGED_HINT)
        if repo.rebasing:
            print("  (in a rebase, --theirs is your commit, --ours the branch you rebase onto)")
        for conflict in changes.unmerged:
            print(f"\t{conflict.state}: {shown(conflict.path)} ({_describe_sides(conflict)})")
    if untracked:
        print("\nUntracked model files:")
        for path in untracked:
            print(f"\t{shown(path)}")
    if as_pointers:
        print("\nModel files checked out as their pointers (`git model pull` writes them):")
        for path in as_pointers:
            print(f"\t{shown(path)}")
    whole = sum(1 for c in staged if c.staged_as == "whole")
    if whole:
        installation.warn_without_filter(repo, f"{whole} model file(s) are staged whole; once "
                                         "it is, `git add` them again")  # fmt: skip
    if hint := no_index_hint(repo):  # why every file shows as deleted
        print(f"\nhint: {hint}", file=sys.stderr)
    total = sum(p.size for p in unpushed)
    print(
        f"\nCommitted model objects not on any remote branch: {len(unpushed)}"
        f" ({format_size(total)})"
    )
    return 0


class _Shown:
    """A path from the worktree's top as ``git status`` prints it: relative to the
    current folder (``prefix``, ending in "/", "" at the top or when the user's
    ``status.relativePaths`` is false), one escaped line."""

    def __init__(self, prefix: str) -> None:
        self.here = prefix.rstrip("/").split("/") if prefix else []

    def __call__(self, path: str) -> str:
        parts = path.split("/")
        most = min(len(self.here), len(parts) - 1)  # a file's own name is no folder
        common = 0  # the folders both share
        while common < most and self.here[common] == parts[common]:
            common += 1
        return printable("/".join([".."] * (len(self.here) - common) + parts[common:]))


def _short(p: Pointer | None) -> str:
    return "(none)" if p is None else f"{p.oid[:10]} {format_size(p.size)}"


def _describe(change: Change, shown: _Shown) -> str:
    new = _short(change.new)
    if change.staged_as is not None:  # no pointer staged, yet not deleted
        new = "(empty)" if change.staged_as == "empty" else "(whole, not a pointer)"
    if change.was_plain:
        return f"(a Git file) -> {new}"
    old = "(empty)" if change.was_empty else _short(change.old)
    if change.origin is None:
        return f"{old} -> {new}"
    moved = f"(renamed from {shown(change.origin)})"
    if old == new:
        return f"{moved} {new}"
    return f"{moved} {old} -> {new}"


def _describe_sides(conflict: Unmerged) -> str:
    ours = "(empty)" if "ours" in conflict.empty else _short(conflict.ours)
    theirs = "(empty)" if "theirs" in conflict.empty else _short(conflict.theirs)
    return f"ours {ours}, theirs {theirs}"


def _pointer_json(p: Pointer | None) -> dict[str, object] | None:
    return None if p is None else {"oid": p.oid, "size": p.size}


# an empty model file stays empty (no pointer, no object), as in `git model diff --json`
EMPTY_JSON = {"oid": None, "size": 0}


def _change_json(change: Change) -> dict[str, object]:
    """A staged change; a side is null where the file is absent (or not a pointer)."""
    moved = {} if change.origin is None else {"from": change.origin}
    old = EMPTY_JSON if change.was_empty else _pointer_json(change.old)
    new = EMPTY_JSON if change.staged_as == "empty" else _pointer_json(change.new)
    return {"path": change.path, **moved, "old": old, "new": new}


def _unmerged_json(conflict: Unmerged) -> dict[str, object]:
    sides = dict(zip(SIDES, (conflict.base, conflict.ours, conflict.theirs), strict=True))
    return {"path": conflict.path, "state": conflict.state,
            **{name: EMPTY_JSON if name in conflict.empty else _pointer_json(p)
               for name, p in sides.items()}}  # fmt: skip


def _worktree_changes(repo: git.Repo) -> Changes:
    out = repo.run(["status", "--porcelain=v2", "-z", "--untracked-files=all"]).stdout
    records = out.split(b"\0")
    staged_raw, unstaged, untracked, unmerged_raw = [], [], [], []
    deleted = set()
    i = 0
    while i < len(records):
        record = records[i].decode("utf-8", "surrogateescape")
        i += 1
        if record.startswith(("1 ", "2 ")):
            fields = record.split(" ", 9 if record[0] == "2" else 8)
            xy, head_blob, index_blob, path = fields[1], fields[6], fields[7], fields[-1]
            origin = None
            if record[0] == "2":  # a rename or copy: its original path follows
                origin = records[i].decode("utf-8", "surrogateescape")
                i += 1
            if xy[0] != ".":
                staged_raw.append((path, head_blob, index_blob, origin))
            if xy[1] != ".":
                unstaged.append(path)
            if xy[1] == "D":
                deleted.add(path)
        elif record.startswith("u "):  # u XY sub m1 m2 m3 mW h1 h2 h3 path
            fields = record.split(" ", 10)
            unmerged_raw.append((fields[10], fields[1], fields[7:10]))
        elif record.startswith("? "):
            untracked.append(record[2:])
    paths = [r[0] for r in staged_raw] + unstaged + untracked + [p for p, _, _ in unmerged_raw]
    no_index = not repo.index_path.exists() and repo.has_commits()  # HEAD's files: deleted
    filters = repo.check_attr("filter", paths, tree="HEAD" if no_index else None)
    model = {p for p in paths if filters.get(p) == "model"}
    staged_raw = [r for r in staged_raw if r[0] in model]
    unmerged_raw = [(p, xy, blobs) for p, xy, blobs in unmerged_raw if p in model]
    pointers = git.pointers_of(
        repo,
        {b for _, old, new, _ in staged_raw for b in (old, new)}
        | {b for _, _, blobs in unmerged_raw for b in blobs},
    )
    empty = git.blob_id(b"", sha256=repo.hash_size == 32)
    staged = [Change(p, pointers.get(old), pointers.get(new), origin,
                     was_plain=_staged_as(old, empty, pointers) == "whole",
                     was_empty=old == empty, staged_as=_staged_as(new, empty, pointers))
              for p, old, new, origin in staged_raw]  # fmt: skip
    unmerged = [
        Unmerged(p, UNMERGED_STATES.get(xy, xy), pointers.get(blobs[0]), pointers.get(blobs[1]),
                 pointers.get(blobs[2]),
                 frozenset(n for n, b in zip(SIDES, blobs, strict=True) if b == empty))
        for p, xy, blobs in unmerged_raw
    ]  # fmt: skip
    return Changes(staged, [p for p in unstaged if p in model], deleted,
                   [p for p in untracked if p in model], unmerged)  # fmt: skip


def _staged_as(blob: str, empty: str, pointers: dict[str, Pointer]) -> str | None:
    """What the index holds for a model file when it is not a pointer: "empty" (an empty
    file stays empty), "whole" (staged without the model filter), or None (a pointer, or
    nothing: deleted)."""
    if blob in pointers or not blob.strip("0"):
        return None
    return "empty" if blob == empty else "whole"


def _unpushed(repo: git.Repo) -> list[Pointer]:
    """Objects committed on a local branch, or on a detached HEAD, that no remote-tracking
    branch reaches: what the label says, not HEAD's alone."""
    if not repo.has_commits():
        return []
    revs = ["--branches", "HEAD", "--not", "--remotes"]
    return [f.pointer for f in pointers_in_history(repo, revs)]
