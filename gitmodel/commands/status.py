"""``git model status``: model files staged, modified, and committed but not pushed."""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass

from gitmodel import git, safepath
from gitmodel.errors import UserError
from gitmodel.pointer import POINTER_MAX_SIZE, Pointer, try_parse
from gitmodel.scan import pointer_files, pointers_in_history
from gitmodel.sizes import format_size
from gitmodel.text import printable
from gitmodel.workspace import open_repo


@dataclass(frozen=True)
class Change:
    path: str
    old: Pointer | None
    new: Pointer | None


def status(as_json: bool = False) -> int:
    repo, _store = open_repo()
    if repo.worktree is None:
        raise UserError("a bare repository has no worktree to show the status of",
                        hint="run it in a non-bare clone; `git model ls-files REV` lists a "
                        "commit's model files")  # fmt: skip
    staged, unstaged, untracked = _worktree_changes(repo)
    as_pointers = _checked_out_as_pointers(repo, unstaged)
    unpushed = _unpushed(repo)
    if as_json:
        print(
            json.dumps(
                {
                    "staged": [_change_json(c) for c in staged],
                    "modified": unstaged,
                    "untracked": untracked,
                    "pointers": as_pointers,
                    "unpushed": [{"oid": p.oid, "size": p.size} for p in unpushed],
                },
                indent=2,
            )
        )
        return 0
    print("Model files to be committed:")
    for change in staged:
        print(f"\t{printable(change.path)} {_describe(change)}")
    print("\nModel files not staged for commit:")
    for path in unstaged:
        print(f"\t{printable(path)}")
    if untracked:
        print("\nUntracked model files:")
        for path in untracked:
            print(f"\t{printable(path)}")
    if as_pointers:
        print("\nModel files checked out as their pointers (`git model pull` writes them):")
        for path in as_pointers:
            print(f"\t{printable(path)}")
    total = sum(p.size for p in unpushed)
    print(
        f"\nCommitted model objects not on any remote branch: {len(unpushed)}"
        f" ({format_size(total)})"
    )
    return 0


def _describe(change: Change) -> str:
    def short(p: Pointer | None) -> str:
        return "(none)" if p is None else f"{p.oid[:10]} {format_size(p.size)}"

    return f"{short(change.old)} -> {short(change.new)}"


def _change_json(change: Change) -> dict[str, object]:
    def one(p: Pointer | None) -> dict[str, object] | None:
        return None if p is None else {"oid": p.oid, "size": p.size}

    return {"path": change.path, "old": one(change.old), "new": one(change.new)}


def _worktree_changes(repo: git.Repo) -> tuple[list[Change], list[str], list[str]]:
    out = repo.run(["status", "--porcelain=v2", "-z", "--untracked-files=all"]).stdout
    records = out.split(b"\0")
    staged_raw, unstaged, untracked = [], [], []
    i = 0
    while i < len(records):
        record = records[i].decode("utf-8", "surrogateescape")
        i += 1
        if record.startswith(("1 ", "2 ")):
            fields = record.split(" ", 9 if record[0] == "2" else 8)
            xy, head_blob, index_blob, path = fields[1], fields[6], fields[7], fields[-1]
            if record[0] == "2":
                i += 1  # the rename's original path
            if xy[0] != ".":
                staged_raw.append((path, head_blob, index_blob))
            if xy[1] != ".":
                unstaged.append(path)
        elif record.startswith("? "):
            untracked.append(record[2:])
    paths = [p for p, _, _ in staged_raw] + unstaged + untracked
    filters = repo.check_attr("filter", paths)
    model = {p for p in paths if filters.get(p) == "model"}
    staged_raw = [(p, old, new) for p, old, new in staged_raw if p in model]
    pointers = git.pointers_of(repo, {b for _, old, new in staged_raw for b in (old, new)})
    staged = [Change(p, pointers.get(old), pointers.get(new)) for p, old, new in staged_raw]
    return staged, [p for p in unstaged if p in model], [p for p in untracked if p in model]


def _checked_out_as_pointers(repo: git.Repo, modified: list[str]) -> list[str]:
    """Model files whose worktree file is still the pointer the index holds (a clone made
    before the filter was installed, a skipped smudge, a checkout whose hook was killed):
    Git sees no change, since the pointer cleans to itself, or a modification where it
    saw the file another size. Only those files and those the index saw shorter than any
    pointer are read (100,000 files of model bytes cost no read)."""
    small = repo.small_index_files(POINTER_MAX_SIZE, also=set(modified))
    return [item.path for item in pointer_files(repo, small)
            if _holds_pointer(safepath.Target(repo.top, item.path), item.pointer)]  # fmt: skip


def _holds_pointer(target: safepath.Target, pointer: Pointer) -> bool:
    try:
        st = safepath.lstat(target)
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size >= POINTER_MAX_SIZE:
            return False
        src = safepath.open_file(target) if st.st_size != pointer.size else None
    except (safepath.UnsafePathError, OSError):
        return False
    if src is None:
        return False
    with src:
        return try_parse(src.read(POINTER_MAX_SIZE)) == pointer


def _unpushed(repo: git.Repo) -> list[Pointer]:
    if not repo.has_commits():
        return []
    return [f.pointer for f in pointers_in_history(repo, ["HEAD", "--not", "--remotes"])]
