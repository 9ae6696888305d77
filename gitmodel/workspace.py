"""What most commands start from: the repository and its local store."""

from __future__ import annotations

import os
from _thread import allocate_lock  # threading.Lock, without loading threading
from pathlib import Path

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.pointer import Pointer
from gitmodel.store.local import LocalStore, import_object

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:  # loaded on first use: most checkouts never open the remote
    from gitmodel.remote.chunked import LocalChunks
    from gitmodel.remote.errors import RemoteError
    from gitmodel.remote.layouts import Remote


def open_repo(path: Path | str = ".") -> tuple[git.Repo, LocalStore]:
    repo = git.Repo.discover(path)
    return repo, LocalStore(repo.model_dir)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def local_remote_stores(repo: git.Repo, settings: dict[str, str]) -> list[LocalStore]:
    """Stores of Git remotes that are local repositories (how a local clone finds objects)."""
    stores = []
    for name in git.remote_names(settings):
        git_dir = git.local_git_dir(settings[f"remote.{name}.url"], repo.cwd)
        if git_dir is not None and (git_dir / "model").is_dir():
            stores.append(LocalStore(git_dir / "model"))
    return stores


class Fetcher:
    """How smudge gets a missing object: from a local Git remote's own store, else from
    the model remote, opened on first use (most checkouts never need it).

    Returns False when no model remote is set. An object the remote lacks, or holds
    only damaged, raises an error naming it and where we looked; later objects are
    still tried. Once the remote itself has failed (after its retries), later objects
    fail at once with the same error."""

    def __init__(self, repo: git.Repo, store: LocalStore, settings: dict[str, str]) -> None:
        self._repo, self._store, self._settings = repo, store, settings
        self._sources = local_remote_stores(repo, settings)
        self._remote: Remote | None = None
        self._opened = False
        self._broken: RemoteError | None = None
        self._lock = allocate_lock()
        self._local: LocalChunks | None = None  # shared: loading it reads every chunk list

    def _open_remote(self) -> Remote | None:
        with self._lock:
            if not self._opened:
                self._opened = True
                from gitmodel.remote.config import remote_for

                try:
                    remote = remote_for(self._repo, self._settings).open()
                except UserError:
                    return None
                self._remote = remote
                from gitmodel.remote.store import RemoteStore

                if isinstance(remote, RemoteStore):  # chunks to reuse: not on an LFS host
                    from gitmodel.remote.chunked import LocalChunks

                    self._local = LocalChunks(self._store, remote.cipher.key_check)
            return self._remote

    def __call__(self, pointer: Pointer) -> bool:
        if any(import_object(self._store, source, pointer) for source in self._sources):
            return True
        remote = self._open_remote()
        if remote is None:
            return False
        from gitmodel.remote import layouts
        from gitmodel.remote.errors import RemoteError, RemoteObjectDamaged, RemoteObjectMissing

        if self._broken is not None:
            raise self._broken
        try:
            layouts.download(remote, self._store, pointer, self._local)
        except (RemoteObjectMissing, RemoteObjectDamaged):
            raise  # this object's fault, not the remote's: the next one may be fine
        except RemoteError as exc:
            self._broken = exc
            raise
        return True
