"""``git-model hook NAME``: what the scripts in ``hooks/`` run."""

from __future__ import annotations

import os
import subprocess
import sys

from gitmodel import materialize
from gitmodel.commands import push
from gitmodel.commands.context import open_repo
from gitmodel.commands.install import LEGACY_SUFFIX
from gitmodel.errors import GitModelError, UserError

STDIN_HOOKS = frozenset({"pre-push"})  # hooks Git feeds on stdin (replayed to a .legacy hook)


def run_hook(name: str, args: list[str]) -> int:
    """Our part of hook ``name`` first (a user's post-checkout may read the model files),
    then the hook it replaced, if any. The first failure decides the exit status; a failed
    upload stops a push before anything else runs."""
    repo, store = open_repo()
    stdin = sys.stdin.buffer.read() if name in STDIN_HOOKS and sys.stdin is not None else b""
    failure: GitModelError | None = None
    if name == "pre-push":
        remote_name, url = [*args, "", ""][:2]
        push.pre_push(remote_name, url, stdin)
    elif name == "post-checkout":
        try:
            materialize.materialize(repo, store, materialize.take_pending(repo))
        except GitModelError as exc:
            failure = exc
    else:
        raise UserError(f"unknown hook {name!r}", hint="reinstall hooks: `git model install`")
    legacy = repo.hooks_dir / (name + LEGACY_SUFFIX)
    code = 0
    if legacy.is_file() and os.access(legacy, os.X_OK):
        code = subprocess.run([str(legacy), *args], input=stdin, check=False).returncode
    if failure is not None:
        raise failure
    return code
