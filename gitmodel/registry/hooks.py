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

A hook runs as :mod:`gitmodel.children` runs the user's commands: in a session of its
own, its whole group stopped when it outlives ``model.hookTimeout`` (seconds, default
600; 0 waits for ever) or when we are interrupted (Ctrl-C, SIGTERM). Running out of time
is the hook's failure; an interruption ends the command (130 after Ctrl-C, 143 after
SIGTERM) with one line saying what stands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from gitmodel import children, git
from gitmodel.errors import UserError

PRE_PROMOTE, POST_PROMOTE = "pre-promote", "post-promote"
TIMEOUT_KEY, TIMEOUT = "model.hookTimeout", 600.0
Json = dict[str, Any]


@dataclass(frozen=True)
class Ended:
    """How a hook ended: its exit status (``-N`` when killed by signal N), or the
    seconds it was given when it ran out of time (its group then stopped)."""

    code: int
    timed_out: float | None = None

    @property
    def failed(self) -> bool:
        return self.code != 0 or self.timed_out is not None

    def __str__(self) -> str:
        if self.timed_out is not None:
            return f"timed out: {TIMEOUT_KEY} is {self.timed_out:g} s"
        return f"killed by signal {-self.code}" if self.code < 0 else f"exit {self.code}"


def run(repo: git.Repo, name: str, event: Json) -> Ended | None:
    """Run hook ``name`` with ``event`` on its standard input; how it ended, or None
    when there is no such (executable) hook."""
    path = repo.hooks_dir / name
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        print(f"hint: the {name} hook was ignored because it is not executable "
              f"(chmod +x {path})", file=sys.stderr)  # fmt: skip
        return None
    timeout = hook_timeout(repo)
    data = (json.dumps({"hook": name, **event}, sort_keys=True) + "\n").encode()
    env = {**os.environ, "GIT_MODEL_HOOK": name}
    out = _stderr_fd()
    try:
        done = children.run([str(path)], input=data, timeout=timeout, cwd=repo.cwd, env=env,
                            stdout=subprocess.PIPE if out is None else out)  # fmt: skip
    except OSError as exc:  # not a program the system can start (no #! line, …)
        raise UserError(
            f"cannot run the {name} hook {path}: {exc.strerror}",
            hint="make it an executable program with a #! line",
        ) from exc
    except children.Interrupted as exc:
        print(f"gitmodel: error: interrupted; the {name} hook and its processes were "
              f"stopped, and {_standing(name)}", file=sys.stderr)  # fmt: skip
        exc.end()
    if done.output:
        sys.stderr.write(done.output.decode("utf-8", "replace"))
    return Ended(done.code, timed_out=timeout if done.timed_out else None)


def hook_timeout(repo: git.Repo) -> float | None:
    """``model.hookTimeout`` in seconds (checked), None for no limit (0)."""
    seconds = git.number_setting(float, git.config_list(repo.cwd), TIMEOUT_KEY, TIMEOUT, least=0)
    return seconds or None


def _standing(name: str) -> str:
    """What an interruption during hook ``name`` leaves of the stage change."""
    return "nothing was recorded" if name == PRE_PROMOTE else "the change stays recorded"


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
    if isinstance(record.get("rejected_by"), list):  # a canary withdrawn on a rejection
        event["rejected_by"] = record["rejected_by"]
    if log_commit is not None:
        event["event"] = log_commit
    return event
