"""``git-model hook NAME``: what the scripts in ``hooks/`` run."""

from __future__ import annotations

import os
import subprocess
import sys

from gitmodel import git, locking, materialize
from gitmodel.errors import GitModelError, UserError
from gitmodel.installation import LEGACY_SUFFIX
from gitmodel.workspace import open_repo

STDIN_HOOKS = frozenset({"pre-push"})  # hooks Git feeds on stdin (replayed to a .legacy hook)


def run_hook(name: str, args: list[str]) -> int:
    """Our part of hook ``name`` first (a user's post-checkout may read the model files),
    then the hook it replaced, if any. The first failure decides the exit status; a failed
    upload stops a push before anything else runs."""
    repo, store = open_repo()
    stdin = sys.stdin.buffer.read() if name in STDIN_HOOKS and sys.stdin is not None else b""
    failure: GitModelError | None = None
    if name == "pre-push":
        from gitmodel import pushing  # the remote code: pushes only
        from gitmodel.logs.records import LOG_PREFIX

        remote_name, url = [*args, "", ""][:2]
        pushing.pre_push(repo, store, remote_name, url, stdin)
        if git.list_refs(repo, LOG_PREFIX):  # the registry code loads where there are logs
            from gitmodel import logsync

            logsync.push_logs(repo, remote_name or url)
    elif name == "post-checkout":
        try:
            materialize.materialize(repo, store, materialize.take_pending(repo))
        except GitModelError as exc:
            failure = exc
        _fetch_logs_if_cloning(repo, args)
        locking.protect(repo)  # after the logs: a clone learns the locks first
    else:
        raise UserError(f"unknown hook {name!r}", hint="reinstall hooks: `git model install`")
    legacy = repo.hooks_dir / (name + LEGACY_SUFFIX)
    code = 0
    if legacy.is_file() and os.access(legacy, os.X_OK):
        code = subprocess.run([str(legacy), *args], input=stdin, check=False).returncode
    if failure is not None:
        raise failure
    return code


def _fetch_logs_if_cloning(repo: git.Repo, args: list[str]) -> None:
    """``git clone`` ends with post-checkout from the null commit: fetch the record logs."""
    previous = args[0] if args else ""
    if previous.strip("0") or materialize.parent_git_subcommand() not in ("clone", None):
        return
    from gitmodel import logsync
    from gitmodel.remote.config import default_remote_name

    remote = default_remote_name(repo.settings(strict=False))
    if remote is not None:
        logsync.fetch_logs_after_clone(repo, remote)
