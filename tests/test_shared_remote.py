"""Sharing the model remote: `git model remote set --shared` writes and stages .gitmodel,
so a teammate's clone finds the objects; without it, a missing object says why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git
from hygiene_support import commit_file, make_author

ELSEWHERE = "the store these objects were pushed to is probably"


def clone(origin: Path, where: Path, env: dict[str, str] | None = None) -> tuple[Path, bytes]:
    """A teammate's clone (gitmodel installed for the user); returns it and git's stderr."""
    git_model("install", cwd=where.parent)
    proc = run_git("clone", str(origin), str(where), cwd=where.parent, check=False, env=env)
    return where, proc.stderr


def test_a_shared_remote_reaches_a_teammates_clone(tmp_path: Path) -> None:
    origin, author = make_author(tmp_path)
    store = f"file://{tmp_path / 'bucket'}"
    git_model("remote", "set", store, cwd=author)  # the author's own config only
    data = commit_file(author, "a.bin")
    run_git("push", "-q", "origin", "main", cwd=author)

    first, stderr = clone(origin, tmp_path / "first")
    stderr = b" ".join(stderr.split())
    assert b"does not have object" in stderr, stderr  # looked in origin's own store…
    assert b"that setting is probably not shared" in stderr  # …and says why it is not there
    assert b"git model remote set --shared URL" in stderr

    out = git_model("remote", "set", "--shared", store, cwd=author).stdout.decode()
    assert "shared in .gitmodel, staged" in out
    assert git_out("diff", "--cached", "--name-only", cwd=author).split() == [".gitmodel"]
    assert git_out("config", "-f", ".gitmodel", "--list", cwd=author).strip() == (
        f"remote.origin.modelurl={store}"
    )
    run_git("commit", "-qm", "share the model store", cwd=author)
    run_git("push", "-q", "origin", "main", cwd=author)

    second, stderr = clone(origin, tmp_path / "second")
    assert (second / "a.bin").read_bytes() == data, stderr
    run_git("pull", "-q", cwd=first)  # the first clone gets .gitmodel, then the objects
    run_git("restore", "--source=HEAD", ":/", cwd=first)  # as Git says after a failed checkout
    assert (first / "a.bin").read_bytes() == data


def test_with_no_model_remote_known_the_hint_says_how_to_share(tmp_path: Path) -> None:
    origin, author = make_author(tmp_path)
    commit_file(author, "a.bin")
    run_git("push", "-q", "origin", "main", cwd=author)
    lazy = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    mate, _ = clone(origin, tmp_path / "mate", lazy)  # pointers only
    # a URL with no store of its own (https and ssh ones have their LFS host)
    run_git("remote", "set-url", "origin", "git://git.example.invalid/models.git", cwd=mate)
    (mate / "a.bin").unlink()
    proc = run_git("checkout", "--", "a.bin", cwd=mate, check=False)
    assert proc.returncode != 0
    stderr = b" ".join(proc.stderr.split())
    assert b"is not in the local store for a.bin" in stderr
    assert b"no model remote is known here" in stderr and ELSEWHERE.encode() in stderr
    assert b"git model remote set --shared URL" in stderr
    proc = git_model("pull", cwd=mate, check=False)
    assert proc.returncode == 1 and b"their setting is probably not shared" in proc.stderr


def test_shared_settings_are_only_what_a_clone_accepts(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    for url, why in [("memory://scratch", "memory:// holds objects only until the command ends"),
                     ("file://relative/dir", "must name an absolute path")]:  # fmt: skip
        proc = git_model("remote", "set", "--shared", url, cwd=author, check=False)
        assert proc.returncode == 1 and why.encode() in proc.stderr, proc.stderr
        assert not (author / ".gitmodel").exists()
    run_git("config", "remote.origin.modelendpoint", "https://minio.example.com:9000", cwd=author)
    run_git("config", "remote.origin.modelregion", "eu-west-1", cwd=author)
    run_git("config", "remote.origin.modelprofile", "mine", cwd=author)  # never shared
    store = f"file://{tmp_path / 'bucket'}"
    out = git_model("remote", "set", "--shared", store, cwd=author).stdout.decode()
    assert "(with modelendpoint, modelregion)" in out
    shared = git_out("config", "-f", ".gitmodel", "--list", cwd=author).split()
    assert sorted(shared) == [
        "remote.origin.modelendpoint=https://minio.example.com:9000",
        "remote.origin.modelregion=eu-west-1", f"remote.origin.modelurl={store}"]  # fmt: skip


def test_a_bare_repository_cannot_share(tmp_path: Path) -> None:
    origin, _ = make_author(tmp_path)
    run_git("remote", "add", "origin", str(origin), cwd=origin)
    proc = git_model("remote", "set", "--shared", f"file://{tmp_path}/b", cwd=origin, check=False)
    assert proc.returncode == 1 and b"bare repository" in proc.stderr


@pytest.mark.parametrize("subdir", [False, True])
def test_shared_from_a_subdirectory_writes_the_top(tmp_path: Path, subdir: bool) -> None:
    _, author = make_author(tmp_path)
    where = author / "sub" if subdir else author
    where.mkdir(exist_ok=True)
    git_model("remote", "set", "--shared", f"file://{tmp_path}/bucket", cwd=where)
    assert (author / ".gitmodel").is_file() and not (author / "sub" / ".gitmodel").exists()


def test_a_committed_gitmodel_symlink_is_never_written_through(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    outside = tmp_path / "outside.gitconfig"  # a user's file, out of the worktree
    outside.write_text("[user]\n\tname = me\n")
    (author / ".gitmodel").symlink_to(outside)
    run_git("add", ".gitmodel", cwd=author)
    run_git("commit", "-qm", "a link, as a hostile repository commits it", cwd=author)
    proc = git_model("remote", "set", "--shared", f"file://{tmp_path}/bucket", cwd=author,
                     check=False)  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 1 and ".gitmodel is a symbolic link" in err and "hint:" in err, err
    assert "Traceback" not in err
    assert outside.read_text() == "[user]\n\tname = me\n"
    assert (author / ".gitmodel").is_symlink()


def test_a_committed_gitmodel_symlink_is_not_read(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    outside = tmp_path / "outside.gitconfig"
    outside.write_text(f'[remote "origin"]\n\tmodelurl = file://{tmp_path}/elsewhere\n')
    (author / ".gitmodel").symlink_to(outside)
    out = git_model("remote", cwd=author).stdout.decode()
    assert "elsewhere" not in out, out
