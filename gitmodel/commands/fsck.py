"""``git model fsck [REF…|--all]``: prove the local store, and the pointers of some commits.

Without REF, HEAD and the index are checked (but for the objects of files a sparse
checkout leaves out, which it never fetched: counted, not missing). A REF is that
commit's tree, ``A..B`` the trees of every commit in the range (as ``git lfs fsck``
takes them); ``--all`` every branch and tag, every stash entry, and each worktree's HEAD
and index. The trees are searched together, each blob once, for the objects they name;
the pointer checks (a canonical pointer, no model file committed whole) read HEAD and
the index, each REF's tree, or with ``--all`` each worktree's HEAD and index. Every
problem is one line naming what is wrong, where (a file, and the commit that holds it)
and the command that fixes it (past ``SHOWN`` missing objects, one line counts the
rest); ``--repair`` refetches corrupt and missing objects (from a local remote's store
or the model remote). Exit status 1 while any problem remains;
model files the worktree holds as their pointers are none, only named in a hint.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from gitmodel import git
from gitmodel.checks import Problem, blob_problem
from gitmodel.errors import ChecksumError, GitModelError, PointerSizeError
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.remote import layouts
from gitmodel.remote.config import default_remote_name, remote_for
from gitmodel.scan import (
    checked_out_as_pointers,
    pointer_files,
    pointers_in_history,
    pointers_in_trees,
    stash_commits,
    worktree_dirs,
)
from gitmodel.store.local import LocalStore
from gitmodel.text import printable
from gitmodel.workspace import Fetcher, left_lock_hint, no_index_hint, open_repo

REPAIR_HINT = "run `git model fsck --repair` to fetch it again"
FETCH_HINT = "run `git model fetch` (or `git model fsck --remote` to check the remote)"
SHORT = 12  # hex digits of a commit named in a problem (and in the command that fixes it)
SHOWN = 20  # missing objects named one a line; the rest are counted in one line


@dataclass(frozen=True)
class Place:
    """Where an object was found: a file of a commit's tree, or of an index."""

    path: str
    commit: str | None  # None: staged only
    label: str  # the index it was found in, when no commit holds it

    def __str__(self) -> str:
        where = self.commit[:SHORT] if self.commit else self.label
        return f"{printable(self.path)} in {where}"


@dataclass(frozen=True)
class Scope:
    """What a run checks: trees and indexes that get the pointer checks, each with the
    worktree whose attributes say what is tracked, and the commits whose trees are
    searched for the objects they name (a problem names the first that holds it)."""

    trees: list[tuple[str, str, git.Repo]]  # (label, commit, worktree)
    indexes: list[tuple[str, git.Repo]]  # (label, worktree)
    commits: list[str]
    sparse: frozenset[str] = frozenset()  # paths a sparse checkout leaves out: not needed here


@dataclass
class Report:
    problems: list[Problem]
    refetch: dict[str, Pointer | None]  # oids to fetch again (pointer if its size is known)
    referenced: dict[str, Pointer]
    named: dict[tuple[str, Pointer], str] = field(default_factory=dict)  # (path, pointer): where
    found: dict[str, Place] = field(default_factory=dict)  # oid: where first found
    staged: dict[str, Place] = field(default_factory=dict)  # oid: the index it was found in
    remote: str | None = None  # the Git remote a fetch command names


def fsck(pointers: bool, objects: bool, remote: bool, repair: bool,
         refs: list[str] | None = None, all_refs: bool = False) -> int:  # fmt: skip
    """Check objects and/or pointers (both when neither is chosen) of HEAD and the
    index, of ``refs``, or of everything (``all_refs``); 1 if problems remain."""
    if not pointers and not objects:
        pointers = objects = True
    repo, store = open_repo()
    scope = _scope(repo, refs or [], all_refs)  # every REF checked before anything is done
    report = Report([], {}, {})
    missing: list[Problem] = []
    if objects:
        report.problems += check_objects(store, report.refetch)
        report.problems += check_quarantined(repo, store, report.refetch)
    if pointers:
        report.problems += check_pointers(repo, scope, report)
    if pointers or refs or all_refs:  # where a corrupt object was found is named too
        collect(repo, scope, report, skip={c for _, c, _ in scope.trees} if pointers else set())
    if pointers:
        report.problems += check_sizes(store, report)
        missing = check_presence(repo, store, report, remote, scope.sparse)
        report.problems += missing
    report.problems = [_placed(repo, problem, report) for problem in report.problems]
    _print_problems(report.problems, {problem.oid for problem in missing}, remote)
    # a clone killed mid-way, or whose checkout failed: fetching alone writes no file
    if pointers and missing and (left := no_index_hint(repo) or left_lock_hint(repo)):
        print(f"hint: {left}", file=sys.stderr)
    if repair and report.refetch:
        report.problems = _repair(repo, store, report)
    if not report.problems:
        print("fsck: ok")
    if pointers and scope.indexes and not all_refs and (left := _left_as_pointers(repo)):
        print(f"hint: {left}", file=sys.stderr)
    return 1 if report.problems else 0


def _print_problems(problems: list[Problem], missing: set[str | None], remote: bool) -> None:
    """One line a problem, but for missing objects (a lazy clone lacks thousands): the
    first ``SHOWN`` of them, then one line counting the rest, with the commands that
    fetch them."""
    shown = 0
    for problem in problems:
        if problem.oid in missing:
            shown += 1
            if shown > SHOWN:
                continue
        print(f"fsck: {problem}")
    if shown > SHOWN:
        print(f"fsck: {_more_missing(shown - SHOWN, shown, remote)}")


def _more_missing(more: int, total: int, remote: bool) -> str:
    """The line counting the missing objects not named one a line."""
    if remote:
        return (f"{more:,} more object(s) exist neither locally nor on the remote ({total:,} "
                "in all); push them from a clone that has them (`git model push`)")  # fmt: skip
    return (f"{more:,} more object(s) are missing from the local store ({total:,} in all); "
            "run `git model fetch` to fetch them, or `git model pull` to fetch them and "
            "write the files")  # fmt: skip


def _left_as_pointers(repo: git.Repo) -> str | None:
    """What to do about model files this worktree holds as their pointers (a checkout
    killed before it wrote them, a skipped smudge): nothing is damaged, as ``git lfs
    fsck`` would say too, but the files are not the data; None when there are none."""
    paths = checked_out_as_pointers(repo)
    if not paths:
        return None
    named = ", ".join(printable(p) for p in paths[:3]) + (", …" if len(paths) > 3 else "")
    return (f"{len(paths)} model file(s) in the worktree are their pointers, not their "
            f"content ({named}); `git model pull` writes them")  # fmt: skip


def _scope(repo: git.Repo, refs: list[str], all_refs: bool) -> Scope:
    """HEAD and the index; each of ``refs`` (a commit, or ``A..B``: the range's
    commits), every revision resolved here, after ``--end-of-options``; or everything."""
    head = repo.rev_parse("HEAD") if repo.has_commits() else None
    if all_refs:
        return _everything(repo, head)
    if not refs:
        trees = [("HEAD", head, repo)] if head else []
        indexes = [("index", repo)] if repo.worktree is not None else []
        sparse = frozenset(repo.skipped_paths()) if repo.worktree is not None else frozenset()
        return Scope(trees, indexes, [head] if head else [], sparse)
    trees, commits = [], []
    for ref in refs:
        if ".." in ref and "..." not in ref:  # a ref name cannot hold "..": a range
            base, _, tip = ref.partition("..")
            ends = [repo.rev_parse(tip or "HEAD"), "^" + repo.rev_parse(base or "HEAD")]
            commits += git.commits(repo, ends)
        else:
            commit = repo.rev_parse(ref)
            trees.append((printable(ref), commit, repo))
            commits.append(commit)
    return Scope(trees, [], list(dict.fromkeys(commits)))


def _everything(repo: git.Repo, head: str | None) -> Scope:
    """Each worktree's HEAD and index, every branch and tag, every stash entry."""
    trees, indexes, commits = [], [], []
    for path in worktree_dirs(repo):
        here = path == repo.worktree
        worktree = repo if here else git.Repo.discover(path)
        worktree.likely_pointers = repo.likely_pointers
        of = "" if here else f" of {printable(str(path))}"
        if worktree.has_commits():
            commit = worktree.rev_parse("HEAD")
            trees.append((f"HEAD{of}", commit, worktree))
            commits.append(commit)
        indexes.append((f"index{of}", worktree))
    if not trees and head:  # a bare repository
        trees.append(("HEAD", head, repo))
        commits.append(head)
    commits += git.commits(repo, [], ["--no-walk=unsorted", "--branches", "--tags"])
    commits += stash_commits(repo)
    return Scope(trees, indexes, list(dict.fromkeys(commits)))


def collect(repo: git.Repo, scope: Scope, report: Report, skip: set[str]) -> None:
    """The objects the scope's commits (but those in ``skip``, already read) name, each
    blob read once, with where each was first found: in a commit, else an index."""
    commits = [commit for commit in scope.commits if commit not in skip]
    for found in pointers_in_trees(repo, commits):
        report.referenced[found.pointer.oid] = found.pointer
        report.named.setdefault((found.path, found.pointer), found.commit[:SHORT])
        report.found.setdefault(found.pointer.oid, Place(found.path, found.commit, ""))
    for oid, place in report.staged.items():
        report.found.setdefault(oid, place)


def check_objects(store: LocalStore, refetch: dict[str, Pointer | None]) -> list[Problem]:
    """Hash every local object; move the ones that do not match their oid to ``bad/``."""
    problems = []
    for oid in sorted(store.oids()):
        try:
            digest = store.digest(oid)
        except FileNotFoundError:  # gone since listed, or lent and rewritten: not stored
            continue  # (the pointer checks name it missing where a commit needs it)
        if digest != oid:
            store.quarantine(oid)
            refetch[oid] = None
            what = f"corrupt object {oid} (hashes to {digest[:12]}) moved to model/bad/"
            problems.append(Problem(what, REPAIR_HINT, oid))
    return problems


def check_quarantined(
    repo: git.Repo, store: LocalStore, refetch: dict[str, Pointer | None]
) -> list[Problem]:
    """Objects found corrupt before (by an earlier fsck or a checkout), still in ``bad/``
    and not fetched again, that a commit names: a worktree, a stash or a branch that
    is not this HEAD may still need them."""
    names = sorted(store.bad_dir.iterdir()) if store.bad_dir.is_dir() else []
    lost = {p.name for p in names if is_valid_oid(p.name)} - set(refetch)
    lost = {oid for oid in lost if not store.has(oid)}
    if not lost or not repo.has_commits():
        return []
    named = {f.pointer.oid: f.pointer for f in pointers_in_history(repo, ["--all"])}
    problems = []
    for oid in sorted(lost & set(named)):
        refetch[oid] = named[oid]
        what = f"object {oid} was found corrupt (in model/bad/) and not fetched again"
        problems.append(Problem(what, REPAIR_HINT, oid))
    return problems


def check_pointers(repo: git.Repo, scope: Scope, report: Report) -> list[Problem]:
    """The pointer files of the scope's trees and indexes: canonical, and present for
    every tracked file. Each pointer file found is added to the report."""
    # listed one at a time: at 100,000 files each listing is 17 MiB
    sources: list[tuple[str, str | None, git.Repo, Callable[[], list[git.FileEntry]]]] = [
        (label, commit, worktree, functools.partial(repo.ls_tree, commit))
        for label, commit, worktree in scope.trees
    ]
    # an index is checked where it differs from its worktree's HEAD, when that is checked
    heads = {id(w): commit for label, commit, w in scope.trees if label.startswith("HEAD")}
    for label, worktree in scope.indexes:
        head = heads.get(id(worktree))
        changes = functools.partial(worktree.index_changes, head) if head else worktree.ls_files
        sources.append((label, None, worktree, changes))
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for where, commit, worktree, listing in sources:
        entries = [e for e in listing() if e.mode & 0o170000 == 0o100000]
        pointers = set()
        places = report.found if commit else report.staged  # a commit's place comes first
        for found in pointer_files(repo, entries):
            report.referenced[found.pointer.oid] = found.pointer
            pointers.add(found.blob)
            report.named.setdefault((found.path, found.pointer), where)
            places.setdefault(found.pointer.oid, Place(found.path, commit, where))
        entries = [e for e in entries if e.oid not in pointers]  # canonical: nothing wrong
        tracked = worktree.check_attr("filter", [e.path for e in entries])
        for entry in entries:
            if (entry.path, entry.oid) in seen:
                continue
            seen.add((entry.path, entry.oid))
            problem = blob_problem(repo, entry, tracked.get(entry.path) == "model", where)
            if problem is not None:
                problems.append(problem)
    return problems


def check_sizes(store: LocalStore, report: Report) -> list[Problem]:
    """Pointers whose size is not that of the object we hold under their oid: a wrong
    pointer when the object's bytes hash to the oid (the object is kept as it is), a
    corrupt object otherwise (then quarantined, to be fetched again)."""
    problems = []
    for (path, pointer), where in sorted(report.named.items(), key=lambda i: i[0][0]):
        if pointer.oid in report.refetch:
            continue  # already found corrupt
        try:
            store.check_size(pointer, path)
        except PointerSizeError as exc:
            what = (
                f"{printable(path)} ({where}): its pointer names object {pointer.oid} with "
                f"{exc.claimed} bytes, but that object has {exc.held} bytes (it is intact)"
            )
            fix = (f"restore the file's content and `git add {printable(path)}` to commit a "
                   "right pointer")  # fmt: skip
            problems.append(Problem(what, fix))  # fmt: skip
        except ChecksumError:
            report.refetch[pointer.oid] = None  # which size is right: ask the history
            what = f"corrupt object {pointer.oid} (named by {printable(path)}) moved to model/bad/"
            problems.append(Problem(what, REPAIR_HINT, pointer.oid))
    return problems


def check_presence(
    repo: git.Repo, store: LocalStore, report: Report, remote: bool,
    sparse: frozenset[str] = frozenset(),
) -> list[Problem]:  # fmt: skip
    """Referenced objects missing locally: on the remote (``--remote``) or nowhere. An
    object only files at ``sparse`` paths name (left out by a sparse checkout, which
    fetches none of them) is not missing, only counted."""
    missing = {oid: p for oid, p in report.referenced.items()
               if p.size > 0 and not store.has(oid) and oid not in report.refetch}  # fmt: skip
    if sparse and missing:
        needed = {pointer.oid for path, pointer in report.named if path not in sparse}
        outside = [oid for oid in missing if oid not in needed]
        for oid in outside:
            del missing[oid]
        if outside:
            said = (f"{len(outside)} object(s) of files outside the sparse checkout are not "
                    "fetched (`git model fsck HEAD` checks them too)")  # fmt: skip
            print(f"fsck: {said}", file=sys.stderr)
    for oid, pointer in missing.items():
        report.refetch[oid] = pointer
    if not missing:
        return []
    if not remote:
        return [Problem(f"object {oid} is missing from the local store", FETCH_HINT, oid)
                for oid in sorted(missing)]  # fmt: skip
    model_remote = remote_for(repo, repo.settings())
    on_remote = layouts.present(model_remote.open(), missing.values())
    later = sorted(on_remote & missing.keys())  # not fetched yet: no problem
    for oid in later[:SHOWN]:
        print(f"fsck: object {oid} is not fetched yet (the remote has it)", file=sys.stderr)
    if len(later) > SHOWN:
        print(f"fsck: {len(later) - SHOWN:,} more object(s) are not fetched yet (the remote "
              "has them); `git model fetch` fetches them", file=sys.stderr)  # fmt: skip
    problems = []
    for oid in sorted(missing):
        if oid in on_remote:
            report.refetch.pop(oid)
        else:
            problems.append(Problem(
                f"object {oid} exists neither locally nor on {model_remote.display}",
                "push it from a clone that has it (`git model push`)",
                oid,
            ))  # fmt: skip
    return problems


def _placed(repo: git.Repo, problem: Problem, report: Report) -> Problem:
    """``problem`` naming where its object was found, and (found in a commit) the
    fetch command that brings that object back."""
    place = report.found.get(problem.oid) if problem.oid else None
    if place is None:
        return problem
    what = f"{problem.what} ({place})"
    fetch = f"`git model fetch {_remote_name(repo, report)} {place.commit[:SHORT]}`" if (
        place.commit) else None  # fmt: skip
    if problem.fix == REPAIR_HINT:
        fix = f"run {fetch} or `git model fsck --repair` to fetch it again" if fetch else (
            problem.fix)  # fmt: skip
    elif problem.fix == FETCH_HINT:
        fix = problem.fix.replace("`git model fetch`", fetch or "`git model fsck --repair`")
    else:
        fix = problem.fix
    return Problem(what, fix, problem.oid)


def _remote_name(repo: git.Repo, report: Report) -> str:
    """The Git remote ``git model fetch`` would use (REMOTE where none is known)."""
    if report.remote is None:
        try:
            report.remote = default_remote_name(repo.settings(strict=False)) or "REMOTE"
        except GitModelError:
            report.remote = "REMOTE"
    return report.remote


def _repair(repo: git.Repo, store: LocalStore, report: Report) -> list[Problem]:
    """Fetch every object in ``report.refetch``; the problems that remain."""
    pointers = _sizes_known(repo, report)
    fetcher = Fetcher(repo, store, repo.settings())
    repaired: set[str] = set()
    for oid, pointer in pointers.items():
        try:
            if fetcher(pointer):
                repaired.add(oid)
                print(f"fsck: repaired object {oid}")
        except GitModelError as exc:
            print(f"fsck: could not fetch {oid}: {exc}", file=sys.stderr)
    return [p for p in report.problems if p.oid is None or p.oid not in repaired]


def _sizes_known(repo: git.Repo, report: Report) -> dict[str, Pointer]:
    """The pointers to refetch; a corrupt object's size comes from any commit naming it."""
    known = {**report.referenced, **{o: p for o, p in report.refetch.items() if p is not None}}
    if any(p is None and oid not in known for oid, p in report.refetch.items()):
        for found in pointers_in_history(repo, ["--all"]) if repo.has_commits() else []:
            known.setdefault(found.pointer.oid, found.pointer)
    return {oid: known[oid] for oid in report.refetch if oid in known}
