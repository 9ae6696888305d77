"""The user's own commands (registry hooks, a deploy's health check), run as a CI runner
runs a step: in a session (and process group) of its own, with no terminal to read.

When one outlives its time, or when we are interrupted (Ctrl-C, SIGTERM), its whole
group is stopped: SIGTERM, then SIGKILL after :data:`GRACE` seconds, so that nothing it
started outlives the command that ran it (and the lock that command held). An
interruption is raised as :class:`Interrupted` once the group is stopped; the caller
says what stands, then :meth:`Interrupted.end` ends the command as that signal would
have (130 after Ctrl-C, 143 after SIGTERM).

Imports nothing of gitmodel: ``registry/hooks.py`` and ``deploy/release.py`` use it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import NoReturn

GRACE = 2.0  # seconds between SIGTERM and SIGKILL to a process group
STOPPING = (signal.SIGINT, signal.SIGTERM)  # what ends the command, the child's group first


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit status (``-N`` when killed by signal N), whether it
    ran out of time (its group then stopped), and what it wrote to a captured output."""

    code: int
    timed_out: bool
    output: bytes = b""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM arrived while a command ran; its group is stopped by
    the time this reaches the caller. (A KeyboardInterrupt, so that one landing just
    after the command ended still ends ours as an interruption.)"""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def end(self) -> NoReturn:
        """End the command as the signal would have."""
        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + self.signum)


def run(
    args: list[str] | str,
    *,
    timeout: float | None,
    cwd: Path | str,
    env: dict[str, str],
    input: bytes | None = None,
    stdout: int | None = None,
    shell: bool = False,
) -> Finished:
    """Run ``args`` in a session of its own and wait at most ``timeout`` seconds (None:
    no limit). ``input`` is fed to its standard input (else it inherits ours);
    ``stdout``: a file descriptor, :data:`subprocess.PIPE` to capture it, None to
    inherit. Raises OSError when it cannot be started, :class:`Interrupted` when we
    are interrupted (after its group is stopped)."""
    proc = subprocess.Popen(
        args, stdin=None if input is None else subprocess.PIPE, stdout=stdout, cwd=cwd,
        env=env, shell=shell, start_new_session=True,
    )  # fmt: skip
    with _interruptible():
        try:
            output, _ = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _ignore_stopping()  # a Ctrl-C now cannot cut the stop short
            code, output = _stop_group(proc)
            return Finished(code, True, output)
        except Interrupted:
            _stop_group(proc)  # its handler left Ctrl-C and SIGTERM ignored meanwhile
            raise
    return Finished(proc.returncode, False, output or b"")


def _stop_group(proc: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    """SIGTERM to the process group; SIGKILL to whatever is left of it after
    :data:`GRACE` seconds; the child reaped. Its exit status and the rest of a captured
    output."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while _group_alive(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    output, _ = proc.communicate()
    return proc.returncode, output or b""


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the child's group is left (the child reaped if it ended)."""
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
    """The handler of Ctrl-C and SIGTERM while a child runs: any further one is ignored
    until its group is stopped (Git, which ran us, passes each on once more)."""
    _ignore_stopping()
    raise Interrupted(signum)


def _ignore_stopping() -> None:
    if _main_thread():
        for signum in STOPPING:
            signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """While a child runs, Ctrl-C and SIGTERM raise :class:`Interrupted` (one that was
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
