"""``git model status``: model files staged, modified, in conflict, and committed but not
pushed."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TypeAlias

from gitmodel import git, installation
from gitmodel.errors import UserError
from gitmodel.pointer import Pointer
from gitmodel.scan import checked_out_as_pointers, pointers_in_history
from gitmodel.sizes import format_size
from gitmodel.text import printable
from gitmodel.workspace import no_index_hint, open_repo


@dataclass(frozen=True)
class Whole:
    """A model file Git holds as it is, not as a pointer: committed or staged without the
    model filter (before `git model track`, or with the filter off), or empty (an empty
    file stays empty, with no pointer)."""

    size: int | None  # its blob's; None where Git does not have the blob


Side: TypeAlias = Pointer | Whole | None  # None: no file


@dataclass(frozen=True)
class Change:
    path: str
    old: Side  # HEAD's
    new: Side  # the index's
    origin: str | None = None  # the path it was renamed (or copied) from


@dataclass(frozen=True)
class Unmerged:
    """A model file a merge, rebase or cherry-pick left in conflict: the index holds its
    sides (stages 1 to 3) instead of one version."""

    path: str
    state: str  # as `git status` says it: "both modified", "deleted by us", …
    base: Side
    ours: Side
    theirs: Side


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
    whole = sum(1 for c in staged if _is_whole(c.new))
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


def _is_whole(side: Side) -> bool:
    """Whether a side is a file Git holds whole, neither a pointer nor empty."""
    return isinstance(side, Whole) and side.size != 0


def _short(side: Side) -> str:
    if side is None:
        return "(none)"
    if isinstance(side, Whole):
        return "(whole, not a pointer)" if _is_whole(side) else "(empty)"
    return f"{side.oid[:10]} {format_size(side.size)}"


def _describe(change: Change, shown: _Shown) -> str:
    new = _short(change.new)
    if _is_whole(change.old):  # committed as an ordinary Git file: this converts it
        return f"(a Git file) -> {new}"
    old = _short(change.old)
    if change.origin is None:
        return f"{old} -> {new}"
    moved = f"(renamed from {shown(change.origin)})"
    if old == new:
        return f"{moved} {new}"
    return f"{moved} {old} -> {new}"


def _describe_sides(conflict: Unmerged) -> str:
    return f"ours {_short(conflict.ours)}, theirs {_short(conflict.theirs)}"


def _side_json(side: Side) -> dict[str, object] | None:
    """A side as `git model diff --json` gives one: null where there is no file, and an
    oid of null where Git holds the file whole (size 0: empty, as the filter keeps it)."""
    if side is None:
        return None
    if isinstance(side, Whole):
        return {"oid": None, "size": side.size}
    return {"oid": side.oid, "size": side.size}


def _change_json(change: Change) -> dict[str, object]:
    moved = {} if change.origin is None else {"from": change.origin}
    return {"path": change.path, **moved, "old": _side_json(change.old),
            "new": _side_json(change.new)}  # fmt: skip


def _unmerged_json(conflict: Unmerged) -> dict[str, object]:
    sides = zip(SIDES, (conflict.base, conflict.ours, conflict.theirs), strict=True)
    return {"path": conflict.path, "state": conflict.state,
            **{name: _side_json(side) for name, side in sides}}  # fmt: skip


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
    sides = _sides(repo, {b for _, old, new, _ in staged_raw for b in (old, new)}
                   | {b for _, _, blobs in unmerged_raw for b in blobs})  # fmt: skip
    staged = [Change(p, sides.get(old), sides.get(new), origin)
              for p, old, new, origin in staged_raw]  # fmt: skip
    unmerged = [Unmerged(p, UNMERGED_STATES.get(xy, xy), *(sides.get(b) for b in blobs))
                for p, xy, blobs in unmerged_raw]  # fmt: skip
    return Changes(staged, [p for p in unstaged if p in model], deleted,
                   [p for p in untracked if p in model], unmerged)  # fmt: skip


def _sides(repo: git.Repo, blobs: set[str]) -> dict[str, Pointer | Whole]:
    """What each blob of a model file holds: a pointer, or the file whole (an empty one
    known by its id, the others' sizes read from their object headers). The null id, a
    side with no file, is left out."""
    pointers = git.pointers_of(repo, blobs)
    empty = git.blob_id(b"", sha256=repo.hash_size == 32)
    whole = [b for b in blobs if b not in pointers and b != empty and b.strip("0")]
    sizes = {oid: size for oid, (kind, size) in git.headers(repo, whole).items()
             if kind == "blob"}  # fmt: skip
    sides: dict[str, Pointer | Whole] = {b: Whole(sizes.get(b)) for b in whole}
    if empty in blobs:
        sides[empty] = Whole(0)
    return {**sides, **pointers}


def _unpushed(repo: git.Repo) -> list[Pointer]:
    """Objects committed on a local branch, or on a detached HEAD, that no remote-tracking
    branch reaches: what the label says, not HEAD's alone."""
    if not repo.has_commits():
        return []
    revs = ["--branches", "HEAD", "--not", "--remotes"]
    return [f.pointer for f in pointers_in_history(repo, revs)]
