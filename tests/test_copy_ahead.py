"""``git add`` of a large file copies it into the store from the file itself (a
reflink where the file system has them) and hashes the copy, while Git's bytes are
only compared with it. What is stored is still exactly what Git sent: content that
is not the worktree file's (``git hash-object --path``) goes the ordinary way from
the first byte that differs."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from conftest import git_model, git_out, repo_store, run_git, sha256_file

from gitmodel.pointer import Pointer, try_parse
from gitmodel.store import proven
from gitmodel.store.digests import DigestStore
from gitmodel.store.pack import PACK_MAX_OBJECT

SIZE = 40 << 20  # past the filter's COPY_AHEAD_MIN


def traced(repo: Path) -> dict[str, str]:
    """The environment, with the filter's trace on (it says whether the copy held)."""
    return {**os.environ, "GIT_MODEL_TRACE": "1"}


def leftovers(repo: Path) -> list[Path]:
    tmp = repo_store(repo).tmp_dir
    return list(tmp.iterdir()) if tmp.exists() else []


def pointer_of(repo: Path, *args: str) -> Pointer:
    blob = git_out("hash-object", *args, cwd=repo).strip()
    pointer = try_parse(run_git("cat-file", "blob", blob, cwd=repo).stdout)
    assert pointer is not None
    return pointer


def stored_bytes(repo: Path, pointer: Pointer) -> bytes:
    with repo_store(repo).open(pointer.oid) as f:
        return f.read()


def test_git_add_keeps_the_copy_it_made_ahead(repo: Path) -> None:
    data = os.urandom(SIZE)
    (repo / "model.bin").write_bytes(data)
    added = run_git("add", "model.bin", cwd=repo, env=traced(repo))
    assert b"the copy made ahead held all" in added.stderr
    pointer = pointer_of(repo, "--path=model.bin", "model.bin")
    assert pointer == Pointer(hashlib.sha256(data).hexdigest(), SIZE)
    store = repo_store(repo)
    assert sha256_file(store.object_path(pointer.oid)) == pointer.oid
    # it was hashed on its way in, so a checkout may copy it without hashing again
    assert proven.holds(store.root, pointer.oid, os.stat(store.object_path(pointer.oid)))
    assert not leftovers(repo)
    run_git("commit", "-qm", "model", cwd=repo)
    (repo / "model.bin").unlink()
    run_git("checkout", "--", "model.bin", cwd=repo)
    assert (repo / "model.bin").read_bytes() == data
    assert b"ok" in git_model("fsck", cwd=repo).stdout


def other_content(data: bytes, how: str) -> bytes:
    if how == "differs-in-the-middle":
        changed = bytearray(data)
        changed[SIZE // 2 + 12345] ^= 1
        return bytes(changed)
    if how == "differs-at-the-start":
        return b"\0" + data[1:]
    if how == "shorter":
        return data[: SIZE - 4096 - 17]
    if how == "longer":
        return data + os.urandom(3 << 20)
    if how == "small":  # copied ahead (its first MiB came whole), yet small enough to pack
        return data[:PACK_MAX_OBJECT]
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["differs-in-the-middle", "differs-at-the-start", "shorter", "longer", "small"]
)
def test_content_that_is_not_the_file_is_stored_as_git_sent_it(
    repo: Path, tmp_path: Path, how: str
) -> None:
    """``hash-object --path`` cleans other content under the worktree file's name: the
    object is that content, whatever the file holds."""
    data = os.urandom(SIZE)
    (repo / "model.bin").write_bytes(data)
    other = other_content(data, how)
    source = tmp_path / "other"
    source.write_bytes(other)
    pointer = pointer_of(repo, "-w", "--path=model.bin", str(source))
    if how == "small":
        assert not repo_store(repo).has_loose(pointer.oid)
    assert pointer == Pointer(hashlib.sha256(other).hexdigest(), len(other))
    assert stored_bytes(repo, pointer) == other
    assert not leftovers(repo)
    assert b"ok" in git_model("fsck", cwd=repo).stdout


def test_a_tensor_file_gets_its_digests_on_the_way_in(repo: Path) -> None:
    np = pytest.importorskip("numpy")
    save_file = pytest.importorskip("safetensors.numpy").save_file
    git_model("track", "*.safetensors", cwd=repo)
    tensors = {"a": np.arange(SIZE // 4, dtype=np.float32), "b": np.ones(1000, np.int64)}
    save_file(tensors, str(repo / "w.safetensors"))
    added = run_git("add", "w.safetensors", cwd=repo, env=traced(repo))
    assert b"the copy made ahead held all" in added.stderr
    pointer = pointer_of(repo, "--path=w.safetensors", "w.safetensors")
    digests = DigestStore(repo_store(repo).root).read(pointer.oid)
    assert digests is not None and set(digests["digests"]) == {"a", "b"}


def test_a_store_on_another_file_system_is_copied_to_by_read_and_write(tmp_path: Path) -> None:
    """Where the kernel will not copy between the worktree's and the store's file
    systems (a git directory on tmpfs), the copy ahead reads and writes instead."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm")
    gitdir = shm / f"copy-ahead-{os.getpid()}-{tmp_path.name}"
    work = tmp_path / "work"
    work.mkdir()
    try:
        run_git("init", "-q", f"--separate-git-dir={gitdir}", cwd=work)
        git_model("install", "--local", cwd=work)
        git_model("track", "*.bin", cwd=work)
        data = os.urandom(SIZE)
        (work / "model.bin").write_bytes(data)
        added = run_git("add", "model.bin", cwd=work, env=traced(work))
        assert b"the copy made ahead held all" in added.stderr
        pointer = pointer_of(work, "--path=model.bin", "model.bin")
        assert stored_bytes(work, pointer) == data
    finally:
        shutil.rmtree(gitdir, ignore_errors=True)
