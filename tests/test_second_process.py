"""A push of many small files to a local folder packs half of them in a second process
(``remote/helper.py``): the remote reads as one push wrote it, and a second process that
fails or dies never makes an object count as sent."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git_model, run_git
from test_remotes import assert_version, author, new_user, origin

from gitmodel.errors import GitModelError, UserError
from gitmodel.remote import helper
from gitmodel.remote.chunked import SPLIT_MIN
from gitmodel.remote.errors import RemoteError, RemoteObjectMissing

__all__ = ["author", "origin"]  # fixtures shared with test_remotes


def many_small(count: int) -> dict[str, bytes]:
    return {f"data/{i // 500:02d}/f{i:05d}.bin": os.urandom(1_000 + i % 7) for i in range(count)}


@pytest.mark.skipif(not sys.platform.startswith("linux") or helper.cpus() < 2,
                    reason="a second process is used on Linux with two CPUs or more")  # fmt: skip
def test_a_push_of_many_small_files_packs_half_in_a_second_process(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    files = many_small(SPLIT_MIN + 52) | {"big.bin": os.urandom(300_000)}
    for name, data in files.items():
        (author / name).parent.mkdir(parents=True, exist_ok=True)
        (author / name).write_bytes(data)
    run_git("add", ".", cwd=author)
    run_git("commit", "-qm", "a data set", cwd=author)
    traced = {**os.environ, "GIT_MODEL_TRACE": "1"}
    err = run_git("push", "origin", "main", cwd=author, env=traced).stderr.decode()
    split = re.search(r"push: (\d+) small object\(s\) packed by process \d+", err)
    assert split is not None and int(split[1]) == (SPLIT_MIN + 52) // 2, err
    total = sum(len(data) for data in files.values())
    assert f"uploaded {len(files)} object(s), {total / (1 << 20):.1f} MiB, to" in err, err
    batches = list((origin / "model" / "remote" / "batches").iterdir())
    assert len(batches) == 2  # one from each process

    user = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=user)
    assert_version(clone, files)
    git_model("fsck", "--remote", cwd=clone, env=user)


HELPER_SCRIPT = r"""
import json, os, signal, sys
from gitmodel.pointer import Pointer
from gitmodel.remote import helper

share = [Pointer(f"{n:064x}", n + 1) for n in range(10)]
how = sys.argv[1]

def work(report):
    report.bytes(100)
    for pointer in share[:3]:
        report.done(pointer)
    report.failed(share[3].oid, OSError(28, "No space left on device", "/remote/pack"))
    if how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "raised":
        raise RuntimeError("a bug")
    if how == "failed":
        raise OSError(28, "No space left on device", "/remote/index")
    for pointer in share[4:]:
        report.done(pointer)
    report.sent(12345)

seen = {"done": [], "bytes": 0}
second = helper.fork(work, share, lambda p: seen["done"].append(p.size),
                     lambda n: seen.__setitem__("bytes", seen["bytes"] + n))
failed = second.finish()
print(json.dumps({"done": seen["done"], "bytes": seen["bytes"], "sent": second.sent,
                  "failed": {str(share.index(next(p for p in share if p.oid == oid))):
                             [type(e).__name__, str(e), getattr(e, "hint", None),
                              getattr(e, "errno", None)] for oid, e in failed.items()}}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="os.fork is used on Linux only")
@pytest.mark.parametrize("how", ["finished", "killed", "raised", "failed"])
def test_what_the_second_process_did_not_report_counts_as_failed(how: str) -> None:
    """Run in a process of its own: a fork is refused while other threads run, as they
    may in a test runner."""
    proc = subprocess.run([sys.executable, "-c", HELPER_SCRIPT, how], capture_output=True,
                          check=True)  # fmt: skip
    result = json.loads(proc.stdout)
    assert (b"RuntimeError: a bug" in proc.stderr) == (how == "raised")
    assert result["bytes"] == 100
    assert result["failed"]["3"] == ["OSError", "[Errno 28] No space left on device: "
                                     "'/remote/pack'", None, errno.ENOSPC]  # fmt: skip
    if how == "finished":
        assert result["done"] == [1, 2, 3, 5, 6, 7, 8, 9, 10]
        assert result["sent"] == 12345 and len(result["failed"]) == 1
        return
    assert result["done"] == [1, 2, 3] and result["sent"] == 0
    lost = {index: result["failed"][str(index)] for index in range(4, 10)}
    if how == "failed":  # not one object's failure: the rest fail with it, as it is
        assert b"Traceback" not in proc.stderr and proc.stderr == b""
        for failure in lost.values():
            assert failure == ["OSError", "[Errno 28] No space left on device: "
                               "'/remote/index'", None, errno.ENOSPC]  # fmt: skip
        return
    why = "was stopped by signal 9" if how == "killed" else "stopped (exit status 1)"
    for name, message, hint, _ in lost.values():
        assert name == "HelperError"
        assert message == f"the second packing process {why} before it sent 6 object(s)"
        assert hint == helper.HELPER_HINT


STOP_SCRIPT = r"""
import os, time
from gitmodel.remote import helper

def work(report):
    report.bytes(1)
    time.sleep(60)

started = time.monotonic()
second = helper.fork(work, [], lambda p: None, None)
time.sleep(0.2)
second.stop()
try:
    os.kill(second.pid, 0)
    print("still there")
except ProcessLookupError:
    print(f"gone after {time.monotonic() - started:.1f} s")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="os.fork is used on Linux only")
def test_a_failed_push_stops_its_second_process_at_once() -> None:
    proc = subprocess.run([sys.executable, "-c", STOP_SCRIPT], capture_output=True, check=True)
    said = proc.stdout.decode().split()
    assert said[0] == "gone" and float(said[2]) < 10, said


def test_a_fork_is_refused_while_other_threads_run() -> None:
    import threading

    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert helper.fork(lambda report: None, [], lambda p: None, None) is None
    finally:
        release.set()
        other.join()


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device", "/r/packs/ab"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        ConnectionError("the remote closed the connection"),
        TimeoutError("timed out"),
        RemoteObjectMissing("the remote does not have object x"),
        RemoteError("no space left on the device that holds it", hint="free space there"),
        UserError("a wrong setting", hint="set it right"),
        ValueError("unexpected"),
    ],
)  # fmt: skip
def test_a_failure_reads_the_same_after_the_pipe(failure: Exception) -> None:
    """What the parent's report uses of a failure: its type's kind, message, hint, errno."""
    back = helper.decode_failure(helper.encode_failure(failure))
    assert str(back) == str(failure)
    for kind in (OSError, ConnectionError, TimeoutError, RemoteError, RemoteObjectMissing):
        if type(failure) is kind or (kind is OSError and type(failure) is OSError):
            assert isinstance(back, kind)
    assert getattr(back, "errno", None) == getattr(failure, "errno", None)
    if isinstance(failure, GitModelError):
        assert isinstance(back, GitModelError) and back.hint == failure.hint


GARBLED = [b"f nothex {}\n", b"f " + b"a" * 64 + b" not json\n", b"d " + b"b" * 64 + b"\n",
           b"b many\n", b"\xff\xfe\n"]  # fmt: skip


@pytest.mark.parametrize("line", GARBLED)
def test_a_garbled_line_from_the_second_process_changes_nothing_it_should_not(
    line: bytes,
) -> None:
    from gitmodel.pointer import Pointer

    mine = Pointer("a" * 64, 1)
    done: list[Pointer] = []
    read_fd, write_fd = os.pipe()
    second = helper.Helper(os.getpid(), read_fd, [mine], done.append, None)
    os.write(write_fd, line)
    os.close(write_fd)
    second.poll()
    assert done == []
    if line.startswith(b"f " + b"a" * 64):
        assert isinstance(second.failed[mine.oid], helper.HelperError)
    else:
        assert second.failed == {}
    os.close(read_fd)
