"""``git model checkout NAME@STAGE|@VERSION [--to DIR]``: write exactly one version's files."""

from __future__ import annotations

import sys
from pathlib import Path

from gitmodel import git, gitindex
from gitmodel.commands.context import Fetcher, open_repo
from gitmodel.errors import UserError
from gitmodel.pointer import try_parse
from gitmodel.registry import declare, stages
from gitmodel.registry.versions import File, pick, split_spec, versions
from gitmodel.store.local import LocalStore, hash_file, write_atomically


def checkout(spec: str, to: str | None = None) -> int:
    """Write the files of NAME@STAGE (its primary version), NAME@VERSION or NAME@REV.

    Into DIR (at their repository paths) with ``--to``, else into the worktree, where a
    file that holds something other than a version of the model is never overwritten.
    Each file is written to a temporary file, verified and renamed into place; model
    files missing from the local store are fetched first.
    """
    repo, store = open_repo()
    name, what = split_spec(spec)
    registry = declare.load(repo)
    model = registry.model(declare.valid_name(name))
    found = versions(repo, registry, model)
    if what is not None and what in model.stages:
        held = stages.held(stages.log(repo).state(), name, what)
        if not held:
            raise UserError(
                f"{name} has no version in {what}",
                hint=f"promote one: git model promote {name}@VERSION {what}",
            )
        chosen = max(held, key=lambda a: a.weight)
        label, files = f"v{chosen.version} ({what})", chosen.files
    else:
        version = pick(repo, found, model, what)
        label, files = f"v{version.number}", version.files
    root = Path(to).resolve() if to is not None else repo.top
    known = {f.oid or f.blob for v in found for f in v.files} if to is None else None
    _ensure_present(repo, store, files)
    written = sum(_write(repo, store, f, root, known) for f in files)
    print(
        f"gitmodel: {name} {label}: wrote {written} of {len(files)} file(s) under {root}",
        file=sys.stderr,
    )
    return 0


def _ensure_present(repo: git.Repo, store: LocalStore, files: tuple[File, ...]) -> None:
    fetcher: Fetcher | None = None
    for f in files:
        if f.oid is None or store.has(f.oid):
            continue
        fetcher = fetcher or Fetcher(repo, store, repo.settings())
        if not fetcher(f.pointer):
            raise UserError(
                f"{f.path} ({f.oid[:12]}) is in no store we can reach",
                hint="push it from a clone that has it, then retry",
            )


def _write(repo: git.Repo, store: LocalStore, f: File, root: Path, known: set[str] | None) -> bool:
    """Write one file; False when it already holds the right bytes."""
    dest = root.joinpath(*declare.valid_path(f.path).split("/"))
    if dest.is_symlink() or (dest.exists() and not dest.is_file()):
        raise UserError(f"{dest} is not a regular file", hint="move it away and retry")
    if dest.is_file():
        current, is_pointer = _identify(repo, dest, f)
        if current == (f.oid or f.blob) and not is_pointer:
            return False
        if known is not None and current not in known:
            raise UserError(
                f"{dest} has changes that are not a version of the model",
                hint="commit or stash them, or check out elsewhere with --to DIR",
            )
    dest.parent.mkdir(parents=True, exist_ok=True)
    if f.oid is not None:
        store.copy_to(f.pointer, dest)
    else:
        _write_blob(repo, f, dest)
    return True


def _identify(repo: git.Repo, path: Path, f: File) -> tuple[str, bool]:
    """What ``path`` holds in the terms of ``f`` (a sha256, or a blob id for a plain Git
    file), and whether it is only a pointer to that content."""
    if f.oid is None:
        return gitindex.blob_id(path.read_bytes(), repo.hash_size).hex(), False
    if path.stat().st_size < 1024:
        pointer = try_parse(path.read_bytes())
        if pointer is not None:
            return pointer.oid, True
    return hash_file(path)[0], False


def _write_blob(repo: git.Repo, f: File, dest: Path) -> None:
    data = repo.read_blob(f.blob)
    if data is None:
        raise UserError(f"{f.path}: Git blob {f.blob[:12]} is not readable",
                        hint="run `git fetch`")  # fmt: skip
    write_atomically(dest, [data])
