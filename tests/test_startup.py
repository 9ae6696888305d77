"""Start-up: `git model diff` and `inspect` on small files, and the pre-push hook, load
no more than they need.

pygit2 (~0.06 s of CPU to import), NumPy (~0.07 s) and fsspec (~0.15 s) are loaded
only when a command needs them: pygit2 never for these two (two `git cat-file` calls
read the few blobs they need), NumPy only to compare the values of a changed tensor,
fsspec only to fetch a missing object. The pre-push hook runs on every `git push`: it
loads the HTTP client (~0.03 s) only to reach an LFS host, and fsspec only to reach
object storage. Timings belong in benchmarks; this checks the modules, which is what
the timings follow from.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import git_model, git_out, repo_store, run_git
from helpers.model_files import write_safetensors

HEAVY = {"pygit2", "numpy", "fsspec", "gitmodel.remote.store", "gitmodel.formats.tensors"}
NOT_EVEN_WITH_VALUES = HEAVY - {"numpy", "gitmodel.formats.tensors"}


def loaded_by(args: list[str], cwd: Path, input: bytes | None = None) -> set[str]:
    """The modules ``git-model ARGS`` imports (it runs and succeeds)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gitmodel", *args],
                          cwd=cwd, input=input, capture_output=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    lines = proc.stderr.decode().splitlines()
    return {line.rpartition("|")[2].strip() for line in lines if line.startswith("import time")}


@pytest.fixture
def small_model(repo: Path) -> Path:
    """``m.safetensors`` tracked and committed twice: its values change, then only its
    metadata (both in the store); the worktree holds a third, metadata-only change."""
    git_model("track", "*.safetensors", cwd=repo)
    weights = {"w": np.arange(16, dtype=np.float32).reshape(4, 4)}
    for step, values in (("1", weights), ("2", {"w": weights["w"] * 2})):
        write_safetensors(repo / "m.safetensors", values, {"step": step})
        run_git("add", ".", cwd=repo)
        run_git("commit", "-qm", f"step {step}", cwd=repo)
    write_safetensors(repo / "m.safetensors", {"w": weights["w"] * 2}, {"step": "3"})
    return repo


@pytest.mark.parametrize(
    "args",
    [["inspect", "m.safetensors"], ["inspect", "m.safetensors@HEAD~1"], ["diff"],
     ["diff", "HEAD", "--", "none.bin"]],
)  # fmt: skip
def test_inspect_and_a_diff_without_value_changes_load_no_heavy_module(
    small_model: Path, args: list[str]
) -> None:
    loaded = loaded_by(args, small_model)
    assert "gitmodel.cli" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & HEAVY)


def test_a_diff_of_changed_values_loads_numpy_but_not_pygit2_or_fsspec(
    small_model: Path,
) -> None:
    loaded = loaded_by(["diff", "HEAD~1", "HEAD"], small_model)
    assert "numpy" in loaded  # the values of "w" changed
    assert loaded.isdisjoint(NOT_EVEN_WITH_VALUES), sorted(loaded & NOT_EVEN_WITH_VALUES)
    shown = git_model("diff", "HEAD~1", "HEAD", cwd=small_model).stdout.decode()
    assert "~ w  F32 [4, 4]  changed 93.75% of elements" in shown


def _arenas_after(code: str) -> bool:
    """Whether ``code`` (run in a fresh Python) ends with ctypes loaded by arenas.settle."""
    script = f"import sys\nfrom gitmodel import arenas\n{code}\narenas.settle()\n" \
             "print('ctypes' in sys.modules)"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    return out.stdout.strip() == b"True"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt only")
def test_only_git_models_own_process_limits_its_malloc_arenas() -> None:
    """A program that imports gitmodel keeps its allocator as it set it; the git-model
    executable asks for one arena, which is set (through ctypes) when a remote starts."""
    assert not _arenas_after("")
    assert _arenas_after("arenas.want_one()")


HTTP = {"http.client", "ssl", "gitmodel.remote.lfs"}
OBJECT_STORAGE = {"fsspec", "gitmodel.remote.store"}


def _pushed_by_hook(repo: Path, bare: Path) -> set[str]:
    """The modules the pre-push hook loads for a push of ``main`` as a new branch of
    ``bare``, given the lines Git gives it."""
    head = git_out("rev-parse", "HEAD", cwd=repo).strip()
    line = f"refs/heads/main {head} refs/heads/main {'0' * 40}\n".encode()
    return loaded_by(["hook", "pre-push", "origin", str(bare)], repo, input=line)


def test_the_pre_push_hook_loads_each_kind_of_remote_only_to_reach_it(
    repo: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    run_git("remote", "add", "origin", str(bare), cwd=repo)
    git_model("remote", "set", (tmp_path / "models").as_uri(), cwd=repo)
    (repo / "train.py").write_text("print('hi')\n")
    run_git("add", "train.py", cwd=repo)
    run_git("commit", "-qm", "code only", cwd=repo)
    loaded = _pushed_by_hook(repo, bare)
    assert "gitmodel.pushing" in loaded  # the hook did run
    assert loaded.isdisjoint(HTTP | OBJECT_STORAGE), sorted(loaded & (HTTP | OBJECT_STORAGE))

    (repo / "w.bin").write_bytes(b"weights " * 1000)
    run_git("add", "w.bin", cwd=repo)
    run_git("commit", "-qm", "weights", cwd=repo)
    loaded = _pushed_by_hook(repo, bare)
    assert loaded >= OBJECT_STORAGE  # it reached the folder remote …
    assert "gitmodel.remote.lfs" not in loaded  # … without the LFS client
    store = repo_store(repo)
    store.remove(set(store.oids()))  # now only the remote has it
    proc = git_model("fsck", "--remote", cwd=repo)
    assert b"is not fetched yet (the remote has it)" in proc.stderr, proc
