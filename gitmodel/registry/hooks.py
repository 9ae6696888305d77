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

A hook runs in a session (and process group) of its own, as a CI runner runs a step, so
it has no terminal to read. When it outlives ``model.hookTimeout`` (seconds, default
600; 0 waits for ever), or when we are interrupted (Ctrl-C, SIGTERM), its whole group
is stopped: SIGTERM, then SIGKILL after :data:`GRACE` seconds, so no process it started
lingers. Running out of time is the hook's failure; an interruption ends the command
(130 after Ctrl-C, 143 after SIGTERM) with one line saying what stands.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from gitmodel import git
from gitmodel.errors import UserError

PRE_PROMOTE, POST_PROMOTE = "pre-promote", "post-promote"
TIMEOUT_KEY, TIMEOUT = "model.hookTimeout", 600.0
GRACE = 2.0  # seconds between SIGTERM and SIGKILL to a hook's process group
STOPPING = (signal.SIGINT, signal.SIGTERM)  # what ends the command, the hook's group first
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


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM arrived while a hook ran (a KeyboardInterrupt, so one
    that lands just after the hook ended still ends the command as an interruption)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


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
        proc = subprocess.Popen(
            [str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE if out is None else out,
            cwd=repo.cwd, env=env, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:  # not a program the system can start (no #! line, …)
        raise UserError(
            f"cannot run the {name} hook {path}: {exc.strerror}",
            hint="make it an executable program with a #! line",
        ) from exc
    return _wait(proc, name, data, timeout)


def hook_timeout(repo: git.Repo) -> float | None:
    """``model.hookTimeout`` in seconds (checked), None for no limit (0)."""
    seconds = git.number_setting(float, git.config_list(repo.cwd), TIMEOUT_KEY, TIMEOUT, least=0)
    return seconds or None


def _wait(proc: subprocess.Popen[bytes], name: str, data: bytes, timeout: float | None) -> Ended:
    """Feed the hook and wait for it; stop its group when it runs out of time, or when
    we are interrupted (then say so, and end the command as that signal ends it)."""
    with _interruptible():
        try:
            output, _ = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            _ignore_stopping()  # a Ctrl-C now cannot cut the stop short
            return Ended(_stop_group(proc), timed_out=timeout)
        except _Interrupted as exc:
            _stop_group(proc)  # its handler left Ctrl-C and SIGTERM ignored meanwhile
            signum = exc.signum
        else:
            if output:
                sys.stderr.write(output.decode("utf-8", "replace"))
            return Ended(proc.returncode)
    print(f"gitmodel: error: interrupted; the {name} hook and its processes were stopped, "
          f"and {_standing(name)}", file=sys.stderr)  # fmt: skip
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _standing(name: str) -> str:
    """What an interruption during hook ``name`` leaves of the stage change."""
    return "nothing was recorded" if name == PRE_PROMOTE else "the change stays recorded"


def _stop_group(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM to the hook's process group; SIGKILL to whatever is left of it after
    :data:`GRACE` seconds; the hook reaped, what it wrote to a captured output shown.
    Its exit status."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while _group_alive(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    output, _ = proc.communicate()
    if output:
        sys.stderr.write(output.decode("utf-8", "replace"))
    return proc.returncode


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the hook's group is left (the hook reaped if it ended)."""
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # every process of the group has ended
        os.killpg(pgid, signum)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """The handler of Ctrl-C and SIGTERM while a hook runs: any further one is ignored
    until its group is stopped (Git, which ran us, passes each on once more)."""
    _ignore_stopping()
    raise _Interrupted(signum)


def _ignore_stopping() -> None:
    if _main_thread():
        for signum in STOPPING:
            signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """While a hook runs, Ctrl-C and SIGTERM raise :class:`_Interrupted` (one that was
    ignored when we started stays ignored); the handlers before are put back after."""
    if not _main_thread():  # only the main thread may set handlers
        yield
        return
    before = {signum: signal.getsignal(signum) for signum in STOPPING}
    for signum, handler in before.items():
        if handler not in (signal.SIG_IGN, None):
            signal.signal(signum, _interrupted)
    try:
        yield
    finally:
        for signum, handler in before.items():
            if handler is not None:
                signal.signal(signum, handler)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


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
