"""A ``git clone`` killed during its checkout leaves Git's ``index.lock`` and no index, so
every file shows as deleted and no model object is here: the commands that say so also
say that an interrupted Git command left that lock, and how to recover. A clone whose
checkout failed (no key for an encrypted remote) leaves no index either."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git, sha256_file

FILES = {f"m{i}.bin": os.urandom(3000 + i) for i in range(4)}


def pushed_origin(repo: Path, tmp_path: Path, env: dict[str, str] | None = None) -> Path:
    """A bare origin in ``tmp_path`` that ``repo`` pushed :data:`FILES` to (with ``env``),
    and gitmodel installed in the user's global config, as the clones' filter."""
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    for name, data in FILES.items():
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "models", cwd=repo)
    run_git("push", "-q", str(origin), "HEAD:refs/heads/main", cwd=repo, env=env)
    git_model("install", cwd=tmp_path)
    return origin


def killed_clone(repo: Path, tmp_path: Path, until: str = ".git/index.lock") -> Path:
    """A clone of ``repo`` killed (SIGKILL, as by the OOM killer or a closed terminal)
    once ``until`` exists in it (by default, once its checkout has taken the index lock);
    its objects come slowly from the model remote, so none is fetched by then."""
    origin = pushed_origin(repo, tmp_path)
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_MODEL_TEST_FAULTS": "delay=0.5"}
    proc = subprocess.Popen(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path,
                            env=env, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (clone / until).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (clone / until).exists()
    return clone


def test_a_clone_killed_midway_says_an_interrupted_command_left_the_lock(
    repo: Path, tmp_path: Path
) -> None:
    clone = killed_clone(repo, tmp_path)
    lock = clone / ".git" / "index.lock"
    assert not (clone / ".git" / "index").exists()
    assert "D  m0.bin" in git_out("status", "--porcelain", cwd=clone)

    fsck = git_model("fsck", cwd=clone, check=False)
    out = (fsck.stdout + fsck.stderr).decode()
    assert fsck.returncode == 1 and "is missing from the local store" in out, out
    for said in (f"{lock} exists", "interrupted", "git checkout -f HEAD", "git model pull"):
        assert said in out, out
    status = git_model("status", cwd=clone)
    assert "interrupted" in status.stderr.decode() and "git checkout -f HEAD" in (
        status.stderr.decode())  # fmt: skip
    pull = git_model("pull", cwd=clone, check=False)  # it writes nothing: no index to go by
    err = pull.stderr.decode()
    assert pull.returncode == 1 and "interrupted" in err and f"{lock} exists" in err, err

    lock.unlink()  # as the hint says
    run_git("checkout", "-f", "HEAD", cwd=clone)
    git_model("pull", cwd=clone)
    for name, data in FILES.items():
        assert (clone / name).read_bytes() == data, name
    assert git_out("status", "--porcelain", cwd=clone) == ""
    assert git_model("fsck", cwd=clone).stdout.decode().endswith("fsck: ok\n")


@pytest.mark.parametrize("until", [".git/index.lock", ".git/index"])
def test_following_the_hint_after_a_kill_in_a_direct_checkout_writes_every_file(
    repo: Path, tmp_path: Path, until: str
) -> None:
    """Files at the direct checkout's threshold, the clone killed in Git's checkout (its
    lock left, no index) or once Git is done, in the post-checkout hook that writes them
    (every file still its pointer): the hint `status` prints for either leads to every
    file whole, nothing else left in the worktree, and fsck sound."""
    run_git("config", "--global", "model.directCheckoutThreshold", "1k", cwd=tmp_path)
    clone = killed_clone(repo, tmp_path, until=until)
    status = git_model("status", cwd=clone)
    said = (status.stdout + status.stderr).decode()
    if until.endswith(".lock"):
        assert "remove that file, then run `git checkout -f HEAD` and `git model pull`" in said
        (clone / until).unlink()
        run_git("checkout", "-f", "HEAD", cwd=clone)
    else:
        assert "checked out as their pointers (`git model pull` writes them)" in said, said
    git_model("pull", cwd=clone)
    for name, data in FILES.items():
        assert (clone / name).read_bytes() == data, name
    assert git_out("status", "--porcelain", "--ignored", cwd=clone) == ""
    assert git_model("fsck", cwd=clone).stdout.decode().endswith("fsck: ok\n")
    assert git_model("status", cwd=clone).stderr == b""


def test_a_lock_left_beside_an_index_is_named_by_pull(repo: Path) -> None:
    (repo / "a.bin").write_bytes(os.urandom(2000))
    run_git("add", "a.bin", cwd=repo)
    run_git("commit", "-qm", "a", cwd=repo)
    oid = sha256_file(repo / "a.bin")
    (repo / "a.bin").write_bytes(run_git("cat-file", "blob", "HEAD:a.bin", cwd=repo).stdout)
    run_git("add", "a.bin", cwd=repo)
    lock = repo / ".git" / "index.lock"
    lock.touch()  # left by a git command killed mid-way
    proc = git_model("pull", cwd=repo, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "interrupted" in err and "git model pull" in err, err
    assert "git checkout -f HEAD" not in err, err  # the index is whole: nothing to discard
    lock.unlink()
    git_model("pull", cwd=repo)
    assert sha256_file(repo / "a.bin") == oid


def test_a_clone_whose_checkout_failed_says_how_to_write_the_files(
    repo: Path, tmp_path: Path
) -> None:
    key = {**os.environ, "GIT_MODEL_ENCRYPTION_KEY": "ab" * 32}
    origin = pushed_origin(repo, tmp_path, env=key)
    clone = tmp_path / "clone"
    failed = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, check=False)
    assert b"is encrypted and no key is set" in failed.stderr  # Git keeps the clone
    assert not (clone / ".git" / "index").exists()

    pull = git_model("pull", cwd=clone, check=False, env=key)  # the key set, as one would
    err = pull.stderr.decode()
    assert pull.returncode == 1 and "no index" in err and "git checkout -f HEAD" in err, err
    assert "index.lock" not in err, err
    status = git_model("status", cwd=clone).stderr.decode()
    assert "no index" in status and "git checkout -f HEAD" in status, status
    fsck = git_model("fsck", cwd=clone, check=False)  # its objects missing: and why
    err = fsck.stderr.decode()
    assert fsck.returncode == 1 and "no index" in err and "git checkout -f HEAD" in err, err
    run_git("checkout", "-f", "HEAD", cwd=clone, env=key)  # as the hint says
    git_model("pull", cwd=clone, env=key)
    for name, data in FILES.items():
        assert (clone / name).read_bytes() == data, name
    assert git_out("status", "--porcelain", cwd=clone) == ""
    assert git_model("status", cwd=clone).stderr == b""


def test_status_without_an_index_or_gitattributes_lists_heads_model_files(
    repo: Path, tmp_path: Path
) -> None:
    """A clone killed before its checkout wrote anything (here: one made with
    ``--no-checkout``, the same state) has no index and no ``.gitattributes``: every
    model file of HEAD is deleted, and ``status`` says so, as HEAD's attributes track
    them, where it used to list no model file at all."""
    origin = pushed_origin(repo, tmp_path)
    clone = tmp_path / "clone"
    run_git("clone", "-q", "--no-checkout", str(origin), str(clone), cwd=tmp_path)
    assert not (clone / ".gitattributes").exists() and not (clone / ".git" / "index").exists()
    (clone / "m0.bin").write_bytes(FILES["m0.bin"])  # one file a checkout did write

    report = json.loads(git_model("status", "--json", cwd=clone).stdout)
    assert [c["path"] for c in report["staged"]] == sorted(FILES)
    assert all(c["new"] is None and c["old"]["size"] == len(FILES[c["path"]])
               for c in report["staged"])  # fmt: skip
    assert report["untracked"] == ["m0.bin"]
    status = git_model("status", cwd=clone)
    for name in FILES:
        assert f"\t{name} " in status.stdout.decode(), status.stdout
    assert "no index" in status.stderr.decode()


def test_ls_files_without_an_index_says_why_it_lists_nothing(repo: Path, tmp_path: Path) -> None:
    """The index of a worktree with no index holds nothing: ``ls-files`` lists no file,
    and says why and what writes them, instead of an empty list that looks like a
    repository without model files; ``ls-files HEAD`` still lists the commit's."""
    origin = pushed_origin(repo, tmp_path)
    clone = tmp_path / "clone"
    run_git("clone", "-q", "--no-checkout", str(origin), str(clone), cwd=tmp_path)
    proc = git_model("ls-files", cwd=clone)
    assert proc.stdout == b"" and "no index" in proc.stderr.decode(), proc.stderr
    assert "git checkout -f HEAD" in proc.stderr.decode(), proc.stderr
    head = git_model("ls-files", "HEAD", cwd=clone)
    assert len(head.stdout.splitlines()) == len(FILES) and head.stderr == b""
