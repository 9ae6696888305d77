"""Where a deployment's versions come from: this repository, or a URL read without a clone.

Either way a stage is resolved by the registry (:func:`gitmodel.registry.serving.resolve`),
every file path is checked to lie under the model's declared paths (in a URL's case the
declaration committed with each version), plain Git files are read from Git, and model
files from a local store when one holds them, else from the model remote.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.registry import declare, serving
from gitmodel.registry.stage_events import Assignment
from gitmodel.registry.versions import check_files
from gitmodel.store.local import LocalStore

if TYPE_CHECKING:
    from gitmodel.remote.layouts import Remote

_DECLARATION_MAX = 4 << 20  # a committed declaration is read whole: hostile, so bounded


@dataclass
class Origin:
    """A resolved stage and how to read its files."""

    resolved: serving.Resolved
    read_blob: Callable[[str], bytes]
    open_remote: Callable[[], Remote]
    local: LocalStore | None
    display: str
    _remote: Remote | None = None

    def remote(self) -> Remote:
        """The model remote, opened on first need (an unchanged deploy needs none)."""
        if self._remote is None:
            self._remote = self.open_remote()
        return self._remote


def from_repo(name: str, stage: str) -> Origin:
    """The stage as this repository's registry log has it (fetch it and the commits it
    names first to deploy what others promoted: `git fetch`, `git model fetch`)."""
    from gitmodel.workspace import open_repo

    repo, store = open_repo()
    if repo.worktree is None:  # a bare repository, a server's: its objects are not in `store`
        return from_url(str(repo.git_dir), name, stage)
    resolved = serving.resolve(repo, name, stage)
    serving.check_held(repo, name, stage, resolved.assignments)

    def read_blob(blob: str) -> bytes:
        data = repo.read_blob(blob)
        if data is None:
            raise UserError(f"Git blob {blob[:12]} is not readable", hint="run `git fetch`")
        return data

    def open_remote() -> Remote:
        from gitmodel.remote.config import remote_for

        return remote_for(repo, repo.settings()).open()

    return Origin(resolved, read_blob, open_remote, store, str(repo.cwd))


def from_url(url: str, name: str, stage: str, model_url: str | None = None,
             model_options: dict[str, Any] | None = None) -> Origin:  # fmt: skip
    """The stage as the registry log at ``url`` has it now, read without a clone."""
    from gitmodel.reader.source import RemoteRepo, check_store_url

    if model_url is not None:  # every time: an unchanged deploy opens no remote
        check_store_url(model_url)
    source = RemoteRepo(url)
    resolved = source.resolve(name, stage)
    for held in resolved.assignments:
        source.served_commit(held.commit)
        _check_declared(source.git, name, stage, held)
        tree = {p: (e.blob, e.pointer) for p, e in source.files(held.commit).items()}
        links = serving.links(source.git.ls_tree(held.commit, [f.path for f in held.files]))
        serving.check_commit(name, stage, held, tree, links)
    files = source.files(resolved.primary.commit)

    def open_remote() -> Remote:
        return source.model_remote(files, model_url, model_options).open()

    return Origin(resolved, source.blob, open_remote, _local_store(source.key), source.display)


def _local_store(key: str) -> LocalStore | None:
    """The local store of a repository on this machine, named by its git directory (a
    read cache's key): a clone never pushed from holds its objects only there. Read-only
    to us, every object checked as it is copied (:func:`import_object`); what it lacks
    comes from the model remote."""
    store = Path(key) / "model"
    return LocalStore(store) if Path(key).is_absolute() and store.is_dir() else None


def _check_declared(cache: git.Repo, name: str, stage: str, held: Assignment) -> None:
    """Refuse files outside the model's declared paths, as declared at that version."""
    try:
        body = git.file_at(cache, held.commit, declare.REGISTRY_FILE, _DECLARATION_MAX)
    except git.GitError:
        raise UserError(f"{declare.REGISTRY_FILE} at {held.commit[:12]} is over "
                        f"{_DECLARATION_MAX >> 20} MiB: not a declaration",
                        hint="fix it in the repository") from None  # fmt: skip
    if body is None:
        return  # nothing declared there: the paths were checked as repository paths
    try:
        model = declare.parse(json.loads(body)).model(name)
    except ValueError as exc:
        raise UserError(f"{declare.REGISTRY_FILE} at {held.commit[:12]} is not JSON",
                        hint="fix it in the repository") from exc  # fmt: skip
    hint = f"the registry log was not written by gitmodel: see `git model history {name}`"
    check_files(model, f"v{held.version} in {stage} (registry log)", held.files, hint)
