"""What most commands start from: the repository and its local store."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from gitmodel import git
from gitmodel.pointer import Pointer
from gitmodel.store.local import LocalStore, import_object


def open_repo(path: Path | str = ".") -> tuple[git.Repo, LocalStore]:
    repo = git.Repo.discover(path)
    return repo, LocalStore(repo.model_dir)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def local_path(url: str) -> Path | None:
    """The directory a Git remote URL names, when it is a local one."""
    if url.startswith("file://"):
        return Path(unquote(url.removeprefix("file://")))
    if "://" in url or ":" in url.split("/", 1)[0]:
        return None  # a network URL or an scp-like host:path
    return Path(url)


def local_remote_stores(repo: git.Repo, settings: dict[str, str]) -> list[LocalStore]:
    """Stores of Git remotes that are local repositories (how a local clone finds objects)."""
    stores = []
    for key, url in settings.items():
        path = local_path(url) if key.startswith("remote.") and key.endswith(".url") else None
        if path is None:
            continue
        path = repo.cwd / path
        for candidate in (path / ".git", path):
            if (candidate / "HEAD").is_file() and (candidate / "model").is_dir():
                stores.append(LocalStore(candidate / "model"))
                break
    return stores


def make_fetcher(store: LocalStore, sources: list[LocalStore]) -> Callable[[Pointer], bool]:
    """A fetch callback for smudge that looks in ``sources`` in turn."""

    def fetch(pointer: Pointer) -> bool:
        return any(import_object(store, source, pointer) for source in sources)

    return fetch
