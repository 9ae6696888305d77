"""A few thousand model files through real Git: add, commit, status, push, clone, and the
commands that list or check them all (``status``, ``ls-files``, ``fsck``, ``prune``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import git_model, git_out, run_git, sha256_file, store_oids

COUNT = 3000
PER_FOLDER = 500


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    """COUNT files of a few KB in folders of PER_FOLDER, a handful of them alike."""
    made = {f"data/d{i // PER_FOLDER}/f{i:05d}.bin": os.urandom(1000 + i % 3000)
            for i in range(COUNT)}  # fmt: skip
    made["data/copy.bin"] = made["data/d0/f00000.bin"]  # one object for two paths
    return made


def write(repo: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def model_status(repo: Path) -> dict[str, list[object]]:
    return json.loads(git_model("status", "--json", cwd=repo).stdout)  # type: ignore[no-any-return]


def test_many_files_round_trip(repo: Path, tmp_path: Path, files: dict[str, bytes]) -> None:
    write(repo, files)
    assert len(model_status(repo)["untracked"]) == len(files)
    run_git("add", "data", cwd=repo)
    staged = model_status(repo)["staged"]
    assert len(staged) == len(files)
    assert all(change["old"] is None and change["new"] for change in staged)  # type: ignore[index]
    run_git("commit", "-qm", "many files", cwd=repo)

    assert git_out("status", "--porcelain", cwd=repo) == ""
    status = model_status(repo)
    assert status["staged"] == status["modified"] == status["untracked"] == []
    assert len(status["unpushed"]) == COUNT  # the copy is the same object
    listed = json.loads(git_model("ls-files", "--json", cwd=repo).stdout)["files"]
    assert {f["path"] for f in listed} == set(files)
    assert all(f["present"] for f in listed)
    assert len(store_oids(repo)) == COUNT
    git_model("fsck", cwd=repo)

    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    run_git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=repo)
    run_git("fetch", "-q", "origin", cwd=repo)
    assert model_status(repo)["unpushed"] == []
    assert "nothing to delete" in git_model("prune", "--dry-run", cwd=repo).stdout.decode()

    git_model("install", cwd=tmp_path)
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert git_out("status", "--porcelain", cwd=clone) == ""
    assert len(store_oids(clone)) == COUNT
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    git_model("fsck", cwd=clone)


def test_a_change_among_many(repo: Path, tmp_path: Path, files: dict[str, bytes]) -> None:
    """One file changed among thousands is the one that status shows, commit stores and
    a push sends."""
    write(repo, files)
    run_git("add", "data", cwd=repo)
    run_git("commit", "-qm", "many files", cwd=repo)
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    run_git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=repo)

    changed = "data/d3/f01700.bin"
    (repo / changed).write_bytes(b"changed\n" * 100)
    assert git_out("status", "--porcelain", cwd=repo) == f" M {changed}\n"
    assert model_status(repo)["modified"] == [changed]
    run_git("commit", "-qam", "one change", cwd=repo)
    push = run_git("push", "origin", "HEAD:refs/heads/main", cwd=repo)
    assert "uploaded 1 object(s)" in push.stderr.decode()

    git_model("install", cwd=tmp_path)
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert sha256_file(clone / changed) == sha256_file(repo / changed)
    assert git_out("status", "--porcelain", cwd=clone) == ""
