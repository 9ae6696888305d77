"""Large files in checkout/switch/clone are written from the store by the post-checkout hook."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import git_model, git_out, repo_store, run_git, sha256_file, store_oids

from gitmodel import materialize
from gitmodel.git import index_file
from gitmodel.pointer import try_parse

SIZE = 3 << 20


@pytest.fixture
def big_repo(repo: Path) -> Path:
    run_git("config", "--global", "model.directCheckoutThreshold", "1m", cwd=repo)
    (repo / "big.bin").write_bytes(os.urandom(SIZE))
    (repo / "small.bin").write_bytes(os.urandom(1000))
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "big", cwd=repo)
    run_git("switch", "-qc", "empty", cwd=repo)
    run_git("rm", "-q", "big.bin", "small.bin", cwd=repo)
    run_git("commit", "-qm", "empty", cwd=repo)
    return repo


def cleans_of(repo: Path, path: str, *args: str) -> int:
    """How many times a git command had the filter clean ``path`` (i.e. re-read it)."""
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    proc = run_git(*args, cwd=repo, env=env)
    return proc.stderr.count(f"clean {path}\n".encode())


def test_switch_writes_file_and_leaves_index_clean(big_repo: Path) -> None:
    expected = store_oids(big_repo)
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    proc = run_git("switch", "-q", "main", cwd=big_repo, env=env)
    assert b"direct checkout on" in proc.stderr
    big = big_repo / "big.bin"
    assert sha256_file(big) in expected
    assert big.stat().st_size == SIZE
    # the index agrees with the worktree: status needs no filter at all
    assert cleans_of(big_repo, "big.bin", "status", "--porcelain") == 0
    assert git_out("status", "--porcelain", cwd=big_repo) == ""
    assert not (big_repo / ".git" / materialize.PENDING_FILE).exists()


def test_checkout_of_paths_uses_the_hook_too(big_repo: Path) -> None:
    run_git("switch", "-q", "main", cwd=big_repo)
    digest = sha256_file(big_repo / "big.bin")
    (big_repo / "big.bin").unlink()
    run_git("checkout", "--", "big.bin", cwd=big_repo)
    assert sha256_file(big_repo / "big.bin") == digest
    assert git_out("status", "--porcelain", cwd=big_repo) == ""


@pytest.mark.parametrize("command", [["reset", "-q", "--hard", "main"], ["stash", "pop", "-q"]])
def test_commands_without_post_checkout_smudge_normally(big_repo: Path, command: list[str]) -> None:
    run_git("switch", "-q", "main", cwd=big_repo)
    digest = sha256_file(big_repo / "big.bin")
    if command[0] == "stash":
        (big_repo / "big.bin").write_bytes(b"edited")
        run_git("stash", "-q", cwd=big_repo)
        (big_repo / "big.bin").write_bytes(b"other")
        run_git("checkout", "-q", "--", "big.bin", cwd=big_repo)
        run_git("stash", "pop", "-q", cwd=big_repo)
        assert (big_repo / "big.bin").read_bytes() == b"edited"
        return
    (big_repo / "big.bin").unlink()
    run_git(*command, cwd=big_repo)
    assert sha256_file(big_repo / "big.bin") == digest
    assert git_out("status", "--porcelain", cwd=big_repo) == ""


def test_without_the_hook_git_smudges(big_repo: Path) -> None:
    (big_repo / ".git" / "hooks" / "post-checkout").unlink()
    run_git("switch", "-q", "main", cwd=big_repo)
    assert (big_repo / "big.bin").stat().st_size == SIZE
    assert git_out("status", "--porcelain", cwd=big_repo) == ""


def test_threshold_zero_disables(big_repo: Path) -> None:
    run_git("config", "model.directCheckoutThreshold", "0", cwd=big_repo)
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    proc = run_git("switch", "-q", "main", cwd=big_repo, env=env)
    assert b"direct checkout on" not in proc.stderr
    assert (big_repo / "big.bin").stat().st_size == SIZE


def test_corrupt_object_leaves_pointer_and_fails_hook(big_repo: Path) -> None:
    store = repo_store(big_repo)
    big = next(oid for oid in store.oids() if store.object_path(oid).exists())
    with open(store.object_path(big), "r+b") as f:
        f.write(b"\xff" * 16)
    proc = run_git("switch", "-q", "main", cwd=big_repo, check=False)
    assert proc.returncode != 0
    assert big.encode() in proc.stderr
    assert try_parse((big_repo / "big.bin").read_bytes()) is not None
    assert (big_repo / ".git" / "model" / "bad" / big).exists()
    # the worktree is still consistent with the index: nothing half-written
    assert git_out("status", "--porcelain", cwd=big_repo) == ""
    assert [p for p in big_repo.iterdir() if p.name.endswith(".tmp")] == []


def test_index_held_by_another_process_is_still_correct(big_repo: Path) -> None:
    # a stale pending record for a file that no longer holds the pointer is ignored
    pending = big_repo / ".git" / materialize.PENDING_FILE
    pending.write_bytes(b"%s %d big.bin\0" % (b"a" * 64, SIZE))
    (big_repo / "big.bin").write_bytes(b"user data")
    git_model("hook", "post-checkout", "x", "y", "1", cwd=big_repo)
    assert (big_repo / "big.bin").read_bytes() == b"user data"
    assert not pending.exists()


def test_clone_materializes_large_files(big_repo: Path, tmp_path: Path) -> None:
    git_model("install", cwd=tmp_path)
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    proc = run_git("clone", "-q", "-b", "main", str(big_repo), str(clone), cwd=tmp_path, env=env)
    assert b"direct checkout on" in proc.stderr
    assert (clone / "big.bin").stat().st_size == SIZE
    assert cleans_of(clone, "big.bin", "status", "--porcelain") == 0
    assert git_out("status", "--porcelain", cwd=clone) == ""


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_index_versions(big_repo: Path, version: str) -> None:
    run_git("update-index", "--index-version", version, cwd=big_repo)
    (big_repo / "intent.txt").write_text("planned")
    run_git("add", "-N", "intent.txt", cwd=big_repo)  # an extended-flags entry keeps v3 as v3
    run_git("switch", "-q", "main", cwd=big_repo)
    data = (big_repo / ".git" / "index").read_bytes()
    assert int.from_bytes(data[4:8], "big") == max(int(version), 3)  # i-t-a needs v3+
    assert cleans_of(big_repo, "big.bin", "status", "--porcelain") == 0
    run_git("fsck", "--no-dangling", cwd=big_repo)


def test_git_subcommand_parsing() -> None:
    parse = materialize.git_subcommand
    assert parse(["git", "checkout", "main"]) == "checkout"
    assert parse(["/usr/bin/git", "-c", "a=b", "-C", "dir", "--no-pager", "switch"]) == "switch"
    assert parse(["git", "--git-dir", "x", "clone", "u"]) == "clone"
    assert parse(["git"]) is None
    assert parse(["python", "checkout"]) is None


def test_index_entries_parse(big_repo: Path) -> None:
    run_git("switch", "-q", "main", cwd=big_repo)
    data = (big_repo / ".git" / "index").read_bytes()
    entries = index_file.parse_entries(data, 20)
    assert set(entries) == {b".gitattributes", b"big.bin", b"small.bin"}
    ls = git_out("ls-files", "-s", "big.bin", cwd=big_repo).split()
    assert entries[b"big.bin"].oid.hex() == ls[1]
    same = index_file.patch_stats(data, {}, 20)
    assert same == data
    with pytest.raises(index_file.IndexFormatError):
        index_file.parse_entries(data[:-1] + bytes([data[-1] ^ 1]), 20)


def test_split_index_is_left_to_git(big_repo: Path) -> None:
    run_git("update-index", "--split-index", cwd=big_repo)
    run_git("switch", "-q", "main", cwd=big_repo)
    assert (big_repo / "big.bin").stat().st_size == SIZE
    assert git_out("status", "--porcelain", cwd=big_repo) == ""


def test_hook_chains_to_existing_hook(tmp_path: Path) -> None:
    path = tmp_path / "r"
    path.mkdir()
    run_git("init", "-q", cwd=path)
    hook = path / ".git" / "hooks" / "post-checkout"
    hook.parent.mkdir(parents=True, exist_ok=True)
    marker = tmp_path / "ran"
    hook.write_text(f'#!/bin/sh\necho "$@" > {marker}\n')
    hook.chmod(0o755)
    git_model("install", "--local", cwd=path)
    assert (path / ".git" / "hooks" / "post-checkout.gitmodel-legacy").exists()
    (path / "f").write_text("x")
    run_git("add", "f", cwd=path)
    run_git("commit", "-qm", "f", cwd=path)
    run_git("checkout", "-q", "-b", "other", cwd=path)
    assert marker.read_text().split()[2] == "1"
    subprocess.run(["true"], check=True)


def test_pull_records_files_a_killed_checkout_wrote_but_did_not_record(big_repo: Path) -> None:
    run_git("switch", "-q", "main", cwd=big_repo)
    content = (big_repo / "big.bin").read_bytes()
    small = (big_repo / "small.bin").read_bytes()
    run_git("switch", "-q", "empty", cwd=big_repo)
    # pointers checked out, their index entries recording the pointers' size ...
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("switch", "-q", "main", cwd=big_repo, env=env)
    assert try_parse((big_repo / "big.bin").read_bytes()) is not None
    # ... then the whole file written, and the hook killed before it updated the index
    (big_repo / "big.bin").write_bytes(content)
    # a file the user changed to other bytes of the object's size stays changed
    (big_repo / "small.bin").write_bytes(os.urandom(len(small)))
    assert git_out("status", "--porcelain", cwd=big_repo).split() == ["M", "big.bin", "M",
                                                                      "small.bin"]  # fmt: skip
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    proc = git_model("pull", cwd=big_repo, env=env)
    assert b"big.bin is already its object: recording its stat data" in proc.stderr
    assert (big_repo / "big.bin").read_bytes() == content
    assert git_out("status", "--porcelain", cwd=big_repo).split() == ["M", "small.bin"]
    assert cleans_of(big_repo, "big.bin", "status", "--porcelain") == 0
