"""A remote others can write to, and people working at once: refused cleanly, nothing lost."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import git_model, git_out, repo_store, run_git
from test_remotes import assert_version, author, commit_versions, new_user, origin, versions

from gitmodel.errors import ChecksumError, PointerSizeError, UserError
from gitmodel.pointer import Pointer
from gitmodel.remote import layouts, whole
from gitmodel.remote.errors import RemoteError, RemoteObjectMissing
from gitmodel.remote.store import RemoteStore
from gitmodel.store.local import LocalStore

__all__ = ["author", "origin"]  # fixtures shared with test_remotes


@pytest.fixture
def remote(tmp_path: Path) -> RemoteStore:
    return RemoteStore(f"file://{tmp_path / 'remote'}", tries=2, sleep=lambda _: None)


def push_one(remote: RemoteStore, tmp_path: Path, data: bytes) -> Pointer:
    source = LocalStore(tmp_path / "source")
    with source.writer() as writer:
        writer.write(data)
        pointer = writer.commit()
    whole.upload(remote, source, pointer)
    return pointer


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_hostile_manifest_never_builds_a_path(remote: RemoteStore, tmp_path: Path) -> None:
    pointer = push_one(remote, tmp_path, b"honest bytes")
    manifest = Path(remote.manifest_key(pointer.oid))
    manifest.chmod(0o644)
    manifest.write_text(json.dumps({"oid": "../../../outside", "size": 2**62, "kind": "/etc"}))
    (Path(remote.root) / "manifests" / pointer.oid[:2] / "..%2f..%2fjunk").write_text("x")
    assert remote.present([pointer.oid, "0" * 64]) == {pointer.oid}
    before = files_under(tmp_path)
    store = LocalStore(tmp_path / "mine")
    layouts.download(remote, store, pointer)
    assert b"".join(store.read(pointer)) == b"honest bytes"
    assert {p for p in files_under(tmp_path) - before if "mine" not in p.parts} == set()


@pytest.mark.parametrize("damage", ["appended", "truncated", "replaced", "empty"])
@pytest.mark.parametrize("size", [1000, 9 << 20])  # one request; streamed to tmp/
def test_damaged_objects_are_refused_with_their_oid(
    remote: RemoteStore, tmp_path: Path, damage: str, size: int
) -> None:
    pointer = push_one(remote, tmp_path, os.urandom(size))
    data_path = Path(remote.data_key(pointer.oid))
    data = data_path.read_bytes()
    data_path.write_bytes(
        {"appended": data + b"!", "truncated": data[:-1], "empty": b"",
         "replaced": bytes([data[0] ^ 1]) + data[1:]}[damage]
    )  # fmt: skip
    store = LocalStore(tmp_path / "mine")
    with pytest.raises((ChecksumError, RemoteError)) as info:
        layouts.download(remote, store, pointer)
    assert pointer.oid in str(info.value)
    assert store.oids() == set()
    assert list(store.tmp_dir.glob("*")) == []


def test_pointer_claiming_an_absurd_size_allocates_nothing(
    remote: RemoteStore, tmp_path: Path
) -> None:
    real = push_one(remote, tmp_path, b"small")
    liar = Pointer(real.oid, 2**62)
    store = LocalStore(tmp_path / "mine")
    with pytest.raises(PointerSizeError, match=real.oid):
        layouts.download(remote, store, liar)  # read to its end, found short: the pointer is wrong
    assert store.oids() == set() and list(store.tmp_dir.glob("*")) == []
    with pytest.raises(RemoteObjectMissing):
        layouts.download(remote, store, Pointer("1" * 64, 3))


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"{not json", RemoteError), (b'{"layout": 99}', UserError),
     (b'{"layout": "' + b"x" * 100_000 + b'"}', RemoteError), (b"[1, 2]", RemoteError)],
)  # fmt: skip
def test_unreadable_or_future_layouts_are_refused(
    remote: RemoteStore, tmp_path: Path, body: bytes, error: type[Exception]
) -> None:
    push_one(remote, tmp_path, b"x")
    (Path(remote.root) / "gitmodel-remote.json").write_bytes(body)
    with pytest.raises(error) as info:
        remote.check_layout()
    assert len(str(info.value)) < 300
    hint = getattr(info.value, "hint", None) or ""
    assert "damaged" in hint or "upgrade gitmodel" in hint, hint  # never "run it again"


def test_same_content_added_from_two_worktrees_at_once(tmp_path: Path) -> None:
    git_model("install", cwd=tmp_path)
    repo = tmp_path / "repo"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    git_model("track", "*.bin", cwd=repo)
    run_git("add", ".gitattributes", cwd=repo)
    run_git("commit", "-qm", "track", cwd=repo)
    other = tmp_path / "other"
    run_git("worktree", "add", "-q", "-b", "other", str(other), cwd=repo)
    files = {f"f{i}.bin": os.urandom(50_000) for i in range(40)} | {"big.bin": os.urandom(3 << 20)}
    for tree in (repo, other):
        for name, data in files.items():
            (tree / name).write_bytes(data)
    adds = [subprocess.Popen(["git", "add", "."], cwd=tree, stderr=subprocess.PIPE)
            for tree in (repo, other)]  # fmt: skip
    assert [proc.wait() for proc in adds] == [0, 0], [p.stderr.read() for p in adds if p.stderr]
    store = repo_store(repo)
    assert store.oids() == {hashlib.sha256(d).hexdigest() for d in files.values()}
    for name, data in files.items():
        pointer = Pointer(hashlib.sha256(data).hexdigest(), len(data))
        assert b"".join(bytes(c) for c in store.read(pointer)) == data, name
    for tree in (repo, other):
        run_git("commit", "-qm", "same content", cwd=tree)
        (tree / "f0.bin").unlink()
        run_git("checkout", "--", "f0.bin", cwd=tree)
        assert (tree / "f0.bin").read_bytes() == files["f0.bin"]


def test_two_overlapping_pushes_both_land(author: Path, origin: Path, tmp_path: Path) -> None:
    shared = versions()[0]
    commit_versions(author, [shared])
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "second")
    second = tmp_path / "second"
    run_git("clone", "-q", str(origin), str(second), cwd=tmp_path, env=env)
    mine = {"model.bin": os.urandom(200_000), "data/train.bin": shared["data/train.bin"]}
    theirs = {"model.bin": os.urandom(200_000), "data/train.bin": os.urandom(60_000)}
    run_git("switch", "-q", "-c", "mine", cwd=author)
    commit_versions(author, [mine])
    run_git("switch", "-q", "-c", "theirs", cwd=second, env=env)
    commit_versions(second, [theirs])
    pushes = [
        subprocess.Popen(["git", "push", "-q", "origin", "mine"], cwd=author,
                         stderr=subprocess.PIPE),
        subprocess.Popen(["git", "push", "-q", "origin", "theirs"], cwd=second, env=env,
                         stderr=subprocess.PIPE),
    ]  # fmt: skip
    assert [p.wait() for p in pushes] == [0, 0], [p.stderr.read() for p in pushes if p.stderr]
    reader = tmp_path / "reader"
    env3 = new_user(tmp_path, "reader")
    run_git("clone", "-q", "-b", "mine", str(origin), str(reader), cwd=tmp_path, env=env3)
    assert_version(reader, mine)
    run_git("checkout", "-q", "theirs", cwd=reader, env=env3)
    assert_version(reader, theirs)
    assert git_out("status", "--porcelain", cwd=reader) == ""
