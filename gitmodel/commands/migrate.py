"""``git model migrate``: move existing history into gitmodel, or back out of it.

``import --include GLOB`` rewrites commits so matching files become pointers
(their bytes go to the local store) and ``.gitattributes`` tracks the globs;
``export`` turns pointers back into plain blobs. ``import --from-lfs`` needs no
rewrite at all: git-lfs pointers are gitmodel pointers, so it only imports
``.git/lfs/objects`` (verifying every hash), moves the attributes to
``filter=model`` in one new commit, and lets gitmodel serve ``filter=lfs`` too.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from gitmodel import attributes, git
from gitmodel.errors import ObjectMissingError, UserError
from gitmodel.git.rewrite import (
    Rewriter,
    blob,
    blob_size,
    object_id,
    tag_object,
    tag_target,
    write_blob,
    write_blob_from_file,
)
from gitmodel.lfs_import import import_from_lfs, is_lfs_repository
from gitmodel.pointer import POINTER_MAX_SIZE, Pointer, try_parse
from gitmodel.sizes import format_size
from gitmodel.store.local import LocalStore, hash_file
from gitmodel.workspace import Fetcher, open_repo

if TYPE_CHECKING:
    import pygit2


def migrate_import(globs: list[str], refs: list[str], everything: bool, from_lfs: bool) -> int:
    """Rewrite history so files matching ``globs`` are pointers (or convert a git-lfs repo)."""
    repo, store = open_repo()
    if from_lfs:
        if globs or refs or everything:
            raise UserError("--from-lfs takes no glob or ref", hint="its history stays as it is")
        if not is_lfs_repository(repo):
            raise UserError("this is not a git-lfs repository: no .gitattributes names "
                            "filter=lfs, and it holds no git-lfs object or hook",
                            hint='to move files into gitmodel, rewrite history: '
                            '`git model migrate import --include "*.bin"`')  # fmt: skip
        _check_filter(repo)
        return import_from_lfs(repo, store)
    _check_globs(globs)
    stats = {"files": 0, "bytes": 0}

    def to_pointer(blob_id: pygit2.Oid) -> pygit2.Oid:
        size = blob_size(repo, blob_id)
        if size == 0 or (size < POINTER_MAX_SIZE and try_parse(blob(repo, blob_id).data)):
            return blob_id
        with store.writer() as writer:
            for chunk in blobs.read(str(blob_id)):  # streamed: never a whole file in memory
                writer.write(chunk)
            pointer = writer.commit()
        stats["files"] += 1
        stats["bytes"] += pointer.size
        return write_blob(repo, pointer.encode())

    def add_lines(old: bytes | None) -> bytes | None:
        text = old.decode("utf-8", "surrogateescape") if old is not None else ""
        new_text, added = attributes.add_patterns(text, globs)
        return new_text.encode("utf-8", "surrogateescape") if added else old

    with git.BlobStream(repo) as blobs:
        rewriter = Rewriter(repo, globs, to_pointer, add_lines)
        _rewrite(repo, rewriter, refs, everything, must_match=True)
    print(f"migrate: {stats['files']} file version(s), {format_size(stats['bytes'])}, "
          "moved into the model store")  # fmt: skip
    return 0


def migrate_export(globs: list[str], refs: list[str], everything: bool) -> int:
    """Rewrite history so pointers at ``globs`` paths become the files' bytes again."""
    repo, store = open_repo()
    _check_globs(globs)
    fetch = Fetcher(repo, store, repo.settings())

    def to_content(blob_id: pygit2.Oid) -> pygit2.Oid:
        content = blob(repo, blob_id)
        pointer = try_parse(content.data) if 0 < content.size < POINTER_MAX_SIZE else None
        if pointer is None:
            return blob_id
        if pointer.size == 0:
            return write_blob(repo, b"")
        return _export_blob(repo, store, fetch, pointer)

    def remove_lines(old: bytes | None) -> bytes | None:
        if old is None:
            return None
        new_text, removed = attributes.remove_patterns(old.decode("utf-8", "surrogateescape"),
                                                       globs)  # fmt: skip
        if not removed:
            return old
        return new_text.encode("utf-8", "surrogateescape") if new_text.strip() else None

    _rewrite(repo, Rewriter(repo, globs, to_content, remove_lines), refs, everything)
    return 0


def _export_blob(repo: git.Repo, store: LocalStore, fetch: Fetcher, pointer: Pointer) -> pygit2.Oid:
    """The Git blob of an object's bytes, verified first."""
    if not store.has(pointer.oid) and not fetch(pointer):
        raise ObjectMissingError(pointer.oid, hint="fetch it first: `git model fetch --all`")
    store.check_size(pointer)  # a wrong size is the pointer's fault, not the object's
    path = store.object_path(pointer.oid)
    if not path.exists():  # packed, so small: read (and verified) in one piece
        return write_blob(repo, b"".join(store.read(pointer)))
    if hash_file(path) != (pointer.oid, pointer.size):
        store.quarantine(pointer.oid)
        raise UserError(f"object {pointer.oid} is corrupt (moved to model/bad/)",
                        hint="run `git model fsck --repair`")  # fmt: skip
    return write_blob_from_file(repo, str(path))


def _check_globs(globs: list[str]) -> None:
    if not globs:
        raise UserError("which files?", hint='name them: --include "*.safetensors"')
    for glob in globs:
        if not glob.strip() or "\n" in glob or glob.startswith(("#", "!")):
            raise UserError(f"invalid pattern {glob[:80]!r}", hint='quote a glob, e.g. "*.bin"')


def _rewrite(
    repo: git.Repo, rewriter: Rewriter, refs: list[str], everything: bool, must_match: bool = False
) -> None:
    """Rewrite the commits of the refs; with ``must_match``, refuse (before anything is
    written) when no file of theirs matches the rewriter's globs."""
    _check_ready(repo)
    names = _target_refs(repo, refs, everything)
    tips = {name: repo.run(["rev-parse", "--verify", name]).stdout.decode().strip()
            for name in names}  # fmt: skip
    commits = _commits(repo, list(tips.values()))
    if must_match and not _matches_any(repo, rewriter.globs, commits):
        globs = ", ".join(f'"{glob}"' for glob in rewriter.globs)
        raise UserError(f"no file in the commits to rewrite matches {globs}",
                        hint="nothing was changed; check the pattern, or name more refs "
                        "(--everything: every branch and tag)")  # fmt: skip
    rewriter.rewrite_commits(commits)
    updates = _ref_updates(repo, rewriter, tips)
    if updates:
        lines = "".join(f"update {name} {new} {old}\n" for name, (old, new) in updates.items())
        repo.run(["update-ref", "--create-reflog", "-m", "gitmodel migrate", "--stdin"],
                 input=lines.encode())  # fmt: skip
    changed = sum(1 for old, new in rewriter.commits.items() if old != new)
    print(f"migrate: rewrote {changed} of {len(commits)} commit(s); updated "
          f"{len(updates)} ref(s): {', '.join(sorted(updates)) or 'none'}")  # fmt: skip
    if repo.worktree is not None and _head_moved(repo, updates):
        repo.run(["reset", "-q", "--hard", "HEAD"])
    if updates:
        print("migrate: the old commits stay reachable from the reflog "
              "(`git reflog show REF`) until it expires", file=sys.stderr)  # fmt: skip


class _Matched(Exception):
    """A file to convert was found: the dry run of :func:`_matches_any` stops there."""


def _matches_any(repo: git.Repo, globs: list[str], commits: list[str]) -> bool:
    """Whether a file of ``commits`` matches ``globs``, as the rewrite selects files: a
    dry run that writes nothing and stops at the first file it would convert."""

    def found(blob_id: pygit2.Oid) -> pygit2.Oid:
        raise _Matched

    try:
        Rewriter(repo, globs, found, lambda old: old).rewrite_commits(commits)
    except _Matched:
        return True
    return False


def _check_filter(repo: git.Repo) -> None:
    settings = repo.settings()
    if "filter.model.process" not in settings and "filter.model.smudge" not in settings:
        raise UserError("the model filter is not configured", hint="run `git model install`")


def _check_ready(repo: git.Repo) -> None:
    _check_filter(repo)
    if repo.worktree is not None:
        dirty = repo.run(["status", "--porcelain", "--untracked-files=no"]).stdout.strip()
        if dirty:
            raise UserError("the worktree has uncommitted changes",
                            hint="commit or stash them first")  # fmt: skip
    if not repo.has_commits():
        raise UserError("there is no commit to migrate", hint="commit something first")


def _target_refs(repo: git.Repo, refs: list[str], everything: bool) -> list[str]:
    """Full ref names: every branch and tag, the named ones, or the current branch."""
    if everything:
        if refs:
            raise UserError("--everything takes no ref", hint="drop the refs or --everything")
        out = repo.run(["for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags"])
        return out.stdout.decode().split()
    names = []
    for ref in refs or ["HEAD"]:
        full = repo.run(["rev-parse", "--symbolic-full-name", ref], check=False).stdout.decode()
        full = full.strip()
        if full == "" and ref == "HEAD":
            full = "HEAD"  # detached
        if not (full == "HEAD" or full.startswith(("refs/heads/", "refs/tags/"))):
            raise UserError(f"{ref!r} is not a branch or tag", hint="name a local branch or tag")
        names.append(full)
    return names


def _commits(repo: git.Repo, tips: list[str]) -> list[str]:
    out = repo.run(["rev-list", "--topo-order", "--reverse", *tips, "--"]).stdout
    return out.decode().split()


def _ref_updates(
    repo: git.Repo, rewriter: Rewriter, tips: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """name -> (old, new) for each ref whose commit (or tag's commit) was rewritten."""
    updates = {}
    for name, old in tips.items():
        tag = tag_target(repo, old)
        if tag is not None:
            tag_id, target = tag  # tags of tags, trees or blobs stay as they are
            new_target = rewriter.commits.get(target, target)
            new = old if new_target == target else str(tag_object(repo, tag_id, new_target))
        else:
            commit = object_id(repo, old)
            new = str(rewriter.commits.get(commit, commit))
        if new != old:
            updates[name] = (old, new)
    return updates


def _head_moved(repo: git.Repo, updates: dict[str, tuple[str, str]]) -> bool:
    head = repo.run(["symbolic-ref", "-q", "HEAD"], check=False).stdout.decode().strip()
    return (head or "HEAD") in updates
