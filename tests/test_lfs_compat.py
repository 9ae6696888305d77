"""Pointers are byte-for-byte the ones git-lfs writes, so either tool reads the other's repos."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import git_model, run_git

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs not installed")

SAMPLES = [b"whatever\n", b"\x00", os.urandom(70_000), b"version https://git-lfs.github.com/x\n"]


@pytest.mark.parametrize("data", SAMPLES, ids=["text", "byte", "random", "lookalike"])
def test_clean_matches_git_lfs(repo: Path, data: bytes) -> None:
    ours = git_model("clean", cwd=repo, input=data).stdout
    theirs = subprocess.run(
        ["git-lfs", "clean"], cwd=repo, input=data, capture_output=True, check=True
    ).stdout
    assert ours == theirs


def test_git_lfs_pointer_passes_through_our_clean(repo: Path) -> None:
    lfs_pointer = subprocess.run(
        ["git-lfs", "clean"], cwd=repo, input=b"payload", capture_output=True, check=True
    ).stdout
    assert git_model("clean", cwd=repo, input=lfs_pointer).stdout == lfs_pointer


def test_lfs_repository_reads_our_pointers(repo: Path, tmp_path: Path) -> None:
    (repo / "w.bin").write_bytes(b"weights")
    run_git("add", "w.bin", cwd=repo)
    run_git("commit", "-qm", "w", cwd=repo)
    blob = run_git("cat-file", "blob", "HEAD:w.bin", cwd=repo).stdout
    parsed = subprocess.run(
        ["git-lfs", "pointer", "--check", "--stdin"],
        cwd=repo,
        input=blob,
        capture_output=True,
        check=False,
    )
    assert parsed.returncode == 0, parsed.stderr
