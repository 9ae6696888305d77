"""Append-only record logs in Git: state, history, compare-and-swap, signing, sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git_out, run, run_git

from gitmodel import git
from gitmodel.errors import GitModelError, UserError
from gitmodel.logs import records
from gitmodel.logs import sync as records_sync


def last_wins(state: dict[str, object], record: dict[str, object]) -> dict[str, object]:
    state[str(record["key"])] = record["value"]
    return state


STAGES = records.LogKind("stages", reduce=last_wins, commutes=False)
NOTES = records.LogKind("notes", reduce=last_wins, commutes=True)


def new_repo(path: Path) -> git.Repo:
    path.mkdir(parents=True)
    run_git("init", "-q", cwd=path)
    return git.Repo.discover(path)


@pytest.fixture
def log(tmp_path: Path) -> records.Log:
    return records.Log(new_repo(tmp_path / "r"), STAGES)


def test_append_state_and_history(log: records.Log) -> None:
    assert log.tip() is None
    assert log.state() == {}
    assert list(log.records()) == []
    first = log.append({"key": "prod", "value": 1, "event": "promote"})
    second = log.append({"key": "prod", "value": 2}, expected_tip=first.commit)
    log.append({"key": "dev", "value": 3})
    assert log.state() == {"prod": 2, "dev": 3}
    assert log.state(second.commit) == {"prod": 2}
    history = list(log.records())
    assert [e.record["value"] for e in history] == [3, 2, 1]
    assert history[-1].commit == first.commit
    assert (history[0].author_name, history[0].author_email) == (
        "Test Author",
        "author@example.com",
    )
    cwd = log.repo.cwd
    assert git_out("rev-list", "--count", log.ref, cwd=cwd).strip() == "3"
    assert git_out("log", "-1", "--format=%s", first.commit, cwd=cwd).strip() == "stages: promote"
    tree = git_out("ls-tree", "--name-only", log.ref, cwd=cwd).split()
    assert tree == ["record.json", "state.json"]
    state_blob = git_out("show", f"{log.ref}:state.json", cwd=cwd)
    assert state_blob == '{"dev":3,"prod":2}\n'  # canonical: sorted keys, compact


def test_compare_and_swap_refuses_a_stale_tip(log: records.Log) -> None:
    base = log.append({"key": "prod", "value": 1})
    log.append({"key": "prod", "value": 2})
    with pytest.raises(records.ConflictError) as caught:
        log.append({"key": "prod", "value": 99}, expected_tip=base.commit)
    assert caught.value.hint == "nothing was written; run the command again"
    with pytest.raises(records.ConflictError):
        log.append({"key": "prod", "value": 99}, expected_tip="")  # "must be empty"
    assert log.state() == {"prod": 2}
    assert len(list(log.records())) == 2


def test_a_concurrent_update_between_read_and_write_is_refused(log: records.Log) -> None:
    log.append({"key": "a", "value": 1})
    other = records.Log(git.Repo.discover(log.repo.cwd), STAGES)
    stale = log.tip()
    other.append({"key": "b", "value": 2})
    commit = records.write_commit(log.repo, STAGES, {"key": "c", "value": 3}, stale)
    with pytest.raises(records.ConflictError):
        records.update_ref(log.repo, log.ref, commit, stale, "stages")
    assert log.state() == {"a": 1, "b": 2}


def test_a_lock_a_killed_writer_left_is_named_not_called_a_race(log: records.Log) -> None:
    """A kill inside `git update-ref` leaves the ref's lock file: running the command
    again cannot help, so the error names the file to remove."""
    log.append({"key": "a", "value": 1})
    lock = Path(git_out("rev-parse", "--git-path", f"{log.ref}.lock", cwd=log.repo.cwd).strip())
    lock = lock if lock.is_absolute() else log.repo.cwd / lock
    lock.write_bytes(b"")
    with pytest.raises(UserError) as caught:
        log.append({"key": "b", "value": 2})
    assert not isinstance(caught.value, records.ConflictError)
    assert f"the stages log is locked: {lock} exists" in str(caught.value)
    lock.unlink()  # as the hint says
    log.append({"key": "b", "value": 2})
    assert log.state() == {"a": 1, "b": 2}


APPENDER = """
import sys
from gitmodel import git
from gitmodel.logs import records
kind = records.LogKind("stages")
log = records.Log(git.Repo.discover(sys.argv[1]), kind)
for i in range(4):
    try:
        log.append({"who": sys.argv[2], "i": i})
        print("ok", i)
    except records.ConflictError as exc:
        print("conflict", i, exc.hint)
"""


def test_concurrent_processes_lose_no_append(log: records.Log) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(log.repo.cwd), f"p{n}"],
                         stdout=subprocess.PIPE, text=True)
        for n in range(6)
    ]  # fmt: skip
    landed = set()
    for n, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        for line in out.splitlines():
            status, i, *hint = line.split(" ", 2)
            if status == "ok":
                landed.add((f"p{n}", int(i)))
            else:
                assert hint == ["nothing was written; run the command again"]
    history = {(e.record["who"], e.record["i"]) for e in log.records()}
    assert history == landed
    assert log.state() == {"records": len(landed)}


@pytest.mark.parametrize("bad", [[1, 2], "text", 3])
def test_a_record_must_be_an_object(log: records.Log, bad: object) -> None:
    with pytest.raises(GitModelError):
        log.append(bad)  # type: ignore[arg-type]
    assert log.tip() is None


@pytest.mark.parametrize("name", ["", "Upper", "a/b", "../x", "x.lock", "-x"])
def test_log_names_are_safe_ref_components(name: str) -> None:
    with pytest.raises(ValueError):
        records.LogKind(name)


def test_missing_identity_is_a_user_error(
    log: records.Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("EMAIL", "")
    run_git("config", "user.useConfigOnly", "true", cwd=log.repo.cwd)
    with pytest.raises(UserError, match="identity"):
        log.append({"key": "a", "value": 1})
    assert log.tip() is None


def test_commits_are_signed_when_git_signs(log: records.Log, tmp_path: Path) -> None:
    key = tmp_path / "key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], cwd=tmp_path)
    signers = tmp_path / "allowed"
    signers.write_text(
        f"author@example.com,committer@example.com {key.with_suffix('.pub').read_text()}"
    )
    cwd = log.repo.cwd
    for key_name, value in [("gpg.format", "ssh"), ("user.signingKey", str(key)),
                            ("commit.gpgSign", "true"),
                            ("gpg.ssh.allowedSignersFile", str(signers))]:  # fmt: skip
        run_git("config", key_name, value, cwd=cwd)
    entry = log.append({"key": "a", "value": 1})
    assert "gpgsig -----BEGIN SSH SIGNATURE" in git_out("cat-file", "commit", entry.commit, cwd=cwd)
    run_git("verify-commit", entry.commit, cwd=cwd)


# -- sync with a Git remote -------------------------------------------------------


@pytest.fixture
def clones(tmp_path: Path) -> tuple[git.Repo, git.Repo]:
    bare = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    repos = []
    for name in ("a", "b"):
        run_git("clone", "-q", str(bare), name, cwd=tmp_path)
        repos.append(git.Repo.discover(tmp_path / name))
    return repos[0], repos[1]


def remote_tip(repo: git.Repo, log: str) -> str:
    out = git_out("ls-remote", "origin", f"refs/gitmodel/{log}", cwd=repo.cwd)
    return out.split()[0] if out else ""


def test_push_then_fetch_fast_forwards(clones: tuple[git.Repo, git.Repo]) -> None:
    a, b = clones
    records.Log(a, STAGES).append({"key": "prod", "value": 1})
    assert records_sync.push(a, "origin") == ["stages"]
    assert records_sync.push(a, "origin") == []  # nothing moved since
    assert records_sync.fetch(b, "origin", {"stages": STAGES}) == ["stages"]
    assert records.Log(b, STAGES).state() == {"prod": 1}
    records.Log(b, STAGES).append({"key": "prod", "value": 2})
    records_sync.push(b, "origin")
    assert records_sync.fetch(a, "origin") == ["stages"]
    assert records.Log(a, STAGES).state() == {"prod": 2}
    assert records_sync.fetch(a, "origin") == []


def test_concurrent_push_of_ordered_records_is_refused(clones: tuple[git.Repo, git.Repo]) -> None:
    a, b = clones
    kinds = {"stages": STAGES}
    records.Log(a, STAGES).append({"key": "prod", "value": "a"})
    records.Log(b, STAGES).append({"key": "prod", "value": "b"})
    records_sync.push(a, "origin", kinds)
    b_tip = records.Log(b, STAGES).tip()
    with pytest.raises(records_sync.DivergedError) as caught:
        records_sync.push(b, "origin", kinds)
    assert "both here and on origin" in str(caught.value)
    assert caught.value.hint is not None
    assert remote_tip(b, "stages") == records.Log(a, STAGES).tip()  # a's record stays
    assert records.Log(b, STAGES).tip() == b_tip  # b's record is not lost either


def test_concurrent_push_of_commuting_records_merges(clones: tuple[git.Repo, git.Repo]) -> None:
    a, b = clones
    kinds = {"notes": NOTES}
    records.Log(a, NOTES).append({"key": "x", "value": "a"})
    records.Log(b, NOTES).append({"key": "y", "value": "b"})
    records.Log(b, NOTES).append({"key": "z", "value": "b2"})
    records_sync.push(a, "origin", kinds)
    assert records_sync.push(b, "origin", kinds) == ["notes"]  # fetch, replay, push again
    log_b = records.Log(b, NOTES)
    assert remote_tip(b, "notes") == log_b.tip()
    assert log_b.state() == {"x": "a", "y": "b", "z": "b2"}
    assert [e.record["key"] for e in log_b.records()] == ["z", "y", "x"]
    records_sync.fetch(a, "origin", kinds)
    assert records.Log(a, NOTES).state() == log_b.state()


def test_fetch_ignores_remote_refs_that_are_not_logs(clones: tuple[git.Repo, git.Repo]) -> None:
    a, b = clones
    entry = records.Log(a, STAGES).append({"key": "prod", "value": 1})
    for ref in ("refs/gitmodel/Bad.Name", "refs/gitmodel/x/y"):
        run_git("push", "-q", "origin", f"{entry.commit}:{ref}", cwd=a.cwd)
    assert records_sync.fetch(b, "origin") == []
    assert git.list_refs(b, records.LOG_PREFIX) == {}


def test_push_refused_by_a_hook_says_fetch_and_retry(clones: tuple[git.Repo, git.Repo]) -> None:
    a, _ = clones
    bare = Path(git_out("remote", "get-url", "origin", cwd=a.cwd).strip())
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho no >&2\nexit 1\n")
    hook.chmod(0o755)
    records.Log(a, STAGES).append({"key": "prod", "value": 1})
    with pytest.raises(UserError) as caught:
        records_sync.push(a, "origin")
    assert caught.value.hint == "run `git model fetch` and retry the push"


def test_sync_errors_name_no_credentials(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    records.Log(repo, STAGES).append({"key": "prod", "value": 1})
    url = "https://user:s3cret@127.0.0.1:1/x.git"
    for call in (records_sync.push, records_sync.fetch):
        with pytest.raises(UserError) as caught:
            call(repo, url)
        assert "s3cret" not in str(caught.value)


def test_log_survives_git_push_and_a_fresh_clone(tmp_path: Path) -> None:
    """The pre-push hook pushes the logs; the post-checkout hook of a clone fetches them."""
    bare = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    run(["git-model", "install"], cwd=tmp_path)  # global: the clone below has hooks too
    run_git("clone", "-q", str(bare), "a", cwd=tmp_path)
    a = git.Repo.discover(tmp_path / "a")
    run(["git-model", "track", "*.bin"], cwd=a.cwd)
    (a.cwd / "m.bin").write_bytes(b"weights")
    run_git("add", ".", cwd=a.cwd)
    run_git("commit", "-qm", "first", cwd=a.cwd)
    records.Log(a, NOTES).append({"key": "x", "value": 1})
    run_git("push", "-q", "origin", "main", cwd=a.cwd)
    assert remote_tip(a, "notes") == records.Log(a, NOTES).tip()
    run_git("clone", "-q", str(bare), "c", cwd=tmp_path)
    c = git.Repo.discover(tmp_path / "c")
    assert records.Log(c, NOTES).state() == {"x": 1}
    assert json.loads(git_out("show", "refs/gitmodel/notes:record.json", cwd=c.cwd)) == {
        "key": "x", "value": 1
    }  # fmt: skip
    assert "refs/gitmodel-remotes/origin/notes" in git_out("for-each-ref", cwd=c.cwd)
    assert os.path.exists(c.git_dir / "hooks" / "post-checkout")
