"""A bad network: injected transient faults are retried away; permanent ones fail cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pytest
from conftest import git_model, git_out, repo_store, run_git, store_oids
from test_remotes import assert_version, author, commit_versions, new_user, origin

from gitmodel.pointer import try_parse
from gitmodel.remote.faults import COUNT_ENV, ENV, CountingFileSystem, Faults, FaultyFileSystem

__all__ = ["author", "origin"]  # fixtures shared with test_remotes


def big_versions() -> list[dict[str, bytes]]:
    """Small objects (one request, packed locally) and one over 8 MiB (streamed to tmp/)."""
    return [
        {f"m{i}.bin": os.urandom(20_000 + i) for i in range(6)} | {"big.bin": os.urandom(9 << 20)},
        {"m0.bin": os.urandom(30_000), "big.bin": os.urandom(9 << 20)},
    ]


def faulty_env(env: dict[str, str], spec: str) -> dict[str, str]:
    return {**env, ENV: spec}


def fast_retries(repo: Path) -> None:
    run_git("config", "model.retryDelay", "0.001", cwd=repo)


# With fail=0.2 and truncate=0.2 a read fails 36% of the time, so the default 8 tries
# all fail for about 1 in 3,500 operations: a test of a hundred of them would fail
# about once in 35 runs. 16 tries make that one in 12 million per operation.
MANY_TRIES = "16"


def test_parse_faults() -> None:
    assert Faults.parse("fail=0.2, truncate=0.1,delay=0.5,seed=3") == Faults(0.2, 0.1, 0.5, 3)
    assert Faults.parse("") == Faults()
    with pytest.raises(ValueError, match="unknown fault 'explode'"):
        Faults.parse("explode=1")


def test_faulty_filesystem_fails_and_truncates_as_asked() -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/faults/key", b"0123456789")
    always = FaultyFileSystem(fs, Faults(fail=1.0))
    with pytest.raises(ConnectionError, match="injected fault in cat_file"):
        always.cat_file("/faults/key")
    short = FaultyFileSystem(fs, Faults(truncate=1.0))
    assert short.cat_file("/faults/key") == b"01234"
    assert short.exists("/faults/key")  # not a read: passes through
    rolls = [FaultyFileSystem(fs, Faults(fail=0.5, seed=9)) for _ in range(2)]
    outcomes = []
    for faulty in rolls:
        results = []
        for _ in range(20):
            try:
                results.append(faulty.exists("/faults/key"))
            except ConnectionError:
                results.append(None)
        outcomes.append(results)
    assert outcomes[0] == outcomes[1] and None in outcomes[0] and True in outcomes[0]


def test_push_and_clone_survive_a_fifth_of_calls_failing(author: Path, tmp_path: Path) -> None:
    history = big_versions()
    commit_versions(author, history)
    fast_retries(author)
    run_git("config", "model.retries", MANY_TRIES, cwd=author)
    env = faulty_env(dict(os.environ), "fail=0.2,truncate=0.2,seed=11")
    run_git("push", "-q", "origin", "main", cwd=author, env=env)

    user = new_user(tmp_path, "b")
    run_git("config", "--global", "model.retryDelay", "0.001", cwd=tmp_path, env=user)
    run_git("config", "--global", "model.retries", MANY_TRIES, cwd=tmp_path, env=user)
    clone = tmp_path / "b"
    user = faulty_env(user, "fail=0.2,truncate=0.2,seed=12")
    run_git("clone", "-q", str(tmp_path / "origin.git"), str(clone), cwd=tmp_path, env=user)
    assert_version(clone, history[-1])
    run_git("checkout", "-q", "HEAD~1", cwd=clone, env=user)
    assert_version(clone, history[0])


def test_permanent_failure_names_objects_and_leaves_nothing_half_done(
    author: Path, tmp_path: Path
) -> None:
    history = big_versions()
    commit_versions(author, history[:1])
    fast_retries(author)
    broken = faulty_env(dict(os.environ), "fail=1")
    proc = run_git("push", "-q", "origin", "main", cwd=author, env=broken, check=False)
    assert proc.returncode != 0 and b"Traceback" not in proc.stderr
    assert b"could not upload" in proc.stderr
    assert any(oid.encode() in proc.stderr for oid in store_oids(author))
    assert run_git("ls-remote", "origin", cwd=author).stdout == b""  # Git sent no refs
    run_git("push", "-q", "origin", "main", cwd=author)  # the network is back

    user = new_user(tmp_path, "c")
    run_git("config", "--global", "model.retryDelay", "0.001", cwd=tmp_path, env=user)
    clone = tmp_path / "c"
    proc = run_git("clone", "-q", str(tmp_path / "origin.git"), str(clone), cwd=tmp_path,
                   env=faulty_env(user, "fail=1"), check=False)  # fmt: skip
    assert proc.returncode != 0 and b"Traceback" not in proc.stderr
    assert b"injected fault" in proc.stderr  # the cause, one line per object
    for name in history[0]:
        path = clone / name
        assert not path.exists() or try_parse(path.read_bytes()) is not None, name
    store = repo_store(clone)
    assert store.oids() == set()
    assert list(store.tmp_dir.glob("*")) == []
    git_model("fetch", cwd=clone, env=user)  # then Git's own advice for a failed checkout
    run_git("restore", "--source=HEAD", "--staged", "--worktree", ":/", cwd=clone, env=user)
    assert_version(clone, history[0])
    assert git_out("status", "--porcelain", cwd=clone) == ""


def counted(log: Path) -> dict[str, tuple[int, int, int]]:
    """call -> (calls, bytes sent, bytes received) from a count file."""
    totals: dict[str, tuple[int, int, int]] = {}
    for line in log.read_text().splitlines():
        name, sent, received = line.split()
        calls, s, r = totals.get(name, (0, 0, 0))
        totals[name] = (calls + 1, s + int(sent), r + int(received))
    return totals


def test_counting_filesystem_logs_calls_and_bytes(tmp_path: Path) -> None:
    log = tmp_path / "count.log"
    fs = CountingFileSystem(fsspec.filesystem("memory"), str(log))
    fs.pipe_file("/count/key", b"0123456789")
    assert fs.cat_file("/count/key", start=2, end=6) == b"2345"
    fs.get_file("/count/key", str(tmp_path / "copy"))
    assert fs.exists("/count/key")
    assert fs.sep == "/"  # attributes pass through, uncounted
    with pytest.raises(FileNotFoundError):
        fs.cat_file("/count/absent")  # a call that raises is not counted
    assert counted(log) == {
        "pipe_file": (1, 10, 0), "cat_file": (1, 0, 4), "get_file": (1, 0, 10), "exists": (1, 0, 0),
    }  # fmt: skip


def test_count_file_sees_every_request_of_a_push_and_a_clone(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    data = os.urandom(3 << 20)
    commit_versions(author, [{"m.bin": data}])
    log = tmp_path / "count.log"
    run_git("push", "-q", "origin", "main", cwd=author, env={**os.environ, COUNT_ENV: str(log)})
    pushed = counted(log)
    assert pushed["pipe_file"][1] == sum(
        p.stat().st_size for p in (origin / "model" / "remote").rglob("*") if p.is_file()
    )  # every byte on the remote went through a counted call
    log.unlink()
    user = {**new_user(tmp_path, "b"), COUNT_ENV: str(log)}
    clone = tmp_path / "b"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=user)
    assert (clone / "m.bin").read_bytes() == data
    received = counted(log)["cat_file"][2]
    assert len(data) < received < len(data) + (64 << 10)  # random data: chunks + manifest
