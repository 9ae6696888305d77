"""``git model fsck``: prove the local store and the pointers in HEAD and the index.

Every problem is one line naming what is wrong and the command that fixes it;
``--repair`` refetches corrupt and missing objects (from a local remote's store
or the model remote). Exit status 1 while any problem remains.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from gitmodel import git
from gitmodel.checks import Problem, blob_problem
from gitmodel.errors import ChecksumError, GitModelError, PointerSizeError
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.remote import layouts
from gitmodel.remote.config import remote_for
from gitmodel.scan import pointer_files, pointers_in_history
from gitmodel.store.local import LocalStore
from gitmodel.workspace import Fetcher, open_repo

REPAIR_HINT = "run `git model fsck --repair` to fetch it again"


@dataclass
class Report:
    problems: list[Problem]
    refetch: dict[str, Pointer | None]  # oids to fetch again (pointer if its size is known)
    referenced: dict[str, Pointer]
    named: dict[tuple[str, Pointer], str] = field(default_factory=dict)  # (path, pointer): where


def fsck(pointers: bool, objects: bool, remote: bool, repair: bool) -> int:
    """Check objects and/or pointers (both when neither is chosen); 1 if problems remain."""
    if not pointers and not objects:
        pointers = objects = True
    repo, store = open_repo()
    report = Report([], {}, {})
    if objects:
        report.problems += check_objects(store, report.refetch)
        report.problems += check_quarantined(repo, store, report.refetch)
    if pointers:
        report.problems += check_pointers(repo, report.referenced, report.named)
        report.problems += check_sizes(store, report)
        report.problems += check_presence(repo, store, report, remote)
    for problem in report.problems:
        print(f"fsck: {problem}")
    if repair and report.refetch:
        report.problems = _repair(repo, store, report)
    if not report.problems:
        print("fsck: ok")
    return 1 if report.problems else 0


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


def check_pointers(
    repo: git.Repo,
    referenced: dict[str, Pointer],
    named: dict[tuple[str, Pointer], str] | None = None,
) -> list[Problem]:
    """Pointers in HEAD and the index: canonical, and present for every tracked file.
    Each pointer file found is added to ``named`` with where it was found."""
    sources = [("index", repo.ls_files())] if repo.worktree is not None else []
    if repo.has_commits():
        sources.insert(0, ("HEAD", repo.ls_tree("HEAD")))
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for where, entries in sources:
        entries = [e for e in entries if e.mode & 0o170000 == 0o100000]
        pointers = set()
        for found in pointer_files(repo, entries):
            referenced[found.pointer.oid] = found.pointer
            pointers.add(found.blob)
            if named is not None:
                named.setdefault((found.path, found.pointer), where)
        entries = [e for e in entries if e.oid not in pointers]  # canonical: nothing wrong
        tracked = repo.check_attr("filter", [e.path for e in entries])
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
                f"{path} ({where}): its pointer names object {pointer.oid} with "
                f"{exc.claimed} bytes, but that object has {exc.held} bytes (it is intact)"
            )
            fix = f"restore the file's content and `git add {path}` to commit a right pointer"
            problems.append(Problem(what, fix))  # fmt: skip
        except ChecksumError:
            report.refetch[pointer.oid] = None  # which size is right: ask the history
            what = f"corrupt object {pointer.oid} (named by {path}) moved to model/bad/"
            problems.append(Problem(what, REPAIR_HINT, pointer.oid))
    return problems


def check_presence(
    repo: git.Repo, store: LocalStore, report: Report, remote: bool
) -> list[Problem]:
    """Referenced objects missing locally: on the remote (``--remote``) or nowhere."""
    missing = {oid: p for oid, p in report.referenced.items()
               if p.size > 0 and not store.has(oid) and oid not in report.refetch}  # fmt: skip
    for oid, pointer in missing.items():
        report.refetch[oid] = pointer
    if not missing:
        return []
    if not remote:
        return [Problem(f"object {oid} is missing from the local store",
                        "run `git model fetch` (or `git model fsck --remote` to check the remote)",
                        oid) for oid in sorted(missing)]  # fmt: skip
    model_remote = remote_for(repo, repo.settings())
    on_remote = layouts.present(model_remote.open(), missing.values())
    problems = []
    for oid in sorted(missing):
        if oid in on_remote:
            print(f"fsck: object {oid} is not fetched yet (the remote has it)", file=sys.stderr)
            report.refetch.pop(oid)
        else:
            problems.append(Problem(
                f"object {oid} exists neither locally nor on {model_remote.display}",
                "push it from a clone that has it (`git model push`)",
                oid,
            ))  # fmt: skip
    return problems


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
