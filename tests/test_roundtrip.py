"""Round trips through real Git: add, commit, delete, checkout, stash, switch, worktree, clone."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import git_model, git_out, repo_store, run_git, store_oids

from gitmodel.pointer import Pointer, try_parse

POINTER_LOOKALIKE = (
    b"version https://git-lfs.github.com/spec/v1\r\noid sha256:" + b"a" * 64 + b"\r\nsize 12\r\n"
)
VALID_POINTER = Pointer(hashlib.sha256(b"\x00").hexdigest(), 1).encode()  # one.bin's pointer
UNKNOWN_POINTER = Pointer("c" * 64, 1234).encode()

FILES = {
    "empty.bin": b"",
    "one.bin": b"\x00",
    "mib.bin": os.urandom(1 << 20),
    "with space é.bin": b"spaces and non-ascii\n",
    "dir/sub dir/naïve model.bin": os.urandom(3000),
    "lookalike.bin": POINTER_LOOKALIKE,
    "text-1023.bin": b"version " + b"x" * 1015,
    "text-1024.bin": b"version " + b"x" * 1016,
    "text-1025.bin": b"version " + b"x" * 1017,
}


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def assert_files(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (root / name).read_bytes() == data, name


def committed_blob(repo: Path, name: str, rev: str = "HEAD") -> bytes:
    return run_git("cat-file", "blob", f"{rev}:{name}", cwd=repo).stdout


def assert_clean(repo: Path) -> None:
    assert git_out("status", "--porcelain", cwd=repo) == ""


@pytest.fixture
def committed(repo: Path) -> Path:
    write_files(repo, FILES)
    (repo / "pointer.bin").write_bytes(VALID_POINTER)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "models", cwd=repo)
    return repo


def test_git_stores_pointers_and_store_holds_bytes(committed: Path) -> None:
    for name, data in FILES.items():
        blob = committed_blob(committed, name)
        if not data:
            assert blob == b""
            continue
        pointer = try_parse(blob)
        assert pointer == Pointer(hashlib.sha256(data).hexdigest(), len(data)), name
    # a valid pointer is committed as itself, never wrapped in another pointer
    assert committed_blob(committed, "pointer.bin") == VALID_POINTER
    assert len(store_oids(committed)) == len([d for d in FILES.values() if d])


def test_delete_and_checkout_restores_exact_bytes(committed: Path) -> None:
    for name in [*FILES, "pointer.bin"]:
        (committed / name).unlink()
    run_git("checkout", "--", ".", cwd=committed)
    assert_files(committed, FILES)
    assert (committed / "pointer.bin").read_bytes() == FILES["one.bin"]
    assert_clean(committed)


def test_status_and_diff_stat_clean_after_touch(committed: Path) -> None:
    assert_clean(committed)
    for name in FILES:
        os.utime(committed / name, (1, 1))
    assert_clean(committed)
    assert git_out("diff", "--stat", cwd=committed) == ""


def test_modification_shows_as_pointer_diff(committed: Path) -> None:
    (committed / "mib.bin").write_bytes(b"changed")
    assert git_out("status", "--porcelain", cwd=committed) == " M mib.bin\n"
    stat = git_out("diff", "--stat", cwd=committed)
    assert "mib.bin" in stat and "1 file changed" in stat
    diff = git_out("diff", "--no-ext-diff", "--no-textconv", cwd=committed)
    assert "+oid sha256:" + hashlib.sha256(b"changed").hexdigest() in diff
    assert "model diff mib.bin (unknown format)" in git_out("diff", cwd=committed)
    textconv = git_out("diff", "--no-ext-diff", cwd=committed)
    assert "+oid sha256:" + hashlib.sha256(b"changed").hexdigest() in textconv


def test_stash_and_pop_restore_bytes(committed: Path) -> None:
    new = os.urandom(50_000)
    (committed / "mib.bin").write_bytes(new)
    run_git("stash", "-q", cwd=committed)
    assert (committed / "mib.bin").read_bytes() == FILES["mib.bin"]
    assert_clean(committed)
    run_git("stash", "pop", "-q", cwd=committed)
    assert (committed / "mib.bin").read_bytes() == new


def test_branch_switch_restores_each_version(committed: Path) -> None:
    run_git("switch", "-qc", "v2", cwd=committed)
    v2 = os.urandom(200_000)
    (committed / "mib.bin").write_bytes(v2)
    (committed / "new.bin").write_bytes(b"only on v2")
    run_git("add", ".", cwd=committed)
    run_git("commit", "-qm", "v2", cwd=committed)
    run_git("checkout", "-q", "main", cwd=committed)
    assert (committed / "mib.bin").read_bytes() == FILES["mib.bin"]
    assert not (committed / "new.bin").exists()
    assert_clean(committed)
    run_git("switch", "-q", "v2", cwd=committed)
    assert (committed / "mib.bin").read_bytes() == v2
    assert (committed / "new.bin").read_bytes() == b"only on v2"
    assert_clean(committed)


def test_second_worktree_shares_the_store(committed: Path, tmp_path: Path) -> None:
    other = tmp_path / "wt"
    run_git("worktree", "add", "-q", str(other), "HEAD", cwd=committed)
    assert_files(other, FILES)
    assert_clean(other)
    (other / "wt.bin").write_bytes(b"added in the worktree")
    run_git("add", "wt.bin", cwd=other)
    assert not (other / ".git" / "model").exists()
    names = set(store_oids(committed))
    assert hashlib.sha256(b"added in the worktree").hexdigest() in names


def test_clone_of_local_repository(committed: Path, tmp_path: Path) -> None:
    git_model("install", cwd=tmp_path)  # --global, as a user sets up a machine
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(committed), str(clone), cwd=tmp_path)
    assert_files(clone, FILES)
    assert_clean(clone)
    assert store_oids(clone) == store_oids(committed)
    assert "gitmodel hook" in (clone / ".git" / "hooks" / "post-checkout").read_text()


def test_clone_with_skip_smudge_keeps_pointers(committed: Path, tmp_path: Path) -> None:
    git_model("install", cwd=tmp_path)
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("clone", "-q", str(committed), str(clone), cwd=tmp_path, env=env)
    assert try_parse((clone / "mib.bin").read_bytes()) is not None
    assert_clean(clone)


def test_pointer_to_an_unknown_object_round_trips_with_skip_smudge(repo: Path) -> None:
    (repo / "p.bin").write_bytes(UNKNOWN_POINTER)
    run_git("add", "p.bin", cwd=repo)
    run_git("commit", "-qm", "pointer", cwd=repo)
    assert committed_blob(repo, "p.bin") == UNKNOWN_POINTER
    assert store_oids(repo) == []
    (repo / "p.bin").unlink()
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("checkout", "--", "p.bin", cwd=repo, env=env)
    assert (repo / "p.bin").read_bytes() == UNKNOWN_POINTER
    assert_clean(repo)


def test_missing_object_fails_checkout_clearly(committed: Path, tmp_path: Path) -> None:
    oid = hashlib.sha256(FILES["mib.bin"]).hexdigest()
    repo_store(committed).remove({oid})
    (committed / "mib.bin").unlink()
    proc = run_git("checkout", "--", "mib.bin", cwd=committed, check=False)
    assert proc.returncode != 0
    assert oid.encode() in proc.stderr and b"mib.bin" in proc.stderr
    assert b"Traceback" not in proc.stderr
    assert not (committed / "mib.bin").exists()


def test_skip_smudge_install(committed: Path) -> None:
    git_model("install", "--local", "--skip-smudge", cwd=committed)
    (committed / "mib.bin").unlink()
    run_git("checkout", "--", "mib.bin", cwd=committed)
    assert try_parse((committed / "mib.bin").read_bytes()) is not None
    assert_clean(committed)


def test_thousand_small_files(repo: Path) -> None:
    files = {f"many/{i:04d}.bin": os.urandom(100 + i) for i in range(1000)}
    write_files(repo, files)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "many", cwd=repo)
    assert len(store_oids(repo)) == 1000
    run_git("rm", "-rq", "--cached", "many", cwd=repo)
    for name in files:
        (repo / name).unlink()
    run_git("reset", "-q", "--hard", cwd=repo)
    assert_files(repo, files)
    assert_clean(repo)


@pytest.mark.parametrize("size", [9, 12 << 20], ids=["small", "spooled"])
def test_content_committed_before_tracking_checks_out_unchanged(repo: Path, size: int) -> None:
    data = os.urandom(size)
    (repo / "raw.dat").write_bytes(data)
    run_git("add", "raw.dat", cwd=repo)
    run_git("commit", "-qm", "raw", cwd=repo)
    git_model("track", "*.dat", cwd=repo)
    (repo / "raw.dat").unlink()
    run_git("checkout", "--", "raw.dat", cwd=repo)
    assert (repo / "raw.dat").read_bytes() == data
    assert list((repo / ".git" / "model" / "tmp").glob("*")) == []
