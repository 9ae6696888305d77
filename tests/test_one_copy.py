"""One copy on disk (``model.worktreeCopy``): a checked-out, pushed model file shares the
store's own file, and no edit in the worktree can lose a version.

Every test drives real ``git clone/checkout/stash/worktree/rebase/reset`` against a bare
remote whose model store gitmodel pushed to. Files are 3 MiB and the direct-checkout
threshold 1 MiB, so the post-checkout hook writes them, as it writes large models."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    copy_of_template,
    git_model,
    git_out,
    install_globally,
    repo_store,
    run_git,
    sha256_file,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stress"))
import crash

from gitmodel.store import onecopy

SIZE = 3 << 20
MODES = ["auto", "copy"]


@pytest.fixture
def origin(tmp_path: Path, isolated_git: Path) -> dict[str, str]:
    """A bare remote with two pushed versions of ``model.bin`` (tags v1, a month old, and
    v2); returns the remote's path and each version's sha256. The remote is a copy of one
    built once per process."""
    install_globally(isolated_git)  # for every clone: filter and hooks
    run_git("config", "--global", "model.directCheckoutThreshold", "1m", cwd=tmp_path)
    copy_of_template("one-copy-remote", build_remote, tmp_path / "remote")
    bare = tmp_path / "remote" / "remote.git"
    digests = json.loads((tmp_path / "remote" / "digests.json").read_text())
    return {"remote": str(bare), **digests}


def build_remote(root: Path) -> None:
    root.mkdir()
    bare = root / "remote.git"
    run_git("init", "-q", "--bare", str(bare), cwd=root)
    src = root / "src"
    src.mkdir()
    run_git("init", "-q", cwd=src)
    git_model("track", "*.bin", cwd=src)
    digests = {}
    month_ago = f"@{int(time.time()) - 30 * 86400} +0000"
    for tag in ("v1", "v2"):
        (src / "model.bin").write_bytes(os.urandom(SIZE))
        digests[tag] = sha256_file(src / "model.bin")
        run_git("add", ".", cwd=src)
        dated = {"GIT_COMMITTER_DATE": month_ago, "GIT_AUTHOR_DATE": month_ago}
        run_git("commit", "-qm", tag, cwd=src, env={**os.environ, **(dated if tag == "v1" else {})})
        run_git("tag", tag, cwd=src)
    run_git("remote", "add", "origin", str(bare), cwd=src)
    run_git("push", "-q", "origin", "main", "--tags", cwd=src)
    shutil.rmtree(src)  # only the remote is the tests'
    (root / "digests.json").write_text(json.dumps(digests))


def clone(origin: dict[str, str], where: Path, mode: str = "auto") -> Path:
    run_git("-c", f"model.worktreeCopy={mode}", "clone", "-q", origin["remote"], str(where),
            cwd=where.parent)  # fmt: skip
    run_git("config", "model.worktreeCopy", mode, cwd=where)
    return where


def object_file(repo: Path, digest: str) -> Path:
    return repo_store(repo).object_path(digest)


def shares(repo: Path, digest: str, path: str = "model.bin") -> bool:
    """Whether the worktree file is the store's own file (lent)."""
    return os.path.samefile(repo / path, object_file(repo, digest))


def test_a_clone_costs_the_model_once(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    assert sha256_file(work / "model.bin") == origin["v2"]
    assert shares(work, origin["v2"])
    assert (work / "model.bin").stat().st_nlink == 2
    assert git_out("status", "--porcelain", cwd=work) == ""
    # the worktree file has the mode Git wants, not the store's read-only one
    assert (work / "model.bin").stat().st_mode & 0o777 == 0o644


def test_switching_versions_keeps_each_once(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    run_git("checkout", "-q", "v1", cwd=work)
    assert sha256_file(work / "model.bin") == origin["v1"]
    assert shares(work, origin["v1"])
    assert object_file(work, origin["v2"]).stat().st_nlink == 1  # only the store's now
    run_git("checkout", "-q", "main", cwd=work)
    assert shares(work, origin["v2"]), "lent again, from its record"
    assert sha256_file(work / "model.bin") == origin["v2"]
    assert git_out("status", "--porcelain", cwd=work) == ""


def test_copy_mode_keeps_two_copies(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work", "copy")
    assert sha256_file(work / "model.bin") == origin["v2"]
    assert not shares(work, origin["v2"])


def _rewrite(path: Path) -> None:
    with open(path, "wb") as f:  # how training code saves a checkpoint
        f.write(os.urandom(SIZE))


def _truncate(path: Path) -> None:
    os.truncate(path, SIZE // 2)


def _append(path: Path) -> None:
    with open(path, "ab") as f:
        f.write(b"more")


def _same_size_same_second(path: Path) -> None:
    time.sleep(1.1)  # so Git sees the change: its index compares whole seconds
    st = path.stat()
    with open(path, "r+b") as f:
        f.write(b"\0" * 4096)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # one nanosecond off


EDITS = {"rewrite": _rewrite, "truncate": _truncate, "append": _append,
         "overwrite": _same_size_same_second}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edit_in_place_never_loses_a_version(
    origin: dict[str, str], tmp_path: Path, mode: str, edit: str
) -> None:
    work = clone(origin, tmp_path / "work", mode)
    EDITS[edit](work / "model.bin")
    edited = sha256_file(work / "model.bin")
    assert git_out("status", "--porcelain", cwd=work) == " M model.bin\n"
    run_git("stash", "-q", cwd=work)  # the edit is kept, the file restored
    assert sha256_file(work / "model.bin") == origin["v2"]
    run_git("checkout", "-q", "v1", cwd=work)
    assert sha256_file(work / "model.bin") == origin["v1"]
    run_git("checkout", "-q", "main", cwd=work)
    assert sha256_file(work / "model.bin") == origin["v2"]
    run_git("stash", "pop", "-q", cwd=work)
    assert sha256_file(work / "model.bin") == edited
    run_git("checkout", "-q", "-f", "main", cwd=work)
    assert sha256_file(work / "model.bin") == origin["v2"]
    assert b"ok" in git_model("fsck", cwd=work).stdout
    assert git_out("status", "--porcelain", cwd=work) == ""


def test_a_rewritten_loan_is_fetched_again(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    _rewrite(work / "model.bin")
    run_git("checkout", "-q", "-f", "v1", cwd=work)
    store = repo_store(work)
    assert not store.has(origin["v2"]), "the rewritten file is not taken for the object"
    assert (work / ".git/model/lent").is_dir()
    run_git("checkout", "-q", "main", cwd=work)  # fetched from the model remote again
    assert sha256_file(work / "model.bin") == origin["v2"]


def test_fsck_after_an_edit_in_place(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    _rewrite(work / "model.bin")
    result = git_model("fsck", "--objects", cwd=work, check=False)
    assert result.returncode == 0, result.stderr  # no trace: the loan just ended
    assert b"Traceback" not in result.stderr
    run_git("checkout", "-q", "-f", "main", cwd=work)  # fetched from the model remote again
    assert sha256_file(work / "model.bin") == origin["v2"]


def test_unpushed_objects_are_never_lent(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    (work / "model.bin").unlink()
    (work / "model.bin").write_bytes(os.urandom(SIZE))
    run_git("commit", "-qam", "v3, not pushed", cwd=work)
    v3 = sha256_file(work / "model.bin")
    run_git("checkout", "-q", "v1", cwd=work)
    run_git("checkout", "-q", "main", cwd=work)
    assert sha256_file(work / "model.bin") == v3
    assert not shares(work, v3), "the only copy of v3 stays the store's own"
    run_git("push", "-q", "origin", "main", cwd=work)
    run_git("checkout", "-q", "v1", cwd=work)
    run_git("checkout", "-q", "main", cwd=work)
    assert shares(work, v3), "pushed: now the remote holds it"


def test_one_object_at_two_paths_is_lent_once(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    run_git("checkout", "-q", "v1", cwd=work)
    run_git("checkout", "-q", "v2", "--", "model.bin", cwd=work)
    run_git("mv", "model.bin", "copy.bin", cwd=work)
    run_git("checkout", "-q", "v2", "--", "model.bin", cwd=work)
    run_git("commit", "-qm", "two paths", cwd=work)
    run_git("checkout", "-q", "v1", cwd=work)
    run_git("checkout", "-q", "-", cwd=work)
    first, second = work / "model.bin", work / "copy.bin"
    assert sha256_file(first) == sha256_file(second) == origin["v2"]
    assert not os.path.samefile(first, second)
    _rewrite(first)
    assert sha256_file(second) == origin["v2"], "an edit of one path never shows at another"


def test_worktrees_reset_and_rebase(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    run_git("worktree", "add", "-q", str(tmp_path / "other"), "v1", cwd=work)
    assert sha256_file(tmp_path / "other" / "model.bin") == origin["v1"]
    assert sha256_file(work / "model.bin") == origin["v2"]
    _rewrite(tmp_path / "other" / "model.bin")
    run_git("reset", "-q", "--hard", cwd=tmp_path / "other")
    assert sha256_file(tmp_path / "other" / "model.bin") == origin["v1"]
    assert sha256_file(work / "model.bin") == origin["v2"]
    (work / "notes.txt").write_text("notes\n")
    run_git("add", "notes.txt", cwd=work)
    run_git("commit", "-qm", "notes", cwd=work)
    run_git("rebase", "-q", "--onto", "v1", "v2", cwd=work)  # replays notes onto v1
    assert sha256_file(work / "model.bin") == origin["v1"]
    run_git("reset", "-q", "--hard", "v2", cwd=work)
    assert sha256_file(work / "model.bin") == origin["v2"]
    assert git_out("status", "--porcelain", cwd=work) == ""
    assert b"ok" in git_model("fsck", cwd=work).stdout


def test_a_bad_mode_is_one_clear_error(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    run_git("config", "model.worktreeCopy", "symlink", cwd=work)
    proc = run_git("checkout", "-q", "v1", cwd=work, check=False)
    assert proc.returncode != 0
    error, hint, fatal = proc.stderr.decode().splitlines()
    assert error == (
        "gitmodel: smudge model.bin: model.worktreeCopy is 'symlink', not one of auto, "
        "reflink, copy"
    )
    assert hint == "hint: git config model.worktreeCopy auto"
    assert fatal == "fatal: model.bin: smudge filter model failed"
    run_git("config", "model.worktreeCopy", "auto", cwd=work)  # fixed, it goes through
    run_git("checkout", "-q", "v1", cwd=work)
    assert sha256_file(work / "model.bin") == origin["v1"]


def _reflinks_here(where: Path) -> bool:
    src, dst = where / ".probe-src", where / ".probe-dst"
    src.write_bytes(b"x" * 4096)
    try:
        with open(src, "rb") as s, open(dst, "wb") as d:
            return onecopy.reflink(s.fileno(), d.fileno())
    finally:
        src.unlink()
        dst.unlink()


def test_reflink_mode_says_when_the_file_system_cannot(
    origin: dict[str, str], tmp_path: Path
) -> None:
    if _reflinks_here(tmp_path):
        pytest.skip("this file system makes reflinks (tests/test_reflink.py covers it)")
    work = clone(origin, tmp_path / "work")
    run_git("config", "model.worktreeCopy", "reflink", cwd=work)
    proc = run_git("checkout", "-q", "v1", cwd=work, check=False)
    err = proc.stderr.decode()
    assert "cannot reflink model.bin: its file system makes no reflinks" in err
    assert "Traceback" not in err
    assert git_out("show", "HEAD:model.bin", cwd=work).startswith("version https://")


def _checkout_killed_when(work: Path, rev: str, ready: Callable[[], bool]) -> bool:
    argv = ["git", "checkout", "-q", "-f", rev]
    killed = crash.kill_when(argv, work, dict(os.environ), ready)
    crash.clear_git_locks(work)
    return killed


def _recovers(work: Path, rev: str, digest: str) -> None:
    """After a kill: fsck finds nothing lost, and the checkout, run again, is right."""
    assert b"ok" in git_model("fsck", cwd=work).stdout
    run_git("checkout", "-q", "-f", rev, cwd=work)
    git_model("pull", cwd=work)  # a file the hook did not get to is still its pointer
    assert sha256_file(work / "model.bin") == digest
    assert git_out("status", "--porcelain", cwd=work) == ""


def test_kill_while_lending_loses_nothing(origin: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL once the loan is recorded (the link made or not yet)."""
    work = clone(origin, tmp_path / "work")
    oid = origin["v1"]
    record = work / ".git" / "model" / onecopy.LENT_DIR / oid[:2] / oid
    assert _checkout_killed_when(work, "v1", record.exists)
    _recovers(work, "v1", origin["v1"])
    assert shares(work, origin["v1"])
    _recovers(work, "main", origin["v2"])


def test_a_loan_record_killed_before_its_line_was_written_drops_nothing(
    origin: dict[str, str], tmp_path: Path
) -> None:
    """A kill between creating a loan's record and writing its line leaves it empty: a
    record of nothing, so the object is kept (not dropped as rewritten)."""
    work = clone(origin, tmp_path / "work")
    oid = origin["v2"]
    record = work / ".git" / "model" / onecopy.LENT_DIR / oid[:2] / oid
    assert record.read_bytes()
    record.write_bytes(b"")
    assert b"ok" in git_model("fsck", cwd=work).stdout
    assert sha256_file(work / "model.bin") == oid


@pytest.mark.long
def test_kill_while_copying_loses_nothing(origin: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL while a copy is half written beside the worktree file."""
    work = clone(origin, tmp_path / "work", "copy")
    killed = 0
    for rev in ["v1", "main"] * 4:
        killed += _checkout_killed_when(work, rev, lambda: any(work.glob(".model.bin.*.tmp")))
        digest = origin["v1" if rev == "v1" else "v2"]
        _recovers(work, rev, digest)
    assert killed, "no kill landed while a copy was being written"
    assert not list(work.glob(".model.bin.*.tmp")), "the next write removed the dead one's file"


def du_local(work: Path) -> dict[str, int]:
    report: dict[str, int] = json.loads(git_model("du", "--local", "--json", cwd=work).stdout)
    return report


def test_du_local_counts_each_block_once(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    report = du_local(work)
    assert report["worktree_files"] == 1
    assert report["worktree_logical_bytes"] == report["lent_bytes"] == SIZE
    assert report["worktree_own_bytes"] == 0
    assert SIZE <= report["total_bytes"] < SIZE * 1.05
    text = git_model("du", "--local", cwd=work).stdout.decode()
    assert "3.0 MiB lent by the store" in text
    copied = du_local(clone(origin, tmp_path / "copied", "copy"))
    assert copied["lent_bytes"] == 0
    assert copied["worktree_own_bytes"] >= SIZE
    assert copied["total_bytes"] >= 2 * SIZE


def test_du_local_says_what_prune_frees(origin: dict[str, str], tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    assert du_local(work)["prunable_objects"] == 0
    run_git("checkout", "-q", "v1", cwd=work)  # a month old: once away, prune may take it
    run_git("checkout", "-q", "main", cwd=work)
    report = du_local(work)
    assert report["prunable_objects"] == 1
    assert SIZE <= report["prunable_bytes"] < SIZE * 1.05
    pruned = git_model("prune", cwd=work).stdout.decode()
    assert "deleted 1 object(s), 3.0 MiB" in pruned
    after = du_local(work)
    assert after["prunable_objects"] == 0
    assert after["total_bytes"] <= report["total_bytes"] - SIZE
    assert sha256_file(work / "model.bin") == origin["v2"]


def test_du_local_wants_no_remote(origin: dict[str, str], tmp_path: Path) -> None:
    proc = git_model("du", "--local", "origin", cwd=clone(origin, tmp_path / "w"), check=False)
    assert proc.returncode == 2
    assert b"--local takes no REMOTE" in proc.stderr


def test_du_without_a_remote_points_at_du_local(repo: Path) -> None:
    proc = git_model("du", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: no Git remote to use",
        "hint: add one (`git remote add origin URL`); "
        "for the disk use of this clone alone: git model du --local",
    ]
