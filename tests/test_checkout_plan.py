"""The checkout plan: a checkout of a whole commit into a worktree without an index
fetches its small objects in bulk as it begins; every other checkout fetches only what
it writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import git_out, run_git, store_oids
from test_remotes import assert_version, author, new_user, origin

from gitmodel import materialize
from gitmodel.pointer import Pointer

__all__ = ["author", "origin"]  # fixtures shared with test_remotes

FILES = {f"{folder}/{n}.bin": os.urandom(2000 + n) for folder in "ab" for n in range(2)}


def oid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pointer_text(data: bytes) -> bytes:
    return Pointer(oid(data), len(data)).encode()


def publish(repo: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "files", cwd=repo)
    run_git("push", "-q", "origin", "main", cwd=repo)


def assert_fetched(clone: Path, files: dict[str, bytes]) -> None:
    """The clone's store holds the objects of ``files``, and no other."""
    assert set(store_oids(clone)) == {oid(data) for data in files.values()}


def no_checkout_clone(origin: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    clone = tmp_path / "clone"
    run_git("clone", "-q", "--no-checkout", str(origin), str(clone), cwd=tmp_path, env=env)
    return clone


def test_a_sparse_checkout_after_a_clone_fetches_only_its_paths(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    publish(author, FILES)
    env = new_user(tmp_path, "b")
    clone = no_checkout_clone(origin, tmp_path, env)
    run_git("sparse-checkout", "set", "a", cwd=clone, env=env)
    run_git("checkout", "-q", "main", cwd=clone, env=env)
    in_a = {name: data for name, data in FILES.items() if name.startswith("a/")}
    assert_version(clone, in_a)
    assert not (clone / "b").exists()
    assert_fetched(clone, in_a)


def test_a_new_branch_checked_out_after_a_clone(author: Path, origin: Path,
                                                tmp_path: Path) -> None:  # fmt: skip
    publish(author, FILES)
    env = new_user(tmp_path, "b")
    clone = no_checkout_clone(origin, tmp_path, env)
    run_git("checkout", "-q", "-b", "topic", "origin/main", cwd=clone, env=env)
    assert_version(clone, FILES)
    assert_fetched(clone, FILES)


@pytest.mark.parametrize(
    ("command", "folder"),
    [(("checkout", "main", "--"), "a"), (("checkout", "main", "--"), "b"),
     (("restore", "--source=main", "--"), "a")],
)  # fmt: skip
def test_paths_checked_out_of_a_commit_after_a_clone_fetch_only_theirs(
    author: Path, origin: Path, tmp_path: Path, command: tuple[str, ...], folder: str
) -> None:
    """``git checkout main -- .gitattributes a`` sends the keys of a checkout of the
    whole commit, with no index yet, yet writes only a's files: b's are not fetched,
    nor a's when b's are checked out."""
    publish(author, FILES)
    env = new_user(tmp_path, "b")
    clone = no_checkout_clone(origin, tmp_path, env)
    run_git(*command, ".gitattributes", folder, cwd=clone, env=env)
    written = {name: data for name, data in FILES.items() if name.startswith(f"{folder}/")}
    for name, data in written.items():
        assert (clone / name).read_bytes() == data, name
    assert_fetched(clone, written)


def test_pointer_files_without_the_filter_are_not_fetched(author: Path, origin: Path,
                                                          tmp_path: Path) -> None:  # fmt: skip
    """Files a subfolder's ``.gitattributes`` gives the filter are fetched; pointer
    files that have no filter (or unset it) are plain text, their objects left alone."""
    old = {"old/x.bin": os.urandom(3000), "old/y.bin": os.urandom(3001)}
    publish(author, old)  # their objects are on the remote
    run_git("rm", "-rq", "old", cwd=author)
    (author / "sub").mkdir()
    (author / "sub" / ".gitattributes").write_text(
        "*.dat filter=model diff=model merge=model -text\n"
    )
    (author / "plain").mkdir()
    (author / "plain" / ".gitattributes").write_text("*.bin -filter -diff -merge text\n")
    files = {"sub/w.dat": os.urandom(2500), "sub/z.txt": b"text\n", "a/0.bin": os.urandom(2600)}
    plain = {
        "notes/x.txt": pointer_text(old["old/x.bin"]),
        "plain/y.bin": pointer_text(old["old/y.bin"]),
    }
    publish(author, {**files, **plain})
    env = new_user(tmp_path, "b")
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    assert_version(clone, {**files, **plain})
    assert_fetched(clone, {"sub/w.dat": files["sub/w.dat"], "a/0.bin": files["a/0.bin"]})


def test_files_of_two_filters_on_one_remote(author: Path, origin: Path, tmp_path: Path) -> None:
    """``filter=lfs`` (served by gitmodel, git-lfs not set up) and ``filter=model`` in one
    commit: each filter's process plans its own files, and all are checked out."""
    assert git_out("config", "filter.lfs.process", cwd=author).strip() == "git-model filter-process"
    (author / "lfs").mkdir()
    (author / "lfs" / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    publish(author, FILES | {"lfs/0.bin": os.urandom(2700), "lfs/1.bin": os.urandom(2800)})
    files = {name: (author / name).read_bytes() for name in [*FILES, "lfs/0.bin", "lfs/1.bin"]}
    env = new_user(tmp_path, "b")
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    assert_version(clone, files)
    assert_fetched(clone, files)
    worktree = tmp_path / "worktree"
    run_git("worktree", "add", "-q", str(worktree), "HEAD~0", cwd=clone, env=env)
    assert_version(worktree, files)


def test_an_object_the_remote_lacks_fails_that_file_only(author: Path, origin: Path,
                                                         tmp_path: Path) -> None:  # fmt: skip
    publish(author, FILES)
    lost = oid(FILES["b/1.bin"])
    manifests = list((origin / "model" / "remote").rglob(lost))
    assert manifests
    for path in manifests:
        path.unlink()
    env = new_user(tmp_path, "b")
    clone = tmp_path / "clone"
    proc = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode != 0 and "b/1.bin" in stderr and lost in stderr, stderr
    assert "Traceback" not in stderr, stderr
    for name, data in FILES.items():
        if name != "b/1.bin":
            assert (clone / name).read_bytes() == data, name
    assert_fetched(clone, {name: data for name, data in FILES.items() if name != "b/1.bin"})


def test_a_submodule_of_model_files_is_cloned_with_its_superproject(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    publish(author, FILES)
    allow = ("-c", "protocol.file.allow=always")
    superproject = tmp_path / "super"
    run_git("init", "-q", str(superproject), cwd=tmp_path)
    run_git(*allow, "submodule", "add", "-q", str(origin), "models", cwd=superproject)
    run_git("commit", "-qm", "models", cwd=superproject)
    env = new_user(tmp_path, "b")
    clone = tmp_path / "clone"
    run_git(*allow, "clone", "-q", "--recurse-submodules", str(superproject), str(clone),
            cwd=tmp_path, env=env)  # fmt: skip
    sub = clone / "models"
    assert_version(sub, FILES)
    assert git_out("status", "--porcelain", cwd=clone) == ""
    assert_fetched(sub, FILES)


@pytest.mark.parametrize(
    ("argv", "some_paths"),
    [
        (["git", "checkout", "main", "--", "a"], True),
        (["git", "-C", "x", "checkout", "main", "--", "a"], True),
        (["git", "restore", "a"], True),
        (["git", "checkout", "--pathspec-from-file=list", "main"], True),
        (["git", "checkout", "main", "--"], False),
        (["git", "checkout", "-b", "topic", "origin/main"], False),
        (["git", "clone", "x"], False),
        (["git", "reset", "--hard"], False),
    ],
)
def test_which_command_lines_check_out_some_paths(argv: list[str], some_paths: bool) -> None:
    assert materialize.checks_out_paths(argv) is some_paths
