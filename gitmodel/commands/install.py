"""``git model install`` / ``uninstall``: the filter configuration and the hooks."""

from __future__ import annotations

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.installation import (
    DIFF_CONFIG,
    FILTER_KEYS,
    filter_config,
    install_hooks,
    uninstall_hooks,
)


def install(scope: str, skip_smudge: bool = False, hooks: bool = True, force: bool = False) -> int:
    """Configure the filter in ``scope`` and install the hooks in this repository."""
    repo = _repo_or_none()
    if scope in ("local", "worktree") and repo is None:
        raise UserError(f"--{scope} needs a repository", hint="run it inside one, or use --global")
    cwd = repo.cwd if repo else None
    for key, value in filter_config(skip_smudge).items():
        git.config_set(key, value, scope, cwd)
    for key, value in DIFF_CONFIG.items():
        git.config_set(key, value, scope, cwd)
    print(f"gitmodel: filter configured ({scope}{', smudge skipped' if skip_smudge else ''})")
    if hooks and repo is not None:
        for name in install_hooks(repo, force):
            print(f"gitmodel: installed hook {name}")
    return 0


def uninstall(scope: str) -> int:
    """Remove the filter configuration from ``scope`` and our hooks from this repository."""
    repo = _repo_or_none()
    if scope in ("local", "worktree") and repo is None:
        raise UserError(f"--{scope} needs a repository", hint="run it inside one, or use --global")
    for key in FILTER_KEYS:
        git.config_unset(f"filter.model.{key}", scope, repo.cwd if repo else None)
    for key in DIFF_CONFIG:
        git.config_unset(key, scope, repo.cwd if repo else None)
    print(f"gitmodel: filter removed ({scope})")
    if repo is not None:
        for name in uninstall_hooks(repo):
            print(f"gitmodel: removed hook {name}")
    return 0


def _repo_or_none() -> git.Repo | None:
    try:
        return git.Repo.discover()
    except UserError:
        return None
