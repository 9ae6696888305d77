"""What most commands start from: the repository and its local store."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from gitmodel import git, remotes
from gitmodel.errors import UserError
from gitmodel.pointer import Pointer
from gitmodel.remotes import git_dir_of, local_path
from gitmodel.store.local import LocalStore, import_object
from gitmodel.store.remote import RemoteError, RemoteObjectMissing, RemoteStore


def open_repo(path: Path | str = ".") -> tuple[git.Repo, LocalStore]:
    repo = git.Repo.discover(path)
    return repo, LocalStore(repo.model_dir)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def local_remote_stores(repo: git.Repo, settings: dict[str, str]) -> list[LocalStore]:
    """Stores of Git remotes that are local repositories (how a local clone finds objects)."""
    stores = []
    for key, url in settings.items():
        path = local_path(url) if key.startswith("remote.") and key.endswith(".url") else None
        if path is None:
            continue
        git_dir = git_dir_of(repo.cwd / path)
        if git_dir is not None and (git_dir / "model" / "objects").is_dir():
            stores.append(LocalStore(git_dir / "model"))
    return stores


def make_fetcher(
    repo: git.Repo, store: LocalStore, settings: dict[str, str]
) -> Callable[[Pointer], bool]:
    """How smudge gets a missing object: from a local Git remote's own store, else from
    the model remote (opened on first use: most checkouts never need it)."""
    sources = local_remote_stores(repo, settings)
    remote: list[RemoteStore | None] = []
    broken: list[RemoteError] = []  # once the remote fails for good, fail fast
    lock = threading.Lock()

    def open_remote() -> RemoteStore | None:
        with lock:
            if not remote:
                try:
                    remote.append(remotes.resolve(repo, settings).open())
                except UserError:
                    remote.append(None)
            return remote[0]

    def fetch(pointer: Pointer) -> bool:
        if any(import_object(store, source, pointer) for source in sources):
            return True
        remote_store = open_remote()
        if remote_store is None:
            return False
        if broken:
            raise broken[0]
        try:
            remote_store.download(store, pointer)
        except RemoteObjectMissing:
            return False
        except RemoteError as exc:
            broken.append(exc)
            raise
        return True

    return fetch
