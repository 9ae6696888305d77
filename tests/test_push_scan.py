"""The pre-push hook scans only commits the remote lacks: what earlier pushes sent to the
same model store is remembered, and rewritten history is still sent whole."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import git_model, git_out, repo_store, run_git

SCANNED = re.compile(rb"pre-push: (\d+) pointer\(s\) in ")


def traced_push(repo: Path, *args: str) -> int:
    """``git push ARGS`` with gitmodel's trace on; the pointers its pre-push hook scanned."""
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    proc = run_git("push", "-q", *args, cwd=repo, env=env)
    found = SCANNED.findall(proc.stderr)
    assert len(found) == 1, proc.stderr.decode(errors="replace")
    return int(found[0])


def commit_files(repo: Path, message: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (repo / name).write_bytes(data)
    run_git("add", *files, cwd=repo)
    run_git("commit", "-qm", message, cwd=repo)


def blob(n: int) -> bytes:
    return f"model file {n}\n".encode() * (n + 1)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    path = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(path), cwd=tmp_path)
    return path


def clone_files(origin: Path, tmp_path: Path, name: str) -> Path:
    """A fresh clone by a user with gitmodel installed; every file checked out."""
    clone = tmp_path / name
    git_model("install", cwd=tmp_path)
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert git_out("status", "--porcelain", cwd=clone) == ""
    return clone


def test_pushes_to_a_url_scan_only_new_commits(repo: Path, origin: Path, tmp_path: Path) -> None:
    """A push to a URL has no tracking refs: the tips sent before stand for their history."""
    commit_files(repo, "first", {"a.bin": blob(1), "b.bin": blob(2), "c.bin": blob(3)})
    assert traced_push(repo, str(origin), "HEAD:refs/heads/main") == 3
    commit_files(repo, "second", {"d.bin": blob(4)})
    # a new branch: the remote names no commit of ours for it
    assert traced_push(repo, str(origin), "HEAD:refs/heads/next") == 1
    assert traced_push(repo, str(origin), "HEAD:refs/heads/main") == 0  # sent with next
    clone = clone_files(origin, tmp_path, "clone")
    for n, name in enumerate("abcd", start=1):
        assert (clone / f"{name}.bin").read_bytes() == blob(n)


def test_remote_named_commits_count_without_tracking_refs(repo: Path, origin: Path) -> None:
    """The remote's own tip, given to the hook by Git, is left out when we have it."""
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    commit_files(repo, "first", {"a.bin": blob(1), "b.bin": blob(2)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 2
    (repo / ".git" / "model" / "pushed").rename(repo / ".git" / "model" / "pushed-aside")
    run_git("update-ref", "-d", "refs/remotes/origin/main", cwd=repo)
    commit_files(repo, "second", {"c.bin": blob(3)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 1


def test_rewritten_history_is_sent(repo: Path, origin: Path, tmp_path: Path) -> None:
    """After a rewrite and a force-push, the new commits are scanned and their objects
    sent; what the clone gets is the rewritten history, every file whole."""
    commit_files(repo, "first", {"a.bin": blob(1)})
    traced_push(repo, str(origin), "HEAD:refs/heads/main")
    commit_files(repo, "second", {"b.bin": blob(2)})
    traced_push(repo, str(origin), "HEAD:refs/heads/main")
    run_git("reset", "-q", "--hard", "HEAD~2", cwd=repo)
    commit_files(repo, "rewritten", {"a.bin": blob(5), "c.bin": blob(6)})
    assert traced_push(repo, str(origin), "--force", "HEAD:refs/heads/main") == 2
    clone = clone_files(origin, tmp_path, "clone")
    assert (clone / "a.bin").read_bytes() == blob(5)
    assert (clone / "c.bin").read_bytes() == blob(6)
    assert not (clone / "b.bin").exists()


def test_a_new_model_store_gets_everything(repo: Path, origin: Path, tmp_path: Path) -> None:
    """Tips remembered for one model store say nothing of another: when the remote's store
    changes, the next push scans the whole history and the new store gets every object."""
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    commit_files(repo, "first", {"a.bin": blob(1), "b.bin": blob(2)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 2
    store = tmp_path / "other-store"
    git_model("remote", "set", "origin", store.as_uri(), cwd=repo)
    run_git("update-ref", "-d", "refs/remotes/origin/main", cwd=repo)
    commit_files(repo, "second", {"c.bin": blob(3)})
    # a new branch: nothing but the remembered tips says "first" was sent
    assert traced_push(repo, "origin", "HEAD:refs/heads/next") == 3
    git_model("install", cwd=tmp_path)
    clone = tmp_path / "clone"
    run_git("clone", "-q", "-b", "next", "-c", f"remote.origin.modelurl={store.as_uri()}",
            str(origin), str(clone), cwd=tmp_path)  # fmt: skip
    for n, name in enumerate("abc", start=1):
        assert (clone / f"{name}.bin").read_bytes() == blob(n)


def test_a_remote_made_anew_where_it_was_gets_everything_again(
    repo: Path, origin: Path, tmp_path: Path
) -> None:
    """A Git remote deleted and made again at the same place, its model store with it,
    lacks what earlier pushes sent there: the next push sends every commit's objects,
    as Git sends every commit, and a clone gets every file whole."""
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    commit_files(repo, "first", {"a.bin": blob(1), "b.bin": blob(2)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 2
    shutil.rmtree(origin)
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 2
    clone = clone_files(origin, tmp_path, "clone")
    assert (clone / "a.bin").read_bytes() == blob(1)
    assert (clone / "b.bin").read_bytes() == blob(2)
    commit_files(repo, "second", {"c.bin": blob(3)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/next") == 1  # the store holds them


@pytest.mark.parametrize(
    "text",
    [b"", b"not a hash\n", b"0" * 64 + b"\n../../etc\n", b"\xff\xfe\n" * 3],
    ids=["empty", "junk", "bad-tip", "binary"],
)
def test_a_damaged_memory_costs_only_a_full_scan(repo: Path, origin: Path, text: bytes) -> None:
    commit_files(repo, "first", {"a.bin": blob(1)})
    traced_push(repo, str(origin), "HEAD:refs/heads/main")
    (memo,) = (repo / ".git" / "model" / "pushed").iterdir()
    memo.write_bytes(text)
    commit_files(repo, "second", {"b.bin": blob(2)})
    assert traced_push(repo, str(origin), "HEAD:refs/heads/second") == 2
    assert traced_push(repo, str(origin), "HEAD:refs/heads/third") == 0  # remembered again


def test_likely_pointers_are_found_by_blob_id_and_others_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob named as a likely pointer's text would be is that pointer, unread; a pointer
    not among them (here: one whose object is not stored) is still read from Git."""
    from gitmodel import git
    from gitmodel.git import objects
    from gitmodel.pointer import Pointer
    from gitmodel.scan import pointers_in_history

    commit_files(repo, "two", {"a.bin": blob(1), "b.bin": blob(2)})
    store = repo_store(repo)
    stored = [Pointer(oid, size) for oid, size in store.sizes().items()]
    assert len(stored) == 2
    for pointer in stored:
        named = run_git("hash-object", "--stdin", cwd=repo, input=pointer.encode()).stdout
        assert git.blob_id(pointer.encode()) == named.decode().strip()
    everything = pointers_in_history(git.Repo.discover(repo), ["HEAD"])

    read: list[str] = []
    real_small_blobs = objects.small_blobs

    def small_blobs(repo: git.Repo, oids: list[str], limit: int) -> dict[str, bytes]:
        read.extend(oids)
        return real_small_blobs(repo, oids, limit)

    monkeypatch.setattr(objects, "small_blobs", small_blobs)
    monkeypatch.setattr(objects, "KNOWN_MIN", 0)  # a scan this small would not bother
    opened = git.Repo.discover(repo)
    opened.likely_pointers = lambda: stored[:1]
    by_known = pointers_in_history(opened, ["HEAD"])
    assert {(f.blob, f.pointer) for f in by_known} == {(f.blob, f.pointer) for f in everything}
    assert {f.pointer for f in everything} == set(stored)
    assert git.blob_id(stored[0].encode()) not in read
    assert git.blob_id(stored[1].encode()) in read


@pytest.mark.parametrize("known", [0, 1, 2])
def test_a_scan_keeps_the_trees_path_order(
    repo: Path, monkeypatch: pytest.MonkeyPatch, known: int
) -> None:
    """A push sends files in the order of their paths, so a folder's files share packs,
    however each pointer was found (read from Git, or known by its blob id)."""
    from gitmodel import git
    from gitmodel.git import objects
    from gitmodel.pointer import Pointer
    from gitmodel.scan import pointers_in_history

    files = {f"{name}.bin": blob(n) for n, name in enumerate("qwertyuiopasdf")}
    commit_files(repo, "many", files)
    stored = [Pointer(oid, size) for oid, size in repo_store(repo).sizes().items()]
    monkeypatch.setattr(objects, "KNOWN_MIN", 0)
    opened = git.Repo.discover(repo)
    opened.likely_pointers = lambda: stored[: known * 7]  # none, half, all
    found = [f.pointer.size for f in pointers_in_history(opened, ["HEAD"])]
    assert found == [len(files[name]) for name in sorted(files)]


def test_commands_find_the_stored_objects_pointers_by_blob_id(repo: Path) -> None:
    """``open_repo`` offers the local store's objects as the likely pointers."""
    from gitmodel.workspace import open_repo

    commit_files(repo, "two", {"a.bin": blob(1), "b.bin": blob(2)})
    opened, store = open_repo(repo)
    assert opened.likely_pointers is not None
    spec = "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n"
    texts = {spec.format(oid, size).encode() for oid, size in store.sizes().items()}
    assert {p.encode() for p in opened.likely_pointers()} == texts


def test_a_remote_made_anew_behind_stale_tracking_refs_gets_everything(
    repo: Path, origin: Path, tmp_path: Path
) -> None:
    """With no memory of earlier pushes (a new clone, or one whose memory was deleted),
    only the remote-tracking refs leave commits out; when the Git remote was made anew,
    they are stale, and the empty model store says so."""
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    commit_files(repo, "first", {"a.bin": blob(1), "b.bin": blob(2)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 2
    shutil.rmtree(repo / ".git" / "model" / "pushed")
    shutil.rmtree(origin)
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    assert git_out("rev-parse", "refs/remotes/origin/main", cwd=repo)  # stale, still here
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 2
    clone = clone_files(origin, tmp_path, "clone")
    assert (clone / "a.bin").read_bytes() == blob(1)
    assert (clone / "b.bin").read_bytes() == blob(2)
    shutil.rmtree(repo / ".git" / "model" / "pushed")
    commit_files(repo, "second", {"c.bin": blob(3)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/next") == 1  # the store holds them


def test_a_remote_made_anew_gets_what_a_clone_holds_and_a_warning_for_the_rest(
    repo: Path, origin: Path, tmp_path: Path
) -> None:
    """A teammate's clone holds only the objects it checked out: after the remote is made
    anew, its push of a new branch sends those and its own, and says what is lost."""
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    commit_files(repo, "first", {"a.bin": blob(1)})
    commit_files(repo, "second", {"a.bin": blob(2)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 2
    mate = clone_files(origin, tmp_path, "mate")
    shutil.rmtree(origin)
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    commit_files(mate, "third", {"c.bin": blob(3)})
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    proc = run_git("push", "-q", "origin", "HEAD:refs/heads/next", cwd=mate, env=env)
    assert SCANNED.findall(proc.stderr) == [b"2"]  # c.bin's, and the a.bin mate holds
    assert b"is empty, and 1 model object(s) of earlier commits are not here" in proc.stderr
    clone = tmp_path / "again"
    run_git("clone", "-q", "-b", "next", str(origin), str(clone), cwd=tmp_path)
    assert (clone / "a.bin").read_bytes() == blob(2)
    assert (clone / "c.bin").read_bytes() == blob(3)


def test_a_new_model_store_behind_a_branch_the_remote_has_gets_everything(
    repo: Path, origin: Path, tmp_path: Path
) -> None:
    """``model.remote`` pointed at a new, empty store: the next push to a branch the Git
    remote already has sends the objects of the history the remote holds too, not only
    those of the new commit, so that a clone of any commit gets every file."""
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    commit_files(repo, "first", {"a.bin": blob(1), "b.bin": blob(2)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 2
    store = tmp_path / "new-store"
    git_model("remote", "set", "origin", store.as_uri(), cwd=repo)
    commit_files(repo, "second", {"c.bin": blob(3)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 3
    git_model("install", cwd=tmp_path)
    clone = tmp_path / "clone"
    run_git("clone", "-q", "-c", f"remote.origin.modelurl={store.as_uri()}",
            str(origin), str(clone), cwd=tmp_path)  # fmt: skip
    for n, name in enumerate("abc", start=1):
        assert (clone / f"{name}.bin").read_bytes() == blob(n)
    run_git("checkout", "-q", "HEAD~1", cwd=clone)
    assert git_out("status", "--porcelain", cwd=clone) == ""
    # the store has its layout now: the next push sends only what is new
    commit_files(repo, "third", {"d.bin": blob(4)})
    assert traced_push(repo, "origin", "HEAD:refs/heads/main") == 1
