"""A full or read-only disk is the user's to fix, not a bug: one clear error with a hint,
and nothing half-written kept. The repository lives on a small tmpfs the test mounts (as
root); where that cannot be done the tests are skipped, saying why."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git_model, mounted, run_git
from hygiene_support import make_author

from gitmodel.remote.chunked import SPLIT_MIN

MIB = 1 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    with mounted(["-t", "tmpfs", "-o", "size=8m", "tmpfs"], mount, "a tmpfs"):
        yield mount


def grow(mount: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)


def leftovers(repo: Path) -> list[Path]:
    """Files in the store's writing area and objects folder."""
    model = repo / ".git" / "model"
    return [p for folder in ("tmp", "objects") for p in (model / folder).rglob("*") if p.is_file()]


@pytest.mark.parametrize("size", [5 * MIB, 300_000], ids=["whole-object", "packed"])
def test_git_add_on_a_full_disk_says_so_and_keeps_nothing(small_disk: Path, size: int) -> None:
    repo = small_disk / "repo"
    run_git("init", "-q", str(repo), cwd=small_disk)
    git_model("install", "--local", cwd=repo)
    git_model("track", "*.bin", cwd=repo)
    data = os.urandom(size)
    (repo / "a.bin").write_bytes(data)
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (repo / "filler").write_bytes(b"\0" * (free - size // 2))  # room for half a copy
    proc = run_git("add", "a.bin", cwd=repo, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "gitmodel: error: No space left on device" in err, err
    assert "hint: free some space" in err, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert leftovers(repo) == []

    grow(small_disk, "32m")  # space again: the same command now works
    run_git("add", "a.bin", cwd=repo)
    run_git("commit", "-qm", "a", cwd=repo)
    assert b"Traceback" not in git_model("fsck", cwd=repo).stderr
    (repo / "a.bin").unlink()
    run_git("checkout", "--", "a.bin", cwd=repo)
    assert (repo / "a.bin").read_bytes() == data


def fill(mount: Path, leave: int) -> Path:
    """A file that leaves ``leave`` bytes free on ``mount``."""
    st = os.statvfs(mount)
    filler = mount / "filler"
    filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


@pytest.mark.parametrize(("count", "size"), [(40, 20_000), (SPLIT_MIN + 10, 1_000)],
                         ids=["one-process", "two-processes"])  # fmt: skip
def test_a_push_to_a_full_remote_disk_fails_at_once_and_the_next_one_lands(
    small_disk: Path, tmp_path: Path, count: int, size: int
) -> None:
    grow(small_disk, "16m")
    origin = small_disk / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=small_disk)
    repo = tmp_path / "repo"  # the author's own disk has room: only the remote's is full
    run_git("init", "-q", str(repo), cwd=tmp_path)
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    git_model("install", "--local", cwd=repo)
    git_model("track", "*.bin", cwd=repo)
    files = {"big.bin": os.urandom(3 * MIB)} | {f"s{i}.bin": os.urandom(size) for i in range(count)}
    for name, data in files.items():
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "data", cwd=repo)
    filler = fill(small_disk, MIB)

    started = time.monotonic()
    proc = run_git("push", "-q", "origin", "HEAD:main", cwd=repo, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "no space left on the device that holds it" in err, err
    assert "hint: free space there and push again" in err, err
    assert "Traceback" not in err and "gave up after" not in err, err
    assert time.monotonic() - started < 10  # not retried: another try cannot mend it
    layout = origin / "model" / "remote" / "gitmodel-remote.json"
    assert not layout.exists() or json.loads(layout.read_text())["layout"] >= 2  # never torn

    filler.unlink()
    run_git("push", "-q", "origin", "HEAD:main", cwd=repo)
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    git_model("install", "--local", cwd=clone)
    git_model("pull", cwd=clone)
    assert all((clone / name).read_bytes() == data for name, data in files.items())


def pointers_only_clone(tmp_path: Path, disk: Path, data: bytes) -> Path:
    """A clone on ``disk`` of a repository whose ``a.bin`` holds ``data``, pushed to a
    local remote elsewhere; cloned before the filter was installed, so it holds pointers."""
    origin, author = make_author(tmp_path)
    (author / "a.bin").write_bytes(data)
    run_git("add", ".", cwd=author)
    run_git("commit", "-qm", "a", cwd=author)
    run_git("push", "-q", "origin", "HEAD:main", cwd=author)
    clone = disk / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=disk)
    git_model("install", "--local", cwd=clone)
    return clone


def test_a_download_onto_a_full_disk_says_to_free_space(small_disk: Path, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB)
    clone = pointers_only_clone(tmp_path, small_disk, data)
    filler = fill(small_disk, MIB)
    proc = git_model("pull", cwd=clone, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "No space left on device" in err and "hint: free some space here" in err, err
    assert "Traceback" not in err, err
    assert leftovers(clone) == []
    filler.unlink()
    git_model("pull", cwd=clone)
    assert (clone / "a.bin").read_bytes() == data


def test_a_checkout_onto_a_full_disk_says_to_free_space(small_disk: Path, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB)
    clone = pointers_only_clone(tmp_path, small_disk, data)
    (clone / "a.bin").unlink()
    filler = fill(small_disk, MIB)
    proc = run_git("checkout", "--", "a.bin", cwd=clone, check=False)  # the filter fetches
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "No space left on device" in err and "hint: free some space here" in err, err
    assert "Traceback" not in err, err
    assert leftovers(clone) == []
    filler.unlink()
    run_git("checkout", "--", "a.bin", cwd=clone)
    assert (clone / "a.bin").read_bytes() == data


def test_a_read_only_disk_is_named_with_a_hint_not_a_trace(
    small_disk: Path, tmp_path: Path
) -> None:
    clone = pointers_only_clone(tmp_path, small_disk, os.urandom(300_000))
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    for command in (["pull"], ["track", "*.npy"]):  # into the store; a file of the worktree
        proc = git_model(*command, cwd=clone, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1, err
        assert (
            "Read-only file system" in err and "hint: check that you may read and write" in err
        ), err
        assert "Traceback" not in err and "internal error" not in err, err
