"""``git model env``: versions, configuration and store paths, for bug reports."""

from __future__ import annotations

import os
import sys

import pygit2

from gitmodel import __version__, git
from gitmodel.errors import UserError
from gitmodel.installation import hook_sources, is_ours
from gitmodel.remote.config import chunking, encryption_key
from gitmodel.store.local import LocalStore


def env() -> int:
    print(f"gitmodel {__version__}")
    print(f"git {git.version()}")
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print(f"pygit2 {pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION})")  # type: ignore[attr-defined]
    try:
        repo = git.Repo.discover()
    except UserError:
        repo = None
    settings = git.config_list(repo.cwd if repo else None)
    if repo is not None:
        print(f"\nworktree {repo.worktree or '(none)'}")
        print(f"git dir {repo.git_dir}")
        print(f"store {repo.model_dir}")
        count, size = LocalStore(repo.model_dir).usage()
        print(f"local objects {count} ({size} bytes)")
        chunked = chunking(settings)
        print(f"remote format {'chunked (dedup)' if chunked else 'whole objects'}")
        print(f"encryption {_encryption(settings)}")
        hooks_dir = repo.hooks_dir
        for name in hook_sources():
            state = "installed" if is_ours(hooks_dir / name) else "missing"
            print(f"hook {name} {state} ({hooks_dir / name})")
    print()
    for key in sorted(settings):
        if key.startswith(("filter.model.", "diff.model.", "merge.model.", "model.")):
            print(f"{key}={settings[key]}")
    return 0


def _encryption(settings: dict[str, str]) -> str:
    """Whether a key is set, and where from (never the key itself)."""
    try:
        key = encryption_key(settings)
    except UserError as exc:
        return f"misconfigured: {exc}"
    if key is None:
        return "off"
    from_env = os.environ.get("GIT_MODEL_ENCRYPTION_KEY")
    return f"on (key from {'GIT_MODEL_ENCRYPTION_KEY' if from_env else 'model.encryptionKeyFile'})"
