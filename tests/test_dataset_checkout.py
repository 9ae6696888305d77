"""``git model checkout NAME@VERSION`` of a data set declared as a folder: ``--to``
naming the worktree is the worktree, whose local edits are never overwritten."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from conftest import git_model, run_git

FIRST = {f"data/val/{n}.bin": os.urandom(200 + n) for n in range(4)}


@pytest.fixture
def dataset(repo: Path) -> Path:
    """``repo`` with ``trainset`` (data/val) at v1 (FIRST) and v2 (one file changed)."""
    for name, data in FIRST.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    run_git("add", "data", cwd=repo)
    run_git("commit", "-qm", "val v1", cwd=repo)
    git_model("register", "trainset", "data/val", cwd=repo)
    run_git("commit", "-qm", "register trainset", cwd=repo)
    (repo / "data/val/0.bin").write_bytes(os.urandom(300))
    run_git("commit", "-qam", "val v2", cwd=repo)
    return repo


@pytest.mark.parametrize(
    ("where", "to"), [("", None), ("", "."), ("data", ".."), ("data/val", "../..")]
)
def test_to_naming_the_worktree_never_overwrites_a_local_edit(
    dataset: Path, where: str, to: str | None
) -> None:
    edit = dataset / "data/val/1.bin"
    edit.write_bytes(b"an edit not committed yet")
    args = ["checkout", "trainset@v1", *(["--to", to] if to is not None else [])]
    proc = git_model(*args, cwd=dataset / where, check=False)
    err = proc.stderr.decode().splitlines()
    assert proc.returncode == 1 and "has changes that are not a version of the model" in err[0]
    # --to already names this worktree: the hint names another folder, not --to again
    elsewhere = "check out elsewhere with --to DIR" if to is None else (
        "name a folder outside this worktree for --to")  # fmt: skip
    named = shlex.quote(str(edit.resolve()))
    assert err[1] == (f"hint: commit or stash the edit to keep it (`git checkout -- {named}` "
                      f"drops it), or {elsewhere}")  # fmt: skip
    assert edit.read_bytes() == b"an edit not committed yet"
    assert (dataset / "data/val/0.bin").read_bytes() != FIRST["data/val/0.bin"]  # none written

    run_git("checkout", "--", str(edit.resolve()), cwd=dataset / where)  # as the hint says
    git_model(*args, cwd=dataset / where)
    for name, data in FIRST.items():
        assert (dataset / name).read_bytes() == data, name


def test_an_empty_to_is_refused_not_the_current_folder(dataset: Path) -> None:
    edit = dataset / "data/val/1.bin"
    edit.write_bytes(b"an edit not committed yet")
    proc = git_model("checkout", "trainset@v1", "--to", "", cwd=dataset, check=False)
    assert proc.returncode == 1 and proc.stderr.decode().splitlines() == [
        "gitmodel: error: --to names no folder",
        "hint: name a folder for --to",
    ]
    assert edit.read_bytes() == b"an edit not committed yet"


def test_to_another_folder_writes_the_version_there(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    git_model("checkout", "trainset@v1", "--to", str(out), cwd=dataset)
    for name, data in FIRST.items():
        assert (out / name).read_bytes() == data, name
