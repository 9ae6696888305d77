"""Registry hooks: executables the user puts in the repository's hooks folder (where
Git's hooks live: ``.git/hooks``, or ``core.hooksPath``), run like Git runs its own.

``pre-promote`` runs before a promotion is recorded, after the policy agreed; a non-zero
exit refuses it (``promote --force -m WHY`` records the refusal as bypassed instead).
``post-promote`` runs after every stage change is recorded (promote, rollback,
unassign): the place to notify a chat or start a deploy. Its failure is reported, and
the change stands.

Each gets the event as one JSON object on standard input (see :func:`event_json`) and
runs in the worktree's top folder, its output sent to our standard error, as Git does.
A hook that is not executable is skipped with a note, as Git does. A hook is the user's
own file (a clone never brings hooks), and no repository data reaches its command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from gitmodel import git
from gitmodel.errors import UserError

PRE_PROMOTE, POST_PROMOTE = "pre-promote", "post-promote"
Json = dict[str, Any]


def run(repo: git.Repo, name: str, event: Json) -> int | None:
    """Run hook ``name`` with ``event`` on its standard input; its exit status, or
    None when there is no such (executable) hook."""
    path = repo.hooks_dir / name
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        print(f"hint: the {name} hook was ignored because it is not executable "
              f"(chmod +x {path})", file=sys.stderr)  # fmt: skip
        return None
    data = (json.dumps({"hook": name, **event}, sort_keys=True) + "\n").encode()
    env = {**os.environ, "GIT_MODEL_HOOK": name}
    out = _stderr_fd()
    try:
        proc = subprocess.run(
            [str(path)], input=data, stdout=subprocess.PIPE if out is None else out,
            cwd=repo.cwd, env=env, check=False,
        )  # fmt: skip
    except OSError as exc:  # not a program the system can start (no #! line, …)
        raise UserError(
            f"cannot run the {name} hook {path}: {exc.strerror}",
            hint="make it an executable program with a #! line",
        ) from exc
    if out is None and proc.stdout:
        sys.stderr.write(proc.stdout.decode("utf-8", "replace"))
    return proc.returncode


def ended(code: int) -> str:
    """How a hook that failed ended: ``exit 3``, or ``killed by signal 9``."""
    return f"killed by signal {-code}" if code < 0 else f"exit {code}"


def _stderr_fd() -> int | None:
    """Our standard error's file descriptor, so the hook writes there as it goes (None
    when standard error is no file, as under a test's capture)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def event_json(record: Json, by: tuple[str, str], log_commit: str | None = None) -> Json:
    """The hook's input: the registry event (as ``history --json`` shows it, without
    files), who makes it, and, after it is recorded, its log commit (``event``)."""
    to = record.get("to", [])
    event: Json = {
        "type": record["type"],
        "model": record["model"],
        "stage": record["stage"],
        "from": record.get("from", []),
        "to": [{k: v for k, v in a.items() if k != "files"} for a in to],
        "message": record.get("message", ""),
        "forced": record.get("forced", False),
        "bypassed": record.get("bypassed", []),
        "request": record.get("request"),
        "by": {"name": by[0], "email": by[1]},
    }
    if log_commit is not None:
        event["event"] = log_commit
    return event
