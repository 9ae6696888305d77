"""Reflinks on a file system that makes them: an XFS image loop-mounted by the test (as
root, with xfsprogs). Where that cannot be done the tests are skipped, saying why."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git_model, git_out, mounted, repo_store, run_git, sha256_file

SIZE = 16 << 20


@pytest.fixture(scope="module")
def xfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting an XFS image needs root")
    if shutil.which("mkfs.xfs") is None:
        pytest.skip("mkfs.xfs is not installed (apt-get install xfsprogs)")
    base = tmp_path_factory.mktemp("xfs")
    image, mount = base / "image", base / "mnt"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(512 << 20)
    made = subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", "--", str(image)],
                          capture_output=True, check=False)  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"mkfs.xfs failed: {made.stderr.decode(errors='replace').strip()}")
    with mounted(["-o", "loop", str(image)], mount, "a loop device"):
        yield mount


def used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


@pytest.fixture
def origin(xfs: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Two pushed versions of ``model.bin`` in a bare remote on the XFS mount."""
    git_model("install", cwd=tmp_path)
    run_git("config", "--global", "model.directCheckoutThreshold", "1m", cwd=tmp_path)
    where = xfs / tmp_path.name
    where.mkdir()
    bare, src = where / "remote.git", where / "src"
    run_git("init", "-q", "--bare", str(bare), cwd=where)
    src.mkdir()
    run_git("init", "-q", cwd=src)
    git_model("track", "*.bin", cwd=src)
    found = {"remote": str(bare), "where": str(where)}
    for tag in ("v1", "v2"):
        (src / "model.bin").write_bytes(os.urandom(SIZE))
        found[tag] = sha256_file(src / "model.bin")
        run_git("add", ".", cwd=src)
        run_git("commit", "-qm", tag, cwd=src)
        run_git("tag", tag, cwd=src)
    run_git("remote", "add", "origin", str(bare), cwd=src)
    run_git("push", "-q", "origin", "main", "--tags", cwd=src)
    yield found
    shutil.rmtree(where, ignore_errors=True)


@pytest.mark.parametrize("mode", ["auto", "reflink"])
def test_a_clone_shares_blocks_with_the_store(origin: dict[str, str], mode: str) -> None:
    where = Path(origin["where"])
    before = used(where)
    work = where / "work"
    run_git("-c", f"model.worktreeCopy={mode}", "clone", "-q", origin["remote"], str(work),
            cwd=where)  # fmt: skip
    assert sha256_file(work / "model.bin") == origin["v2"]
    store_file = repo_store(work).object_path(origin["v2"])
    assert not os.path.samefile(work / "model.bin", store_file), "a reflink, not a hard link"
    grown = used(where) - before
    assert grown < SIZE * 1.3, f"{grown} bytes used for a {SIZE}-byte model"
    assert git_out("status", "--porcelain", cwd=work) == ""
    report = json.loads(git_model("du", "--local", "--json", cwd=work).stdout)
    assert report["reflinked_bytes"] == SIZE
    assert report["worktree_own_bytes"] == report["lent_bytes"] == 0


@pytest.mark.parametrize("edit", ["rewrite", "truncate", "append"])
def test_edits_of_a_reflink_leave_the_store_alone(origin: dict[str, str], edit: str) -> None:
    where = Path(origin["where"])
    work = where / "work"
    run_git("clone", "-q", origin["remote"], str(work), cwd=where)
    path = work / "model.bin"
    if edit == "rewrite":
        with open(path, "wb") as f:
            f.write(os.urandom(SIZE))
    elif edit == "truncate":
        os.truncate(path, 100)
    else:
        with open(path, "ab") as f:
            f.write(b"more")
    assert sha256_file(repo_store(work).object_path(origin["v2"])) == origin["v2"]
    run_git("checkout", "-q", "-f", "v1", cwd=work)
    assert sha256_file(path) == origin["v1"]
    run_git("checkout", "-q", "main", cwd=work)
    assert sha256_file(path) == origin["v2"]
    assert b"ok" in git_model("fsck", cwd=work).stdout


@contextlib.contextmanager
def tracked_repo(xfs: Path, name: str) -> Iterator[Path]:
    """A repository on the XFS mount with ``*.bin`` tracked, removed afterwards."""
    work = xfs / name
    work.mkdir()
    try:
        run_git("init", "-q", cwd=work)
        git_model("install", "--local", cwd=work)
        git_model("track", "*.bin", cwd=work)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def shared_store_file(work: Path, digest: str, size: int) -> Path:
    """The store's file of ``digest``, checked to share all its ``size`` bytes' blocks."""
    from gitmodel.store import onecopy

    store_file = repo_store(work).object_path(digest)
    with open(store_file, "rb") as f:
        assert onecopy.shared_bytes(f.fileno()) == size
    return store_file


def test_git_add_leaves_one_copy(xfs: Path, tmp_path: Path) -> None:
    """The object ``git add`` stores shares the worktree file's blocks (the kernel
    compares them first); a file changed meanwhile would simply not be shared."""
    with tracked_repo(xfs, f"add-{tmp_path.name}") as work:
        (work / "model.bin").write_bytes(os.urandom(SIZE))
        digest = sha256_file(work / "model.bin")
        before = used(work)
        run_git("add", "model.bin", cwd=work)
        store_file = shared_store_file(work, digest, SIZE)
        assert used(work) - before < SIZE // 2
        assert sha256_file(store_file) == digest
        run_git("commit", "-qm", "model", cwd=work)
        with open(work / "model.bin", "wb") as f:  # the worktree's blocks are its own again
            f.write(b"rewritten")
        assert sha256_file(store_file) == digest
        assert b"ok" in git_model("fsck", cwd=work).stdout


def test_git_add_of_a_large_file_stores_a_reflink(xfs: Path, tmp_path: Path) -> None:
    """A file past the filter's copy-ahead size goes into the store as a reflink of the
    worktree file, hashed there: one copy on disk, no comparing pass afterwards."""
    size = 40 << 20
    with tracked_repo(xfs, f"add-large-{tmp_path.name}") as work:
        (work / "model.bin").write_bytes(os.urandom(size))
        digest = sha256_file(work / "model.bin")
        before = used(work)
        added = run_git("add", "model.bin", cwd=work, env={**os.environ, "GIT_MODEL_TRACE": "1"})
        assert b"the copy made ahead held all" in added.stderr
        assert b"shares blocks" not in added.stderr  # nothing left to share afterwards
        store_file = shared_store_file(work, digest, size)
        assert used(work) - before < size // 2
        run_git("commit", "-qm", "model", cwd=work)
        with open(work / "model.bin", "r+b") as f:  # an edit in place: the store keeps its bytes
            f.write(b"edited")
        assert sha256_file(store_file) == digest
        assert b"ok" in git_model("fsck", cwd=work).stdout
