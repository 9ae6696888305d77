"""Progress lines: bytes, rate and time left on a terminal, one line rewritten in place;
nothing with -q, a pipe or GIT_MODEL_PROGRESS=0; fed from inside each transfer."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import git_model, run_git
from hygiene_support import commit_file, make_author

from gitmodel.pointer import Pointer
from gitmodel.progress import Attempt, Progress, format_duration
from gitmodel.remote import layouts
from gitmodel.remote.chunked import LocalChunks
from gitmodel.remote.store import RemoteStore
from gitmodel.store.local import LocalStore

SIZE = rb"[\d.]+ (B|[KMGT]iB)"
# a line as it is redrawn: "\r" + title + percent (objects), bytes [of total] [| rate] [, left]
LINE = rb"\r%s: +\d{1,3}%% \(\d+/\d+\), " + SIZE + rb"( of " + SIZE + rb")?( \| " + SIZE + \
    rb"/s)?(, [\d]+ (s|min \d\d s|h \d\d min) left)?"  # fmt: skip


def line(title: bytes) -> re.Pattern[bytes]:
    return re.compile(LINE % re.escape(title))


def done(title: bytes, objects: int) -> re.Pattern[bytes]:
    return re.compile(rb"\r%s: 100%% \(%d/%d\), " % (re.escape(title), objects, objects) + SIZE
                      + rb"( \| " + SIZE + rb"/s)?, done\. *\n")  # fmt: skip


def on_terminal(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> bytes:
    """Run ``command`` with stderr on a pseudo-terminal; returns what it printed there."""
    main, child = pty.openpty()
    try:
        proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=child, env=env)  # fmt: skip
        os.close(child)
        child = -1
        out = b""
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not data:
                break
            out += data
        proc.communicate()
    finally:
        os.close(main)
        if child >= 0:
            os.close(child)
    assert proc.returncode == 0, out
    return out.replace(b"\r\n", b"\n")  # the terminal's line discipline adds the \r


def test_push_and_fetch_show_bytes_on_a_terminal_only(tmp_path: Path) -> None:
    _, repo = make_author(tmp_path)
    for name in ("a.bin", "b.bin", "c.bin"):
        commit_file(repo, name)
    shown = on_terminal(["git-model", "push"], repo)
    assert line(b"Uploading model objects").search(shown), shown
    assert done(b"Uploading model objects", 3).search(shown), shown
    assert shown.count(b"\n") == 2  # the progress line once done, then the summary
    commit_file(repo, "d.bin")
    assert on_terminal(["git-model", "push", "-q"], repo) == b""
    run_git("push", "-q", "origin", "main", cwd=repo)
    empty_store(repo)
    shown = on_terminal(["git-model", "fetch"], repo)
    assert done(b"Downloading model objects", 4).search(shown), shown
    empty_store(repo)
    piped = git_model("fetch", cwd=repo).stderr
    assert b"\r" not in piped and b"downloaded 4 object(s)" in piped


def test_the_environment_turns_progress_on_for_a_pipe_and_off_for_a_terminal(
    tmp_path: Path,
) -> None:
    _, repo = make_author(tmp_path)
    commit_file(repo, "a.bin")
    quiet = {**os.environ, "GIT_MODEL_PROGRESS": "0"}
    assert on_terminal(["git-model", "push"], repo, quiet).count(b"\r") == 0
    commit_file(repo, "b.bin")
    forced = git_model("push", cwd=repo, env={**os.environ, "GIT_MODEL_PROGRESS": "1"}).stderr
    assert done(b"Uploading model objects", 1).search(forced), forced


def test_git_push_clone_and_pull_show_progress_through_hooks_and_the_filter(
    tmp_path: Path,
) -> None:
    origin, repo = make_author(tmp_path)
    for name in ("a.bin", "b.bin"):
        commit_file(repo, name, os.urandom(300_000))
    shown = on_terminal(["git", "push", "origin", "main"], repo)  # the pre-push hook
    assert done(b"Uploading model objects", 2).search(shown), shown
    git_model("install", cwd=tmp_path)  # globally: the clone's filter
    shown = on_terminal(["git", "clone", str(origin), "clone"], tmp_path)
    assert done(b"Downloading model objects", 2).search(shown), shown
    assert (tmp_path / "clone" / "a.bin").stat().st_size == 300_000
    lazy = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    on_terminal(["git", "clone", str(origin), "lazy"], tmp_path, lazy)
    shown = on_terminal(["git-model", "pull"], tmp_path / "lazy")
    assert done(b"Downloading model objects", 2).search(shown), shown
    assert done(b"Checking out model files", 2).search(shown), shown


def test_direct_checkout_and_a_large_add_show_progress(tmp_path: Path) -> None:
    origin, repo = make_author(tmp_path)
    big = os.urandom(33 << 20)  # over CLEAN_PROGRESS_MIN
    (repo / "big.bin").write_bytes(big)
    shown = on_terminal(["git", "add", "big.bin"], repo)
    assert re.search(rb"\rAdding big\.bin: 100%, " + SIZE + rb"( \| " + SIZE + rb"/s)?, done\.",
                     shown), shown  # fmt: skip
    (repo / "small.bin").write_bytes(os.urandom(3 << 20))  # under it: no line
    assert b"Adding small.bin" not in on_terminal(["git", "add", "small.bin"], repo)
    run_git("commit", "-qm", "big", cwd=repo)
    run_git("push", "-q", "origin", "main", cwd=repo)
    git_model("install", cwd=tmp_path)
    shown = on_terminal(["git", "clone", "-c", "model.directCheckoutThreshold=1m", str(origin),
                         "clone"], tmp_path)  # fmt: skip
    assert done(b"Checking out model files", 2).search(shown), shown  # the post-checkout hook
    downloaded = shown.index(b"Downloading model objects: 100%")
    assert downloaded < shown.index(b"Checking out model files:")  # a line each
    assert (tmp_path / "clone" / "big.bin").read_bytes() == big


def empty_store(repo: Path) -> None:
    store = repo / ".git" / "model"
    for path in [*(store / "objects").rglob("*"), *(store / "packs").rglob("*")]:
        if path.is_file():
            path.unlink()


# -- the line itself, and the byte counts the transfers feed it


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_line_shows_percent_objects_bytes_rate_and_time_left() -> None:
    clock = Clock()
    out = io.StringIO()
    progress = Progress("Uploading model objects", 3, 3 << 30, shown=True, stream=out,
                        clock=clock)  # fmt: skip
    progress.object_done()
    assert out.getvalue() == "\rUploading model objects:   0% (1/3), 0 B of 3.0 GiB"
    clock.now += 10
    progress.add(1 << 30)
    assert last(out) == (
        "Uploading model objects:  33% (1/3), 1.0 GiB of 3.0 GiB | 102.4 MiB/s, 20 s left"
    )
    clock.now += 20
    progress.add(2 << 30)
    for _ in range(2):
        progress.object_done()
    progress.finish()
    assert last(out) == "Uploading model objects: 100% (3/3), 3.0 GiB | 102.4 MiB/s, done.\n"
    progress.finish()  # once only
    assert out.getvalue().count("\n") == 1


def last(out: io.StringIO) -> str:
    """The line last drawn, without the blanks that cover a longer one before it."""
    return re.sub(" +(\n?)$", r"\1", out.getvalue().rsplit("\r", 1)[1])


def test_line_is_redrawn_at_most_ten_times_a_second() -> None:
    clock = Clock()
    out = io.StringIO()
    progress = Progress("Downloading model objects", 1, 10_000, shown=True, stream=out,
                        clock=clock)  # fmt: skip
    for _ in range(100):
        progress.add(10)
        clock.now += 0.01  # 100 counts in one second
    assert 9 <= out.getvalue().count("\r") <= 11
    assert progress.done_bytes == 1000


def test_counts_from_many_threads_add_up() -> None:
    progress = Progress("Uploading model objects", 8, 8 * 10_000, shown=False)

    def work() -> None:
        for _ in range(10_000):
            progress.add(1)
        progress.object_done()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (progress.done_bytes, progress.done_objects) == (80_000, 8)
    assert progress.line(1.0, final=True).startswith("Uploading model objects: 100% (8/8)")


def test_a_failed_attempt_takes_its_bytes_back() -> None:
    progress = Progress("Downloading model objects", 1, 100, shown=False)
    with pytest.raises(OSError), Attempt(progress.add) as count:
        count(60)
        raise OSError("cut short")
    with Attempt(progress.add) as count:
        count(100)
    assert progress.done_bytes == 100


def test_unknown_totals_and_long_waits_read_well() -> None:
    progress = Progress("Adding m.bin", shown=False)
    progress.add(5 << 20)
    assert progress.line(2.0) == "Adding m.bin: 5.0 MiB | 2.5 MiB/s"
    assert [format_duration(s) for s in (0.4, 59, 61, 3599, 3661)] == [
        "0 s", "59 s", "1 min 01 s", "59 min 59 s", "1 h 01 min"]  # fmt: skip


@pytest.mark.parametrize("chunked", [True, False])
def test_layouts_count_bytes_per_part_and_range_not_per_object(
    tmp_path: Path, chunked: bool
) -> None:
    store = LocalStore(tmp_path / "store")
    data = os.urandom(40 << 20)  # a chunked push sends it in two packs
    pointer = _put(store, data)
    remote = RemoteStore(f"file://{tmp_path / 'remote'}", chunked=chunked)
    remote.check_layout()
    sent: list[int] = []
    failed, _ = layouts.upload(remote, store, [pointer], 2, None, lambda p: None, sent.append)
    assert not failed and sum(sent) == pointer.size and len(sent) > 1, sent[:5]
    other = LocalStore(tmp_path / "other")
    received: list[int] = []
    layouts.download(remote, other, pointer, LocalChunks(other), received.append)
    assert sum(received) == pointer.size and len(received) > 1
    assert other.has(pointer.oid)


def _put(store: LocalStore, data: bytes) -> Pointer:
    with store.writer() as writer:
        writer.write(data)
        return writer.commit()
