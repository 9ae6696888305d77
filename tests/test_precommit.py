"""The pre-commit hooks: the entry points directly, and through the pre-commit framework."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from hashlib import sha256
from pathlib import Path

import pytest
from conftest import git_model, git_out, run, run_git

from gitmodel.pointer import Pointer

CHECKOUT = Path(__file__).resolve().parent.parent
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]


def has_pre_commit() -> bool:
    return subprocess.run([*PRE_COMMIT, "--version"], capture_output=True).returncode == 0


def test_check_large_blocks_untracked_files_over_the_limit(repo: Path) -> None:
    (repo / "weights.pt").write_bytes(b"w" * 3000)
    (repo / "sub").mkdir()
    (repo / "sub" / "LICENSE").write_bytes(b"l" * 3000)
    (repo / "small.pt").write_bytes(b"s" * 100)
    (repo / "tracked.bin").write_bytes(b"t" * 5000)
    files = ["weights.pt", "sub/LICENSE", "small.pt", "tracked.bin"]
    proc = git_model("check-large", "--max-size", "2k", *files, cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == [
        "weights.pt: 2.9 KiB, over 2.0 KiB and not tracked by the model filter; "
        "run: git model track '*.pt' && git add .gitattributes weights.pt",
        "sub/LICENSE: 2.9 KiB, over 2.0 KiB and not tracked by the model filter; "
        "run: git model track 'sub/LICENSE' && git add .gitattributes sub/LICENSE",
    ]
    assert git_model("check-large", *files, cwd=repo).stdout == b""  # default 10 MiB
    # relative to the current directory, like pre-commit's own file names
    proc = git_model("check-large", "--max-size=1k", "LICENSE", cwd=repo / "sub", check=False)
    assert proc.returncode == 1 and proc.stdout.startswith(b"sub/LICENSE: 2.9 KiB")


@pytest.mark.parametrize("size", ["", "ten", "10q", "-5", "1.5m"])
def test_check_large_refuses_bad_sizes(tmp_path: Path, size: str) -> None:
    proc = git_model("check-large", "--max-size", size, "x", cwd=tmp_path, check=False)
    assert proc.returncode == 2  # a usage error: nothing was checked
    error, hint = proc.stderr.decode().splitlines()
    assert error == f"gitmodel: error: --max-size: invalid size {size!r}"
    assert hint.startswith("hint: write e.g. ") and "64MiB" in hint


def test_check_pointers(repo: Path) -> None:
    (repo / "good.bin").write_bytes(b"content")
    run_git("add", "good.bin", cwd=repo)
    assert git_model("check-pointers", "good.bin", cwd=repo).stdout == b""
    ghost = Pointer("c" * 64, 7).encode()
    blob = run_git("hash-object", "-w", "--stdin", cwd=repo, input=ghost).stdout.decode().strip()
    run_git("update-index", "--add", "--cacheinfo", f"100644,{blob},ghost.bin", cwd=repo)
    raw = run_git("hash-object", "-w", "--stdin", cwd=repo, input=b"x" * 2000).stdout.decode()
    run_git("update-index", "--add", "--cacheinfo", f"100644,{raw.strip()},raw.bin", cwd=repo)
    proc = git_model("check-pointers", "good.bin", "ghost.bin", "raw.bin", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == [
        f"ghost.bin (staged): object {'c' * 64} is not in the local store; "
        "`git model fetch` it, or `git add ghost.bin` again from its content",
        "raw.bin (staged): tracked by the model filter but committed as a full Git blob; "
        "run `git model install` then `git add --renormalize -- raw.bin` and commit",
    ]


def test_check_provenance_on_push(repo: Path) -> None:
    git_model("track", "*.safetensors", cwd=repo)
    (repo / "model.safetensors").write_bytes(b"weights v1")
    (repo / "data.bin").write_bytes(b"a data set needs no provenance")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1 with plain git", cwd=repo)
    proc = git_model("check-provenance", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == [
        f"model.safetensors: version {sha256(b'weights v1').hexdigest()[:10]}"
        " has no recorded provenance"
    ]
    assert b"git model record" in proc.stderr
    git_model("record", "HEAD", "--data", "data.bin", cwd=repo)
    assert git_model("check-provenance", cwd=repo).stdout == b""
    (repo / "model.safetensors").write_bytes(b"weights v2")
    run_git("commit", "-qam", "v2", cwd=repo)
    env = {**os.environ, "PRE_COMMIT_FROM_REF": "HEAD~1", "PRE_COMMIT_TO_REF": "HEAD"}
    assert git_model("check-provenance", cwd=repo, env=env, check=False).returncode == 1
    only_data = git_model("check-provenance", "--include", "*.bin", cwd=repo, env=env)
    assert only_data.stdout == b""  # the glob decides which files need it


def test_manifest_is_valid() -> None:
    if not has_pre_commit():
        pytest.skip("pre-commit is not installed")
    run([*PRE_COMMIT, "validate-manifest", str(CHECKOUT / ".pre-commit-hooks.yaml")], CHECKOUT)


@pytest.mark.long
@pytest.mark.network
def test_pre_commit_framework_blocks_then_passes(tmp_path: Path,
                                                 pytestconfig: pytest.Config) -> None:  # fmt: skip
    """pre-commit installs this checkout's hooks (language: python) into its own env,
    with pip from the package index (its wheel cache is kept between test runs)."""
    if not has_pre_commit() or shutil.which("git", path=os.environ["PATH"]) is None:
        pytest.skip("pre-commit is not installed")
    if run_git("rev-parse", "--verify", "-q", "HEAD", cwd=CHECKOUT, check=False).returncode:
        pytest.skip("this checkout has no commit for pre-commit to install")
    rev = git_out("rev-parse", "HEAD", cwd=CHECKOUT).strip()
    repo = tmp_path / "user"
    repo.mkdir()
    run_git("init", "-q", cwd=repo)
    git_model("install", "--local", cwd=repo)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {CHECKOUT}\n  rev: {rev}\n  hooks:\n"
        "  - id: gitmodel-large-files\n  - id: gitmodel-pointers\n"
    )
    (repo / "model.bin").write_bytes(os.urandom(20 * 1000 * 1000))
    run_git("add", ".", cwd=repo)
    cache = getattr(pytestconfig, "cache", None)  # None with -p no:cacheprovider
    pip_cache = cache.mkdir("gitmodel-pip") if cache is not None else tmp_path / "pip"
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
           "PIP_CACHE_DIR": str(pip_cache)}  # fmt: skip
    proc = run([*PRE_COMMIT, "run", "--all-files"], repo, check=False, env=env)
    out = proc.stdout.decode()
    assert proc.returncode == 1, out
    assert "model.bin: 19.1 MiB, over 10.0 MiB and not tracked by the model filter" in out
    assert "git model track '*.bin'" in out
    git_model("track", "*.bin", cwd=repo)
    run_git("add", ".gitattributes", "model.bin", cwd=repo)
    proc = run([*PRE_COMMIT, "run", "--all-files"], repo, check=False, env=env)
    assert proc.returncode == 0, proc.stdout.decode()


@pytest.mark.parametrize("first", ["pre-commit", "gitmodel"])
def test_pre_commit_install_and_git_model_install_chain(tmp_path: Path, first: str) -> None:
    """Either installed first, a push runs both: pre-commit keeps the hook it replaces as
    pre-push.legacy, so ours keeps the one it replaces elsewhere."""
    if not has_pre_commit():
        pytest.skip("pre-commit is not installed")
    bare, repo = tmp_path / "origin.git", tmp_path / "user"
    run_git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    run_git("init", "-q", str(repo), cwd=tmp_path)
    run_git("remote", "add", "origin", str(bare), cwd=repo)
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: hello\n    name: hello\n"
        "    entry: touch hello-ran\n    language: system\n    stages: [pre-push]\n"
        "    pass_filenames: false\n    always_run: true\n"
    )
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "config", cwd=repo)
    steps = [lambda: run([*PRE_COMMIT, "install", "-t", "pre-push"], repo),
             lambda: git_model("install", "--local", cwd=repo)]  # fmt: skip
    for step in steps if first == "pre-commit" else steps[::-1]:
        step()
    proc = run_git("push", "-q", "origin", "main", cwd=repo, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (repo / "hello-ran").exists()
    assert (
        git_out("rev-parse", "main", cwd=bare).strip()
        == git_out("rev-parse", "HEAD", cwd=repo).strip()
    )
