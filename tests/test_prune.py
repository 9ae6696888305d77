"""``git model prune``: what is deleted and, above all, what is kept."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import git_model, run_git
from hygiene_support import (
    commit_file,
    damage_remote_copy,
    make_author,
    oid_of,
    old_date_env,
    stored,
    upload,
)


def test_prune_matrix(tmp_path: Path) -> None:
    origin, repo = make_author(tmp_path)
    old, five_days = old_date_env(30), old_date_env(5)
    gone = commit_file(repo, "gone.bin", env=old)
    head = commit_file(repo, "head.bin", env=old)
    commit_file(repo, "empty.bin", b"", env=old)
    run_git("rm", "-q", "gone.bin", cwd=repo)
    run_git("commit", "-qm", "rm gone", cwd=repo, env=old)
    recent = commit_file(repo, "recent.bin", env=five_days)
    run_git("rm", "-q", "recent.bin", cwd=repo)
    run_git("commit", "-qm", "rm recent", cwd=repo, env=five_days)
    run_git("push", "-q", "origin", "main", cwd=repo)
    # a second worktree, on a pushed branch: its HEAD is kept
    run_git("worktree", "add", "-q", "-b", "wt", str(tmp_path / "wt"), cwd=repo)
    in_worktree = commit_file(tmp_path / "wt", "wt.bin", env=old)
    run_git("push", "-q", "origin", "wt", cwd=tmp_path / "wt")
    # unpushed commit on a branch (its object is on the remote anyway)
    run_git("switch", "-qc", "feature", cwd=repo)
    unpushed = commit_file(repo, "feature.bin", env=old)
    upload(repo, origin, unpushed)
    # a commit nobody references any more and the remote never got
    run_git("switch", "-qc", "tmp", "main", cwd=repo)
    lonely = commit_file(repo, "lonely.bin", env=old)
    run_git("switch", "-q", "main", cwd=repo)
    run_git("branch", "-qD", "tmp", cwd=repo)
    # stashed change, also pushed
    stashed = b"stashed change" * 100
    (repo / "head.bin").write_bytes(stashed)
    run_git("stash", "-q", cwd=repo, env=old)
    git_model("push", "origin", "refs/stash", cwd=repo)
    # staged, and on the remote
    staged = b"staged" * 500
    (repo / "staged.bin").write_bytes(staged)
    run_git("add", "staged.bin", cwd=repo)
    upload(repo, origin, staged)

    kept = [head, in_worktree, unpushed, lonely, stashed, staged]
    proc = git_model("prune", "--dry-run", cwd=repo)
    assert proc.stdout.decode().splitlines() == [
        f"would delete {oid_of(gone)} (2.9 KiB)",
        "prune: would delete 1 object(s), 2.9 KiB; kept 1 the remote lacks",
    ]
    assert stored(repo, oid_of(gone))

    proc = git_model("prune", cwd=repo)
    assert proc.stdout.decode() == "prune: deleted 1 object(s), 2.9 KiB; kept 1 the remote lacks\n"
    assert not stored(repo, oid_of(gone))
    assert stored(repo, oid_of(recent))  # within the default 10 days
    assert all(stored(repo, oid_of(data)) for data in kept)

    git_model("prune", "--recent", "3", "--verify-remote", cwd=repo)
    assert not stored(repo, oid_of(recent))
    assert all(stored(repo, oid_of(data)) for data in kept)
    # the deleted objects come back from the remote when needed
    run_git("checkout", "-q", "main~1", "--", "recent.bin", cwd=repo)
    assert (repo / "recent.bin").read_bytes() == recent


def test_verify_remote_keeps_objects_whose_remote_copy_is_bad(tmp_path: Path) -> None:
    origin, repo = make_author(tmp_path)
    old = old_date_env(30)
    data = commit_file(repo, "a.bin", env=old)
    run_git("rm", "-q", "a.bin", cwd=repo)
    run_git("commit", "-qm", "rm", cwd=repo, env=old)
    run_git("push", "-q", "origin", "main", cwd=repo)
    oid = oid_of(data)
    damage_remote_copy(origin / "model" / "remote", oid, len(data))
    proc = git_model("prune", "--verify-remote", cwd=repo)
    assert f"keeping {oid}: the remote copy does not verify" in proc.stderr.decode()
    assert proc.stdout == b"prune: deleted 0 object(s), 0 B; kept 1 the remote lacks\n"
    assert stored(repo, oid)


def test_nothing_to_prune_needs_no_remote(repo: Path) -> None:
    commit_file(repo, "a.bin")
    (repo / "e.bin").write_bytes(b"")
    run_git("add", "e.bin", cwd=repo)
    assert git_model("prune", cwd=repo).stdout == b"prune: nothing to delete\n"


def test_prune_deletes_what_a_killed_write_left(repo: Path) -> None:
    commit_file(repo, "a.bin")
    gone = subprocess.Popen(["true"])  # a pid that no longer runs
    gone.wait()
    tmp = repo / ".git" / "model" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / f"{gone.pid}-abc123").write_bytes(b"x" * 2048)  # as `git add` killed by -9 leaves
    alive = tmp / f"{os.getpid()}-def456"  # a write still going on
    alive.write_bytes(b"y")
    proc = git_model("prune", "--dry-run", cwd=repo)
    assert b"would delete 1 unfinished write(s) in model/tmp/, 2.0 KiB" in proc.stdout
    assert (tmp / f"{gone.pid}-abc123").exists()
    proc = git_model("prune", cwd=repo)
    assert proc.stdout.startswith(b"prune: deleted 1 unfinished write(s) in model/tmp/, 2.0 KiB\n")
    assert sorted(tmp.iterdir()) == [alive]
