"""``git-model hook NAME``: what the scripts in ``hooks/`` run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gitmodel import git, locking, materialize
from gitmodel.errors import GitModelError, UserError
from gitmodel.installation import saved_hook
from gitmodel.workspace import open_discovered

STDIN_HOOKS = frozenset({"pre-push"})  # hooks Git feeds on stdin (replayed to the user's)
SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "zsh"})  # the user's hook in these: sourced


def run_hook(name: str, args: list[str], discovery: git.Discovery | None = None) -> int:
    """Our part of hook ``name`` first (a user's post-checkout may read the model files),
    then the hook it replaced, if any. The first failure decides the exit status; a failed
    upload stops a push before anything else runs. ``discovery``: the repository, asked
    of Git early (else now)."""
    strict = name == "pre-push"  # a push refuses bad settings; a checkout goes on
    repo, store, settings = open_discovered(discovery or git.Discovery(), strict)
    stdin = sys.stdin.buffer.read() if name in STDIN_HOOKS and sys.stdin is not None else b""
    failure: GitModelError | None = None
    if name == "pre-push":
        from gitmodel import pushing  # the remote code: pushes only
        from gitmodel.logs.records import LOG_PREFIX

        remote_name, url = [*args, "", ""][:2]
        pushing.pre_push(repo, store, remote_name, url, stdin, settings)
        if git.list_refs(repo, LOG_PREFIX):  # the registry code loads where there are logs
            from gitmodel import logsync

            logsync.push_logs(repo, remote_name or url)
    elif name == "post-checkout":
        try:
            materialize.materialize(repo, store, materialize.take_pending(repo))
        except GitModelError as exc:
            failure = exc
        _fetch_logs_if_cloning(repo, args, settings)
        locking.protect(repo)  # after the logs: a clone learns the locks first
    else:
        raise UserError(f"unknown hook {name!r}", hint="reinstall hooks: `git model install`")
    legacy = saved_hook(repo.hooks_dir, name)
    code = 0
    if legacy is not None and os.access(legacy, os.X_OK):
        command = _legacy_command(legacy, repo.hooks_dir / name, args)
        code = subprocess.run(command, input=stdin, check=False).returncode
    if failure is not None:
        raise failure
    return code


def _legacy_command(legacy: Path, hook: Path, args: list[str]) -> list[str]:
    """How to run the hook ours replaced. A shell script is sourced by its shell under the
    hook's own name, so its ``$0`` is ``hooks/NAME`` as when Git ran it (hook managers such
    as husky pick the script to run by ``basename "$0"``), and a script with no ``#!`` line
    runs in ``sh``, as Git runs it; anything else runs as itself."""
    with open(legacy, "rb") as f:
        first = f.readline(256)
    words = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else ["sh"]
    by_env = len(words) == 2 and Path(words[0]).name == "env"
    shell = words[1] if by_env else words[0] if words else ""
    if Path(shell).name not in SHELLS:
        return [str(legacy), *args]
    source = 'gitmodel_hook=$1; shift; . "$gitmodel_hook"'  # $1, $2…: Git's arguments
    return [*words, "-c", source, str(hook), str(legacy), *args]


def _fetch_logs_if_cloning(repo: git.Repo, args: list[str], settings: dict[str, str]) -> None:
    """``git clone`` ends with post-checkout from the null commit: fetch the record logs."""
    previous = args[0] if args else ""
    if previous.strip("0") or materialize.parent_git_subcommand() not in ("clone", None):
        return
    from gitmodel import logsync
    from gitmodel.remote.config import default_remote_name

    remote = default_remote_name(settings)
    if remote is not None:
        logsync.fetch_logs_after_clone(repo, remote)
