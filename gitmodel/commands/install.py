"""``git model install`` / ``uninstall``: the filter configuration and the hooks."""

from __future__ import annotations

import shutil
from pathlib import Path

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.installation import (
    DRIVER_CONFIG,
    FILTER_KEYS,
    ensure_untracked_cache,
    filter_config,
    install_hooks,
    lfs_filter_config,
    uninstall_hooks,
)


def install(scope: str, skip_smudge: bool = False, hooks: bool = True, force: bool = False,
            lfs: bool | None = None) -> int:  # fmt: skip
    """Configure the filter in ``scope`` and install the hooks in this repository.

    ``filter=lfs`` is served too when ``lfs`` is True, or (None) when git-lfs does not
    serve it (not installed, or its filter not set up): then LFS repositories check out
    real bytes with gitmodel alone."""
    repo = _repo_or_none()
    if scope in ("local", "worktree") and repo is None:
        raise UserError(f"--{scope} needs a repository", hint="run it inside one, or use --global")
    cwd = repo.cwd if repo else None
    serve_lfs = lfs if lfs is not None else not _git_lfs_serves(cwd)
    config = filter_config(skip_smudge) | (lfs_filter_config(skip_smudge) if serve_lfs else {})
    for key, value in config.items():
        git.config_set(key, value, scope, cwd)
    for key, value in DRIVER_CONFIG.items():
        git.config_set(key, value, scope, cwd)
    print(f"gitmodel: filter configured ({scope}{', smudge skipped' if skip_smudge else ''})")
    if serve_lfs:
        why = "" if lfs else f" ({_why_not_git_lfs()})"
        print(f"gitmodel: filter=lfs served by gitmodel too{why}")
    elif lfs is None:
        print("gitmodel: filter=lfs left to git-lfs (`git model install --lfs` serves it too)")
    if hooks and repo is not None:
        for name in install_hooks(repo, force):
            print(f"gitmodel: installed hook {name}")
    if repo is not None:
        ensure_untracked_cache(repo, git.config_list(repo.cwd))
    return 0


def uninstall(scope: str) -> int:
    """Remove the filter configuration from ``scope`` and our hooks from this repository."""
    repo = _repo_or_none()
    if scope in ("local", "worktree") and repo is None:
        raise UserError(f"--{scope} needs a repository", hint="run it inside one, or use --global")
    cwd = repo.cwd if repo else None
    for key in FILTER_KEYS:
        git.config_unset(f"filter.model.{key}", scope, cwd)
    if _serves_lfs(scope, cwd):
        for key in lfs_filter_config(skip_smudge=False):
            git.config_unset(key, scope, cwd)
    for key in DRIVER_CONFIG:
        git.config_unset(key, scope, repo.cwd if repo else None)
    print(f"gitmodel: filter removed ({scope})")
    if repo is not None:
        for name in uninstall_hooks(repo):
            print(f"gitmodel: removed hook {name}")
    return 0


def _git_lfs_serves(cwd: Path | None) -> bool:
    """Whether git-lfs serves ``filter=lfs`` here: installed, and its filter set up in the
    configuration Git reads (``git lfs install``), not gitmodel's."""
    if shutil.which("git-lfs") is None:
        return False
    proc = git.run(["config", "--get", "filter.lfs.process"], cwd=cwd, check=False)
    process = proc.stdout.decode(errors="replace").strip()
    return bool(process) and not process.startswith("git-model ")


def _why_not_git_lfs() -> str:
    if shutil.which("git-lfs") is None:
        return "git-lfs is not installed"
    return "git-lfs is installed but not set up: `git lfs install` was not run"


def _serves_lfs(scope: str, cwd: Path | None) -> bool:
    """Whether ``filter.lfs.process`` in ``scope`` is ours (git-lfs's own is left alone)."""
    proc = git.run(["config", f"--{scope}", "--get", "filter.lfs.process"], cwd=cwd, check=False)
    return proc.stdout.decode(errors="replace").startswith("git-model ")


def _repo_or_none() -> git.Repo | None:
    try:
        return git.Repo.discover()
    except UserError:
        return None
