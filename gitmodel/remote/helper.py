"""A second process for a share of one push's work, for the CPU a Python thread cannot
use: cutting, hashing and packing many small files holds the GIL.

:func:`fork` starts it with ``os.fork`` (Linux only, and only while this process runs
one thread: a fork copies no other thread, nor any lock one of them holds). The child
runs ``work`` with a :class:`Report` and reports over a pipe, a line at a time::

    b <count>            bytes of its objects now on the remote (progress)
    s <count>            bytes it wrote to the remote, once, at the end
    d <oid>              an object whose manifest is durable: present on the remote
    f <oid> <failure>    an object that could not be sent (:func:`encode_failure`)
    a <failure>          every object not reported yet could not be sent

then leaves with ``os._exit`` (no ``atexit`` handler, no flush of what the parent had
buffered). The parent reads the lines as they come (:meth:`Helper.poll`) and, at the
end, whatever is left (:meth:`Helper.finish`); an object the child never reported, as
when it was killed, counts as failed, so nothing is taken for sent that was not.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable

from gitmodel.errors import GitModelError
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.remote.errors import RemoteError, RemoteObjectDamaged, RemoteObjectMissing

HELPER_HINT = "push again: what was sent is kept, and only the rest travels"


class HelperError(GitModelError):
    """The second process stopped before it said what became of an object."""

    hint = HELPER_HINT


class Report:
    """The child's side of the pipe; its methods may be called from any of its threads."""

    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "w", encoding="ascii", errors="replace")
        self._lock = threading.Lock()

    def bytes(self, count: int) -> None:
        self._line(f"b {count}")

    def sent(self, count: int) -> None:
        self._line(f"s {count}")

    def done(self, pointer: Pointer) -> None:
        self._line(f"d {pointer.oid}")

    def failed(self, oid: str, failure: Exception) -> None:
        self._line(f"f {oid} {encode_failure(failure)}")

    def failed_all(self, failure: Exception) -> None:
        self._line(f"a {encode_failure(failure)}")

    def _line(self, line: str) -> None:
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def close(self) -> None:
        with self._lock:
            self._out.close()


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fork(work: Callable[[Report], None], share: list[Pointer],
         done: Callable[[Pointer], None],
         on_bytes: Callable[[int], None] | None) -> Helper | None:  # fmt: skip
    """Run ``work`` in a child process, which sends ``share``; None (and nothing
    started) where that is not safe here: not Linux, or other threads are running."""
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return None
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 1  # on any exception: the parent reports what was not done
        try:
            os.close(read_fd)
            report = Report(write_fd)
            work(report)
            report.close()
            status = 0
        except BrokenPipeError:
            pass  # the parent is gone: no one is left to tell
        except (GitModelError, OSError) as exc:  # not one object's: the rest all failed
            with contextlib.suppress(OSError):
                report.failed_all(exc)
        except Exception:  # a bug: the objects fail in the parent; the trace is for us
            import traceback

            print("gitmodel: internal error in the second packing process:", file=sys.stderr)
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write_fd)
    return Helper(pid, read_fd, share, done, on_bytes)


class Helper:
    """The parent's side: the child's process and what it was given."""

    def __init__(self, pid: int, fd: int, share: list[Pointer], done: Callable[[Pointer], None],
                 on_bytes: Callable[[int], None] | None) -> None:  # fmt: skip
        self.pid = pid
        self._fd = fd
        self._waiting = {p.oid: p for p in share}  # not reported yet
        self._done, self._on_bytes = done, on_bytes
        self.failed: dict[str, Exception] = {}
        self.sent = 0  # bytes it wrote to the remote
        self._partial = b""
        os.set_blocking(fd, False)

    def poll(self) -> None:
        """Take in what the child has reported so far, without waiting."""
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            if not data:
                return
            self._take(data)

    def finish(self) -> dict[str, Exception]:
        """Wait for the child; returns its failures, with every object it did not
        report among them."""
        os.set_blocking(self._fd, True)
        try:
            while data := os.read(self._fd, 1 << 16):
                self._take(data)
        finally:
            os.close(self._fd)
            _, status = os.waitpid(self.pid, 0)
        if self._waiting:
            how = _exit_text(status)
            failure = HelperError(f"the second packing process {how} before it sent "
                                  f"{len(self._waiting)} object(s)")  # fmt: skip
            self.failed.update(dict.fromkeys(self._waiting, failure))
            self._waiting.clear()
        return self.failed

    def stop(self) -> None:
        """End the child at once (the parent's push failed) and wait for it."""
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        os.close(self._fd)
        os.waitpid(self.pid, 0)

    def _take(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line.decode("ascii", "replace"))

    def _line(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "b" and rest.isdigit():
            if self._on_bytes is not None:
                self._on_bytes(int(rest))
            return
        if kind == "s" and rest.isdigit():
            self.sent += int(rest)
            return
        if kind == "a":
            self.failed.update(dict.fromkeys(self._waiting, decode_failure(rest)))
            self._waiting.clear()
            return
        oid, _, failure = rest.partition(" ")
        pointer = self._waiting.get(oid) if is_valid_oid(oid) else None
        if pointer is None:
            return  # not one of ours, or told twice: the first word stands
        if kind == "d":
            del self._waiting[oid]
            self._done(pointer)
        elif kind == "f":
            del self._waiting[oid]
            self.failed[oid] = decode_failure(failure)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was stopped by signal {os.WTERMSIG(status)}"
    return f"stopped (exit status {os.waitstatus_to_exitcode(status)})"


# -- failures across the pipe: what the parent's report needs of them (the message,
# the hint, whether another try may do better: transfer.py's _hint and _transient)

_KINDS: dict[str, type[RemoteError]] = {
    "missing": RemoteObjectMissing,
    "damaged": RemoteObjectDamaged,
    "remote": RemoteError,
}


def encode_failure(failure: Exception) -> str:
    """One line of JSON for a failure."""
    fields: dict[str, object] = {"message": str(failure)}
    if isinstance(failure, OSError) and failure.errno is not None:
        fields |= {
            "kind": "os",
            "errno": failure.errno,
            "message": failure.strerror or "",
            "path": failure.filename if isinstance(failure.filename, str) else None,
        }
    elif isinstance(failure, TimeoutError):
        fields["kind"] = "timeout"
    elif isinstance(failure, ConnectionError):
        fields["kind"] = "network"
    elif isinstance(failure, GitModelError):
        kind = next((k for k, cls in _KINDS.items() if type(failure) is cls), "error")
        fields |= {"kind": kind, "hint": failure.hint}
    else:
        fields["kind"] = "error"
    return json.dumps(fields, ensure_ascii=True)


def decode_failure(text: str) -> Exception:
    """The failure :func:`encode_failure` wrote, as near as the parent needs it."""
    try:
        fields = json.loads(text)
        message = str(fields["message"])
        kind = fields["kind"]
    except (ValueError, KeyError, TypeError):
        return HelperError("the second packing process said something unreadable")
    hint = fields.get("hint")
    hint = hint if isinstance(hint, str) else None
    if kind == "os" and isinstance(fields.get("errno"), int):
        path = fields.get("path")
        return OSError(fields["errno"], message or os.strerror(fields["errno"]),
                       *([path] if isinstance(path, str) else []))  # fmt: skip
    if kind == "timeout":
        return TimeoutError(message)
    if kind == "network":
        return ConnectionError(message)
    if kind in _KINDS:
        return _KINDS[kind](message, hint)
    error = GitModelError(message)
    error.hint = hint
    return error
