"""The Python API: read any version of a model file without checking it out.

>>> import gitmodel
>>> with gitmodel.open("model.safetensors", rev="HEAD~2") as f:  # doctest: +SKIP
...     header_size = int.from_bytes(f.read(8), "little")
>>> gitmodel.path("model.safetensors", rev="v1.0")  # doctest: +SKIP
PosixPath('/repo/.git/model/objects/3f/a1/3fa1…')
>>> with gitmodel.open("model.safetensors", stage="production") as f:  # doctest: +SKIP
...     ...  # the version the registry's production stage serves
>>> gitmodel.resolve("classifier", "production").primary.commit  # doctest: +SKIP
'9c1e…'

Paths are relative to the repository's top directory. Objects missing from the
local store are fetched from the model remote first.

``repo`` may also be a repository URL (``https://…``, ``ssh://…``, ``host:path``,
``file:///srv/repo.git``) or a bare repository: ``open`` then reads without a clone,
through ``gitmodel://`` (:mod:`gitmodel.reader.fs`), moving only the parts of the file
that are read, and ``resolve`` reads the URL's registry log.

>>> with gitmodel.open("models/clf/weights.safetensors", stage="production",
...                    repo="https://git.example.com/ml/clf.git") as f:  # doctest: +SKIP
...     header_size = int.from_bytes(f.read(8), "little")
"""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.pointer import POINTER_MAX_SIZE, Pointer, try_parse
from gitmodel.resolver import Resolver
from gitmodel.store.local import LocalStore

if TYPE_CHECKING:
    from gitmodel.registry.serving import Resolved

__all__ = ["open", "path", "resolve"]


def open(path: str | os.PathLike[str], rev: str | None = None, stage: str | None = None,
         repo: str | os.PathLike[str] = ".") -> BinaryIO:  # fmt: skip
    """A binary file object with the bytes of ``path`` as of ``rev``.

    ``rev=None`` reads the worktree file (the store object when the worktree holds
    only its pointer). ``stage`` instead reads the version that stage of the
    registered model containing ``path`` serves: its main version (the larger weight)
    when a canary splits the stage, never one drawn by the weights. The stage is
    resolved once per call and the whole file read from that version, however the
    stage moves meanwhile; the next call sees where it is then.
    For a file that is not a model file, the Git blob is returned.
    Raises :class:`FileNotFoundError` when ``path`` is not in ``rev``.

    With a repository URL (or a bare repository) for ``repo``, nothing is cloned:
    ``path`` is a repository path, ``rev`` a branch, tag or full commit id, and ``stage``
    a stage name (of the model whose served files include ``path``) or ``NAME@STAGE``.
    """
    if _is_url(repo):
        return _open_url(os.fspath(repo), os.fspath(path), rev, stage)
    repository = _discover(repo)
    if repository.worktree is None:  # a bare repository: read as one without a clone
        return _open_url(str(repository.git_dir), os.fspath(path), rev, stage)
    name = _relative(repository, path)
    rev = _stage_rev(repository, name, stage) if stage is not None else rev
    if rev is None:
        file = repository.top / name
        if not file.is_file():
            raise FileNotFoundError(f"{name} is not in the worktree")
        pointer = _pointer_file(file)
        target = _object(repository, pointer, name) if pointer is not None else file
        return builtins.open(target, "rb")
    blob = _blob(repository, name, rev)
    pointer = git.read_pointer(repository, blob)
    if pointer is not None:
        return builtins.open(_object(repository, pointer, name), "rb")
    return io.BytesIO(repository.read_blob(blob) or b"")


def path(path: str | os.PathLike[str], rev: str | None = None, stage: str | None = None,
         repo: str | os.PathLike[str] = ".") -> Path:  # fmt: skip
    """The local path of the stored object for ``path`` as of ``rev`` (or ``stage``,
    as in :func:`open`).

    ``rev=None`` means the version in the index (what ``git add`` last stored).
    Treat the file as read-only: it is the store's only copy.
    """
    if _is_url(repo):
        raise UserError("gitmodel.path needs a local repository (its store holds the file)",
                        hint="read it without a clone: gitmodel.open(path, repo=URL)")  # fmt: skip
    repository = _discover(repo)
    name = _relative(repository, path)
    rev = _stage_rev(repository, name, stage) if stage is not None else rev
    if rev is None:
        entries = [e for e in repository.ls_files([name]) if e.path == name]
        if not entries:
            raise FileNotFoundError(f"{name} is not in the index")
        blob = entries[0].oid
    else:
        blob = _blob(repository, name, rev)
    pointer = git.read_pointer(repository, blob)
    if pointer is None:
        raise UserError(f"{name} is not a model file", hint="use gitmodel.open() for Git blobs")
    return _object(repository, pointer, name)


def resolve(name: str, stage: str, repo: str | os.PathLike[str] = ".") -> Resolved:
    """What ``stage`` of registered model ``name`` serves now: its versions with their
    traffic weights, commits and files (``git model resolve NAME@STAGE --json``); of
    the registry log at ``repo`` now when it is a repository URL."""
    from gitmodel.registry import serving

    if _is_url(repo):
        from gitmodel.reader.source import RemoteRepo

        return RemoteRepo(os.fspath(repo)).resolve(name, stage)
    return serving.resolve(_discover(repo), name, stage)


def _stage_rev(repository: git.Repo, name: str, stage: str) -> str:
    """The commit of the version ``stage`` serves, of the registered model holding ``name``."""
    from gitmodel.registry import declare, serving

    models = [m for m in declare.load(repository).models.values() if m.covers(name)]
    if not models:
        raise UserError(f"{name} is not part of a registered model",
                        hint="register it: git model register NAME PATH")  # fmt: skip
    return serving.resolve(repository, models[0].name, stage).primary.commit


def _is_url(repo: str | os.PathLike[str]) -> bool:
    """Whether ``repo`` names a repository by URL (read without a clone), not a folder."""
    from gitmodel.git import shallow

    text = os.fspath(repo)
    return "://" in text or not shallow.is_local(text)


def _open_url(url: str, name: str, rev: str | None, stage: str | None) -> BinaryIO:
    """``name`` at ``url``, without a clone; a stage resolved once, here, and the file
    read from the commit it named (so a filesystem kept by fsspec is never stale)."""
    from gitmodel.reader.fs import GitModelFileSystem
    from gitmodel.reader.source import RemoteRepo

    if stage is not None:
        if rev is not None:
            raise UserError("give rev or stage, not both", hint="gitmodel.open(path, stage=STAGE)")
        rev = RemoteRepo(url).served_version(stage, name.strip("/")).commit
    fs = GitModelFileSystem(repo=url, rev=rev)
    found: BinaryIO = fs.open(name.strip("/"), "rb")
    return found


def _discover(repo: str | os.PathLike[str]) -> git.Repo:
    """The repository at folder ``repo``; a user error naming ``repo`` when there is none."""
    where = os.fspath(repo)
    hint = "repo= takes a repository's folder (default: the current one) or its URL"
    if not os.path.isdir(where):
        raise UserError(f"{where} is not a folder", hint=hint)
    try:
        return git.Repo.discover(where)
    except UserError:
        raise UserError(f"{where} is not in a Git repository", hint=hint) from None


def _relative(repository: git.Repo, path: str | os.PathLike[str]) -> str:
    top = repository.top.resolve()
    given = Path(path)
    full = (given if given.is_absolute() else top / given).resolve()
    if not full.is_relative_to(top):
        raise UserError(f"{path} is outside the repository", hint=f"give a path inside {top}")
    return full.relative_to(top).as_posix()


def _blob(repository: git.Repo, name: str, rev: str) -> str:
    entries = [e for e in repository.ls_tree(repository.rev_parse(rev), [name]) if e.path == name]
    if not entries:
        raise FileNotFoundError(f"{name} is not in {rev}")
    return entries[0].oid


def _pointer_file(file: Path) -> Pointer | None:
    if file.stat().st_size >= POINTER_MAX_SIZE:
        return None
    return try_parse(file.read_bytes())


def _object(repository: git.Repo, pointer: Pointer, name: str) -> Path:
    store = LocalStore(repository.model_dir)
    return Resolver(repository, store, store.tmp_dir).object(pointer, name)
