"""Hostile pointers on the way down: a wrong size in a pointer is the pointer's fault and
never costs a good object."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import git_model, repo_store, run_git
from hygiene_support import LOOSE

from gitmodel.pointer import Pointer


def commit_pointer(repo: Path, path: str, pointer: Pointer) -> None:
    """Commit ``pointer`` at ``path`` as someone else's commit would bring it: a blob in
    the index and history, not (yet) a file in the worktree."""
    blob = run_git("hash-object", "-w", "--stdin", cwd=repo, input=pointer.encode())
    info = f"100644,{blob.stdout.decode().strip()},{path}"
    run_git("update-index", "--add", "--cacheinfo", info, cwd=repo)
    run_git("commit", "-qm", f"add {path}", cwd=repo)


def oid_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_refused_as_a_pointer(stderr: str, path: str, pointer: Pointer, held: int) -> None:
    assert path in stderr and pointer.oid in stderr, stderr
    assert f"{pointer.size} bytes" in stderr and f"{held} bytes" in stderr, stderr
    assert "expected sha256" not in stderr and "Traceback" not in stderr, stderr
    assert "hint:" in stderr, stderr


@pytest.mark.parametrize("size", [3000, 300_000, LOOSE], ids=["packed", "packed-large", "loose"])
@pytest.mark.parametrize("delta", [1, -1])
@pytest.mark.parametrize("direct", [False, True], ids=["smudge", "direct-checkout"])
def test_a_wrong_size_in_a_pointer_never_costs_the_object(
    repo: Path, size: int, delta: int, direct: bool
) -> None:
    """The victim's own unpushed object, named by a pointer claiming one byte more (or
    less): that file fails to check out, naming the pointer; the object stays, intact."""
    if direct:  # large files skip the smudge pipe: the post-checkout hook writes them
        run_git("config", "model.directCheckoutThreshold", "1k", cwd=repo)
    data = os.urandom(size)
    (repo / "mine.bin").write_bytes(data)
    run_git("add", "mine.bin", cwd=repo)
    run_git("commit", "-qm", "my work, not pushed", cwd=repo)
    good = Pointer(hashlib.sha256(data).hexdigest(), size)
    liar = Pointer(good.oid, size + delta)
    commit_pointer(repo, "theirs.bin", liar)

    proc = run_git("checkout", "--", "theirs.bin", cwd=repo, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode != 0, stderr
    assert_refused_as_a_pointer(stderr, "theirs.bin", liar, size)
    assert not (repo / "theirs.bin").exists() or (repo / "theirs.bin").read_bytes() != data

    store = repo_store(repo)
    assert store.has(good.oid) and not store.bad_dir.exists()
    assert b"".join(bytes(c) for c in store.read(good)) == data
    (repo / "mine.bin").unlink()
    run_git("checkout", "--", "mine.bin", cwd=repo)
    assert (repo / "mine.bin").read_bytes() == data
    fsck = git_model("fsck", cwd=repo, check=False)
    report = fsck.stdout.decode()
    assert fsck.returncode == 1 and "theirs.bin" in report and "corrupt" not in report, report
    assert store.has(good.oid) and not store.bad_dir.exists()
