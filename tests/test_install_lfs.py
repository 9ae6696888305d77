"""Who serves ``filter=lfs`` after ``git model install``: git-lfs where it is set up, else
gitmodel, so that LFS repositories never check out pointer text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="needs git-lfs")


def fresh_repo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    run_git("init", "-q", str(path), cwd=tmp_path)
    return path


def test_git_lfs_installed_but_not_set_up_is_served_by_gitmodel(tmp_path: Path) -> None:
    repo = fresh_repo(tmp_path, "a")
    out = git_model("install", "--local", cwd=repo).stdout.decode()
    assert "gitmodel: filter=lfs served by gitmodel too (git-lfs is installed but not set up: " \
        "`git lfs install` was not run)" in out  # fmt: skip
    assert git_out("config", "filter.lfs.process", cwd=repo).strip() == "git-model filter-process"

    run_git("lfs", "install", "--skip-repo", cwd=tmp_path)  # now git-lfs serves it
    repo = fresh_repo(tmp_path, "b")
    out = git_model("install", "--local", cwd=repo).stdout.decode()
    assert "gitmodel: filter=lfs left to git-lfs" in out
    assert git_out("config", "filter.lfs.process", cwd=repo).strip() == "git-lfs filter-process"
