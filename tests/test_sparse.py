"""A sparse checkout and ``git model pull --include`` fetch only the files checked out."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from gitmodel.pointer import try_parse
from tests.conftest import git_model, git_out, run_git, store_oids

FILES = {f"{folder}/{n}.bin": os.urandom(3000 + n) for folder in "ab" for n in range(3)}


def oid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def origin(repo: Path, tmp_path: Path) -> Path:
    """A bare repository holding FILES in a/ and b/, their objects in its model store."""
    path = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(path), cwd=tmp_path)
    for name, data in FILES.items():
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_bytes(data)
    run_git("add", "a", "b", cwd=repo)
    run_git("commit", "-qm", "files", cwd=repo)
    run_git("push", "-q", str(path), "HEAD:refs/heads/main", cwd=repo)
    git_model("install", cwd=tmp_path)
    return path


def held(clone: Path) -> set[str]:
    """The files whose objects the clone's store holds."""
    oids = set(store_oids(clone))
    return {name for name, data in FILES.items() if oid(data) in oids}


def assert_content(clone: Path, names: set[str]) -> None:
    """``names`` hold their content; every other file is a pointer or absent."""
    for name, data in FILES.items():
        path = clone / name
        if name in names:
            assert path.read_bytes() == data, name
        elif path.exists():
            assert try_parse(path.read_bytes()) is not None, name


def test_sparse_checkout_fetches_only_its_paths(origin: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    run_git("clone", "-q", "--no-checkout", str(origin), str(clone), cwd=tmp_path)
    run_git("sparse-checkout", "set", "a", cwd=clone)
    run_git("checkout", "-q", "main", cwd=clone)
    in_a = {name for name in FILES if name.startswith("a/")}
    assert held(clone) == in_a
    assert not (clone / "b").exists()

    git_model("fetch", cwd=clone)
    git_model("pull", cwd=clone)
    assert held(clone) == in_a
    assert not (clone / "b").exists()
    assert_content(clone, in_a)

    run_git("sparse-checkout", "add", "b", cwd=clone)
    assert held(clone) == set(FILES)
    assert_content(clone, set(FILES))
    assert git_out("status", "--porcelain", cwd=clone) == ""


def test_explicit_refs_fetch_everything(origin: Path, tmp_path: Path) -> None:
    """Naming a revision asks for all of its files, checked out or not."""
    clone = tmp_path / "clone"
    run_git("clone", "-q", "--no-checkout", str(origin), str(clone), cwd=tmp_path)
    run_git("sparse-checkout", "set", "a", cwd=clone)
    run_git("checkout", "-q", "main", cwd=clone)
    git_model("fetch", "origin", "main", cwd=clone)
    assert held(clone) == set(FILES)
    assert not (clone / "b").exists()


def test_an_include_of_files_the_sparse_checkout_leaves_out_says_so(
    origin: Path, tmp_path: Path
) -> None:
    """``fetch -I b`` in a sparse checkout of ``a`` matches no file it fetches, yet
    ``ls-files`` lists b's files: the error says the sparse checkout leaves them out and
    gives both ways to have them, instead of pointing at ``ls-files``."""
    clone = tmp_path / "clone"
    run_git("clone", "-q", "--no-checkout", str(origin), str(clone), cwd=tmp_path)
    run_git("sparse-checkout", "set", "a", cwd=clone)
    run_git("checkout", "-q", "main", cwd=clone)
    for verb in ("fetch", "pull"):
        proc = git_model(verb, "-I", "b/*", cwd=clone, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "matches no model file the sparse checkout" in err, err
        assert "hint: it matches 3 file(s) the sparse checkout leaves out" in err, err
        assert "`git model fetch origin HEAD -I 'b/*'` fetches them" in err, err
        assert "ls-files" not in err, err
    assert held(clone) == {name for name in FILES if name.startswith("a/")}
    git_model("fetch", "origin", "HEAD", "-I", "b/*", cwd=clone)  # as the hint says
    assert held(clone) == set(FILES)
    proc = git_model("fetch", "-I", "b/[0\x1b]*", cwd=clone, check=False)  # shown escaped
    err = proc.stderr.decode()
    assert "\x1b" not in err and "-I 'b/[0\\x1b]*'` fetches them" in err, err
    proc = git_model("fetch", "-I", "c/*", cwd=clone, check=False)  # nowhere: as before
    assert proc.returncode == 1 and "`git model ls-files` lists them" in proc.stderr.decode()


def test_pull_include_fetches_only_what_it_names(origin: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    assert held(clone) == set()
    git_model("pull", "--include", "b/1.bin", "--include", "a/*", "--exclude", "a/2.bin",
              cwd=clone)  # fmt: skip
    wanted = {"a/0.bin", "a/1.bin", "b/1.bin"}
    assert held(clone) == wanted
    assert_content(clone, wanted)
    assert git_out("status", "--porcelain", cwd=clone) == ""


def test_fsck_counts_only_the_files_a_sparse_checkout_writes(origin: Path, tmp_path: Path) -> None:
    """Objects of paths the sparse checkout leaves out were never meant to be fetched:
    not missing for ``fsck`` of HEAD and the index; a REF asks for all of its files."""
    clone = tmp_path / "clone"
    run_git("clone", "-q", "--no-checkout", str(origin), str(clone), cwd=tmp_path)
    run_git("sparse-checkout", "set", "a", cwd=clone)
    run_git("checkout", "-q", "main", cwd=clone)
    proc = git_model("fsck", cwd=clone, check=False)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0 and out == "fsck: ok\n", out + err
    assert "3 object(s) of files outside the sparse checkout are not fetched" in err, err
    proc = git_model("fsck", "main", cwd=clone, check=False)
    assert proc.returncode == 1 and proc.stdout.decode().count("is missing") == 3
    (clone / ".git" / "model" / "packs").rename(tmp_path / "packs")  # a/'s objects gone
    proc = git_model("fsck", cwd=clone, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1 and out.count("is missing") == 3 and "(a/" in out, out
    assert "(b/" not in out, out
