"""``git model doctor``: every check passes in a good set-up; each problem comes with its fix."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import free_port, git_model, run, run_git
from hygiene_support import make_author


def test_healthy_repository(tmp_path: Path) -> None:
    _, repo = make_author(tmp_path)
    out = git_model("doctor", cwd=repo).stdout.decode().splitlines()
    assert out[0].startswith("gitmodel ")
    assert out[1].startswith("ok       git 2.")
    assert out[2].startswith("ok       git-model on PATH: ")
    assert out[3:5] == [
        "ok       filter configured",
        f"ok       hooks installed in {repo}/.git/hooks",
    ]
    assert out[5] == f"ok       local store writable: {repo}/.git/model"
    assert out[6] == (
        f"ok       remote origin reachable: file://{tmp_path}/origin.git/model/remote"
    )


def test_bare_repository_needs_no_filter_or_hooks(tmp_path: Path) -> None:
    origin, _ = make_author(tmp_path)
    out = git_model("doctor", cwd=origin).stdout.decode().splitlines()
    assert out[3:] == [
        "ok       bare repository: filter and hooks not needed here",
        f"ok       local store writable: {origin}/model",
        "ok       no Git remote: nothing to reach",
    ]


def test_each_problem_with_its_fix(tmp_path: Path, aws_env: None) -> None:
    _, repo = make_author(tmp_path)
    run_git("config", "filter.model.process", "cat", cwd=repo)
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-push").chmod(0o644)
    (hooks / "post-checkout").unlink()
    (hooks / "post-commit").write_text(
        '#!/bin/sh\ncommand -v git-lfs >/dev/null 2>&1 || { echo >&2 "\\nThis repository is '
        "configured for Git LFS but 'git-lfs' was not found\"; exit 2; }\ngit lfs post-commit\n"
    )
    git_model("remote", "set", "origin", "s3://bucket/models", cwd=repo)
    run_git("config", "remote.origin.modelendpoint", f"http://127.0.0.1:{free_port()}", cwd=repo)
    proc = git_model("doctor", "--timeout", "1", cwd=repo, check=False)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "problem  filter.model.process is 'cat', not 'git-model filter-process'\n" \
           "  fix:   run `git model install` again\n" in out  # fmt: skip
    assert "problem  hook post-checkout is not installed\n  fix:   run `git model install`\n" in out
    assert f"problem  hook pre-push is not executable\n  fix:   chmod +x {hooks}/pre-push\n" in out
    assert "problem  git-lfs hooks still run: post-commit\n" \
           "  fix:   run `git model migrate import --from-lfs`\n" in out  # fmt: skip
    assert "problem  remote origin (s3://bucket/models) is not reachable: " in out
    assert "  fix:   check the URL, credentials and network (`git model remote`)\n" in out


def test_outside_a_repository_without_git_model_on_path(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    proc = run([sys.executable, "-m", "gitmodel", "doctor"], tmp_path, check=False, env=env)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "problem  git-model is not on PATH: Git cannot run the filter or hooks\n" in out
    assert "problem  the model filter is not configured (filter.model.process, " in out
    assert "ok       not in a repository: hooks, store and remote not checked\n" in out
    assert not (tmp_path / ".git").exists()
