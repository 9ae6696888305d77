"""A model file changed on both sides of a merge: a conflict that keeps yours, as Git
keeps a binary file's, not a line merge of two pointers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git

NAMES = ["m.bin", "-odd name.bin"]


@pytest.mark.parametrize("name", NAMES)
def test_both_sides_changed_keeps_yours_in_conflict(repo: Path, name: str) -> None:
    base, ours, theirs = (os.urandom(5000) for _ in range(3))
    (repo / name).write_bytes(base)
    run_git("add", "--", name, cwd=repo)
    run_git("commit", "-qm", "base", cwd=repo)
    run_git("checkout", "-qb", "other", cwd=repo)
    (repo / name).write_bytes(theirs)
    run_git("commit", "-qam", "theirs", cwd=repo)
    run_git("checkout", "-q", "-", cwd=repo)
    (repo / name).write_bytes(ours)
    run_git("commit", "-qam", "ours", cwd=repo)

    merged = run_git("merge", "other", cwd=repo, check=False)
    assert merged.returncode == 1
    quoted = f"'{name}'" if " " in name else name
    assert f"gitmodel: {name}: changed on both sides; a model file does not merge, yours is " \
        "kept" in merged.stderr.decode()  # fmt: skip
    assert f"hint: to take theirs: git checkout --theirs -- {quoted} && git add -- {quoted}" \
        in merged.stderr.decode()  # fmt: skip
    assert (repo / name).read_bytes() == ours  # real bytes, no conflict markers
    assert git_out("status", "--porcelain", cwd=repo).startswith("UU ")

    run_git("checkout", "--theirs", "--", name, cwd=repo)
    run_git("add", "--", name, cwd=repo)
    run_git("commit", "-qm", "took theirs", cwd=repo)
    assert (repo / name).read_bytes() == theirs
    assert git_out("status", "--porcelain", cwd=repo) == ""
    assert git_model("fsck", cwd=repo).returncode == 0


def test_a_merge_where_only_one_side_changed_is_clean(repo: Path) -> None:
    (repo / "m.bin").write_bytes(os.urandom(5000))
    run_git("add", "m.bin", cwd=repo)
    run_git("commit", "-qm", "base", cwd=repo)
    run_git("checkout", "-qb", "other", cwd=repo)
    theirs = os.urandom(5000)
    (repo / "m.bin").write_bytes(theirs)
    run_git("commit", "-qam", "theirs", cwd=repo)
    run_git("checkout", "-q", "-", cwd=repo)
    (repo / "notes.txt").write_text("ours\n")
    run_git("add", "notes.txt", cwd=repo)
    run_git("commit", "-qm", "ours", cwd=repo)
    run_git("merge", "-q", "--no-edit", "other", cwd=repo)
    assert (repo / "m.bin").read_bytes() == theirs


def test_a_rebase_says_whose_version_is_kept_and_how_to_take_your_own(repo: Path) -> None:
    """In a rebase Git's "ours" is the branch rebased onto and "theirs" the user's own
    commit: the driver keeps the first, and must not call it yours."""
    base, upstream, mine = (os.urandom(5000) for _ in range(3))
    (repo / "m.bin").write_bytes(base)
    run_git("add", "m.bin", cwd=repo)
    run_git("commit", "-qm", "base", cwd=repo)
    run_git("checkout", "-qb", "feature", cwd=repo)
    (repo / "m.bin").write_bytes(mine)
    run_git("commit", "-qam", "mine", cwd=repo)
    run_git("checkout", "-q", "-", cwd=repo)
    (repo / "m.bin").write_bytes(upstream)
    run_git("commit", "-qam", "upstream", cwd=repo)
    run_git("checkout", "-q", "feature", cwd=repo)

    rebased = run_git("rebase", "-", cwd=repo, check=False)
    err = rebased.stderr.decode()
    assert rebased.returncode == 1 and (repo / "m.bin").read_bytes() == upstream
    assert "yours is kept" not in err, err
    assert "gitmodel: m.bin: changed on both sides; a model file does not merge, the version " \
        "you are rebasing onto is kept" in err, err  # fmt: skip
    assert "hint: to take your commit's: git checkout --theirs -- m.bin && git add -- m.bin" \
        in err, err  # fmt: skip
    status = git_model("status", cwd=repo).stdout.decode()
    assert "in a rebase, --theirs is your commit" in status, status
    run_git("checkout", "--theirs", "--", "m.bin", cwd=repo)  # as the hint says
    run_git("add", "--", "m.bin", cwd=repo)
    env = {**os.environ, "GIT_EDITOR": "true"}
    run_git("rebase", "--continue", cwd=repo, env=env)
    assert (repo / "m.bin").read_bytes() == mine
