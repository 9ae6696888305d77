"""Progress lines: on a terminal only, one line rewritten in place; nothing with -q or a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from conftest import git_model, run_git
from hygiene_support import commit_file, make_author


def on_terminal(args: list[str], cwd: Path) -> bytes:
    """Run ``git-model ARGS`` with stderr on a pseudo-terminal; returns what it printed there."""
    main, child = pty.openpty()
    try:
        proc = subprocess.run(["git-model", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=child, check=False)  # fmt: skip
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
    finally:
        os.close(main)
        if child >= 0:
            os.close(child)
    assert proc.returncode == 0, out
    return out


def test_push_and_fetch_show_progress_on_a_terminal_only(tmp_path: Path) -> None:
    _, repo = make_author(tmp_path)
    for name in ("a.bin", "b.bin", "c.bin"):
        commit_file(repo, name)
    shown = on_terminal(["push"], repo)
    assert b"\rgitmodel: uploading 1/3 objects" in shown
    assert b"\rgitmodel: uploading 3/3 objects" in shown
    assert shown.count(b"\n") <= 2  # the progress line, then the summary
    commit_file(repo, "d.bin")
    assert on_terminal(["push", "-q"], repo) == b""
    run_git("push", "-q", "origin", "main", cwd=repo)
    empty_store(repo)
    shown = on_terminal(["fetch"], repo)
    assert b"\rgitmodel: downloading 4/4 objects" in shown
    empty_store(repo)
    piped = git_model("fetch", cwd=repo).stderr
    assert b"\r" not in piped and b"downloaded 4 object(s)" in piped


def empty_store(repo: Path) -> None:
    store = repo / ".git" / "model"
    for path in [*(store / "objects").rglob("*"), *(store / "packs").rglob("*")]:
        if path.is_file():
            path.unlink()
