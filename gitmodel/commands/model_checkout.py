"""``git model checkout NAME@STAGE|@VERSION [--to DIR]``: write exactly one version's files."""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from gitmodel import git, safepath
from gitmodel.errors import UserError
from gitmodel.git import index_file
from gitmodel.pointer import try_parse
from gitmodel.registry import declare, serving, stages
from gitmodel.registry.versions import File, Version, check_files, pick, versions
from gitmodel.specs import ModelSpec
from gitmodel.store.local import CHUNK_SIZE, LocalStore, write_atomically
from gitmodel.text import printable
from gitmodel.workspace import Fetcher, open_repo

_POINTER_READ = 1024  # a file this small may be a pointer left in place of its content


def checkout(spec: ModelSpec, to: str | None = None) -> int:
    """Write the files of NAME@STAGE (its primary version), NAME@VERSION or NAME@REV.

    Into DIR (at their repository paths) with ``--to``, else into the worktree, where a
    file that holds something other than a version of the model is never overwritten.
    Every path is checked first (under the model's declared paths, no symlink on the
    way, no file in the way that is not ours), so a refusal writes nothing; then each
    file is written to a temporary file, verified and renamed into place. Model files
    missing from the local store are fetched first. Files of other versions at paths
    this one lacks are removed where they hold a version of the model, and named where
    they were changed since.
    """
    repo, store = open_repo()
    name, what = spec.name, spec.what
    registry = declare.load(repo)
    model = registry.model(declare.valid_name(name))
    found = versions(repo, registry, model)
    if what is not None and what in model.stages:
        held = stages.held_files(stages.log(repo).state(), model, what)
        if not held:
            raise UserError(
                f"{name} has no version in {what}",
                hint=f"promote one: git model promote {name}@VERSION {what}",
            )
        chosen = max(held, key=lambda a: a.weight)
        serving.check_held(repo, name, what, [chosen])
        label, files = f"v{chosen.version} ({what})", chosen.files
    else:
        version = pick(repo, found, model, what)
        label = f"v{version.number}"
        files = check_files(model, label, version.files, hint="its commit holds a path Git "
                            "would not check out; pick another version")  # fmt: skip
    root = _root(repo, to)
    every = {f.oid or f.blob for v in found for f in v.files}
    # --to naming the worktree itself is the worktree: a local edit there is never lost
    known = every if to is None or _is_worktree(repo, root) else None
    _ensure_present(repo, store, files)
    targets = [(f, safepath.Target(root, f.path)) for f in files]
    stale = [(f, t) for f, t in targets if _needs_write(repo, f, t, known, to is not None)]
    extra, changed = _not_in_version(repo, root, found, files, every)
    for f, target in stale:
        _write(repo, store, f, target)
    for target in extra:
        _remove(target)
    removed = f", removed {len(extra)}" if extra else ""
    print(f"gitmodel: {name} {label}: wrote {len(stale)} of {len(files)} file(s){removed} "
          f"under {root}", file=sys.stderr)  # fmt: skip
    if changed:
        print(f"gitmodel: left {len(changed)} changed file(s) {label.split()[0]} does not have: "
              f"{', '.join(printable(t.rel) for t in changed)}", file=sys.stderr)  # fmt: skip
    return 0


def _not_in_version(
    repo: git.Repo, root: Path, found: list[Version], files: tuple[File, ...], every: set[str]
) -> tuple[list[safepath.Target], list[safepath.Target]]:
    """The files at ``root`` that other versions of the model hold at paths the chosen
    one (``files``) lacks: those whose content is a version of the model (to remove, so
    that exactly its files are there), and those changed since (left alone)."""
    wanted = {f.path for f in files}
    others = {f.path: f for v in found for f in v.files if f.path not in wanted}  # newest wins
    extra: list[safepath.Target] = []
    changed: list[safepath.Target] = []
    for path, f in sorted(others.items()):
        try:
            target = safepath.Target(root, path)
            src = safepath.open_file(target)
        except (safepath.UnsafePathError, OSError):
            continue  # not a regular file reached through real folders: not ours
        if src is None:
            continue
        with src:
            current, _ = _identify(repo, src, f)
        (extra if current in every else changed).append(target)
    return extra, changed


def _remove(target: safepath.Target) -> None:
    """Delete a file (reached through real folders only), then the folders it leaves
    empty, up to ``target``'s root."""
    with safepath.parent_dir(target) as (dir_fd, name):
        os.unlink(name, dir_fd=dir_fd)
    for folder in list(PurePosixPath(target.rel).parents)[:-1]:
        try:
            target.root.joinpath(*folder.parts).rmdir()
        except OSError:
            break  # not empty


def _root(repo: git.Repo, to: str | None) -> Path:
    """The worktree top, or the ``--to`` folder (made if missing). The folder itself may
    be a symlink, since the user named it; nothing under it may be."""
    if to is None:
        return repo.top
    if not to:  # an unset shell variable: not the current folder, which may be the worktree
        raise UserError("--to names no folder", hint="name a folder for --to")
    root = Path(to).resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise UserError(f"{to} is not a directory", hint="name a folder for --to") from exc
    return root


def _is_worktree(repo: git.Repo, root: Path) -> bool:
    return repo.worktree is not None and os.path.samefile(root, repo.top)


def _ensure_present(repo: git.Repo, store: LocalStore, files: tuple[File, ...]) -> None:
    fetcher: Fetcher | None = None
    for f in files:
        if f.oid is None:
            _read_blob(repo, f)  # a plain file's blob: must be here before anything is written
            continue
        if store.has(f.oid):
            continue
        fetcher = fetcher or Fetcher(repo, store, repo.settings())
        if not fetcher(f.pointer):
            raise UserError(
                f"{f.path} ({f.oid[:12]}) is in no store we can reach",
                hint="push it from a clone that has it, then retry",
            )


def _needs_write(
    repo: git.Repo, f: File, target: safepath.Target, known: set[str] | None, to: bool
) -> bool:
    """Whether ``target`` must be written; refuses (before anything is written) a path
    through a symlink, a file in the way that is not a regular file, and, in the
    worktree (named by ``--to`` if ``to``), a file whose content is not a version of
    the model."""
    src = safepath.open_file(target)
    if src is None:
        return True
    with src:
        current, is_pointer = _identify(repo, src, f)
    if current == (f.oid or f.blob) and not is_pointer:
        return False
    if known is not None and current not in known:
        raise UserError(
            f"{target} has changes that are not a version of the model",
            hint=_edit_hint(target, to),
        )
    return True


def _edit_hint(target: safepath.Target, to: bool) -> str:
    """How to keep or drop a local edit in the way, and where else to check out: with
    ``--to`` already naming this worktree, a folder outside it."""
    drop = f"`git checkout -- {shlex.quote(printable(str(target)))}` drops it"
    elsewhere = "name a folder outside this worktree for --to" if to else (
        "check out elsewhere with --to DIR")  # fmt: skip
    return f"commit or stash the edit to keep it ({drop}), or {elsewhere}"


def _identify(repo: git.Repo, src: BinaryIO, f: File) -> tuple[str, bool]:
    """What ``src`` holds in the terms of ``f`` (a sha256, or a blob id for a plain Git
    file), and whether it is only a pointer to that content."""
    if f.oid is None:
        return index_file.blob_id(src.read(), repo.hash_size).hex(), False
    if os.fstat(src.fileno()).st_size < _POINTER_READ:
        head = src.read()
        pointer = try_parse(head)
        if pointer is not None:
            return pointer.oid, True
        return hashlib.sha256(head).hexdigest(), False
    digest = hashlib.sha256()
    while chunk := src.read(CHUNK_SIZE):
        digest.update(chunk)
    return digest.hexdigest(), False


def _write(repo: git.Repo, store: LocalStore, f: File, target: safepath.Target) -> None:
    if f.oid is not None:
        store.copy_to(f.pointer, target)
    else:
        _write_blob(repo, f, target)


def _write_blob(repo: git.Repo, f: File, target: safepath.Target) -> None:
    write_atomically(target, [_read_blob(repo, f)])


def _read_blob(repo: git.Repo, f: File) -> bytes:
    try:
        data = repo.read_blob(f.blob)
    except KeyError:  # not in this repository
        data = None
    if data is None:
        raise UserError(f"{f.path}: Git blob {f.blob[:12]} is not readable",
                        hint="run `git fetch`")  # fmt: skip
    return data
