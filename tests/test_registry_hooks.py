"""Registry hooks: ``pre-promote`` may refuse a promotion, ``post-promote`` hears of every
stage change; both get the event as JSON on stdin, like Git's own hooks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git


def hook(repo: Path, name: str, body: str, hooks_dir: str = ".git/hooks") -> Path:
    """Install an executable shell hook that saves its input, then runs ``body``."""
    path = repo / hooks_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = repo.parent / f"{name}.json"
    path.write_text(f"#!/bin/sh\ncat >> '{saved}'\n{body}\n")
    path.chmod(0o755)
    return saved


def events(saved: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in saved.read_text().splitlines()]


@pytest.fixture
def model(repo: Path) -> Path:
    """``clf`` with two versions, in the conftest repository."""
    for n in (1, 2):
        (repo / "models").mkdir(exist_ok=True)
        (repo / "models" / "w.bin").write_bytes(os.urandom(100 + n))
        run_git("add", "-A", cwd=repo)
        run_git("commit", "-qm", f"v{n}", cwd=repo)
        if n == 1:
            git_model("register", "clf", "models", cwd=repo)
            run_git("commit", "-qm", "register", cwd=repo)
    return repo


def registry_tip(repo: Path) -> str:
    proc = run_git("rev-parse", "--verify", "--quiet", "refs/gitmodel/registry", cwd=repo,
                   check=False)  # fmt: skip
    return proc.stdout.decode().strip()


def test_pre_promote_gets_the_event_and_may_refuse(model: Path) -> None:
    saved = hook(model, "pre-promote", 'echo "no deploys on Friday" >&2; exit 3')
    proc = git_model("promote", "clf@v1", "staging", "-m", "try", cwd=model, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "no deploys on Friday" in err
    assert "gitmodel: error: the pre-promote hook refused v1 for clf staging (exit 3)" in err
    assert "hint: see its messages above" in err and "--force -m WHY" in err
    assert registry_tip(model) == ""  # nothing recorded
    [event] = events(saved)
    assert event["hook"] == "pre-promote" and event["type"] == "promote"
    assert (event["model"], event["stage"], event["message"]) == ("clf", "staging", "try")
    assert event["to"][0]["version"] == 1 and "files" not in event["to"][0]  # type: ignore[index]
    assert event["by"] == {"name": "Test Author", "email": "author@example.com"}
    assert "event" not in event  # nothing recorded yet

    git_model("promote", "clf@v1", "staging", "--force", "-m", "it is Thursday", cwd=model)
    [recorded] = json.loads(git_model("history", "clf", "--json", cwd=model).stdout)
    assert recorded["forced"] is True
    assert recorded["bypassed"] == ["pre-promote hook: exit 3"]

    hook(model, "pre-promote", "kill -9 $$")  # killed, as by the OOM killer or a timeout
    err = git_model("promote", "clf@v2", "staging", "-m", "x", cwd=model, check=False).stderr
    assert b"the pre-promote hook refused v2 for clf staging (killed by signal 9)" in err


def test_post_promote_hears_every_change_and_its_failure_does_not_undo_it(model: Path) -> None:
    hook(model, "pre-promote", "exit 0")
    saved = hook(model, "post-promote", 'echo "chat is down" >&2; exit 1')
    proc = git_model("promote", "clf@v1", "production", cwd=model)
    err = proc.stderr.decode()
    assert "chat is down" in err
    assert "warning: the post-promote hook failed (exit 1); the promote of clf production" in err
    git_model("promote", "clf@v2", "production", cwd=model)
    git_model("rollback", "clf", "production", "-m", "slow", cwd=model)
    git_model("unassign", "clf", "production", cwd=model)
    found = events(saved)
    assert [(e["type"], e["hook"]) for e in found] == [
        ("promote", "post-promote"), ("promote", "post-promote"),
        ("rollback", "post-promote"), ("unassign", "post-promote"),
    ]  # fmt: skip
    history = json.loads(git_model("history", "clf", "--json", cwd=model).stdout)
    assert [e["event"] for e in found] == [e["event"] for e in reversed(history)]
    assert found[2]["message"] == "slow" and found[3]["to"] == []


def test_hooks_path_and_a_hook_that_is_not_executable(model: Path) -> None:
    run_git("config", "core.hooksPath", "ci-hooks", cwd=model)
    saved = hook(model, "pre-promote", "exit 0", hooks_dir="ci-hooks")
    (model / "ci-hooks" / "post-promote").write_text("#!/bin/sh\nexit 1\n")  # not executable
    proc = git_model("promote", "clf@v1", "dev", cwd=model)
    assert len(events(saved)) == 1
    assert "hint: the post-promote hook was ignored because it is not executable" in (
        proc.stderr.decode()
    )
    assert git_out("rev-list", "--count", "refs/gitmodel/registry", cwd=model).strip() == "1"


SLEEPER = "sleep 60 & echo $! > '{pid_file}'; wait"  # a hook whose child outlives it


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie no reaper collected has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_for_pid(pid_file: Path, proc: subprocess.Popen[bytes]) -> int:
    """The pid the hook wrote, once written (the test fails if the command ends first)."""
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the hook never started"
        time.sleep(0.05)
    return int(pid_file.read_text())


def test_a_pre_promote_hook_out_of_time_is_stopped_whole_and_refuses(model: Path) -> None:
    pid_file = model.parent / "sleep.pid"
    hook(model, "pre-promote", "trap '' TERM\n" + SLEEPER.format(pid_file=pid_file))
    run_git("config", "model.hookTimeout", "1", cwd=model)
    started = time.monotonic()
    proc = git_model("promote", "clf@v1", "staging", cwd=model, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert time.monotonic() - started < 20  # 1 s, then TERM, ignored, then KILL
    assert "gitmodel: error: the pre-promote hook refused v1 for clf staging (timed out: " \
        "model.hookTimeout is 1 s)" in err  # fmt: skip
    assert "hint: fix " in err and "git config model.hookTimeout SECONDS" in err
    assert "Traceback" not in err
    assert registry_tip(model) == ""
    assert not alive(int(pid_file.read_text()))  # it ignored SIGTERM: killed


def test_a_post_promote_hook_out_of_time_is_reported_and_the_change_stands(model: Path) -> None:
    pid_file = model.parent / "sleep.pid"
    hook(model, "post-promote", SLEEPER.format(pid_file=pid_file))
    run_git("config", "model.hookTimeout", "0.5", cwd=model)
    proc = git_model("promote", "clf@v1", "staging", cwd=model)
    assert "warning: the post-promote hook failed (timed out: model.hookTimeout is 0.5 s); " \
        "the promote of clf staging is recorded and stands" in proc.stderr.decode()  # fmt: skip
    assert registry_tip(model) != ""
    assert not alive(int(pid_file.read_text()))


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf", ""])
def test_a_bad_hook_timeout_is_an_error_naming_the_key(model: Path, value: str) -> None:
    hook(model, "pre-promote", "exit 0")
    run_git("config", "model.hookTimeout", value, cwd=model)
    proc = git_model("promote", "clf@v1", "staging", cwd=model, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert err.startswith("gitmodel: error: model.hookTimeout must be a number of seconds"), err
    assert "hint: git config model.hookTimeout 600" in err and "Traceback" not in err
    assert registry_tip(model) == ""


def test_a_hook_timeout_of_zero_is_no_limit(model: Path) -> None:
    hook(model, "pre-promote", "sleep 1")
    run_git("config", "model.hookTimeout", "0", cwd=model)
    git_model("promote", "clf@v1", "staging", cwd=model)
    assert registry_tip(model) != ""


def interrupted_promote(
    model: Path, pid_file: Path, signum: int, via_git: bool = False
) -> tuple[int, bytes, int]:
    """Start ``promote`` in a session of its own, send it ``signum`` once its hook has
    started a child: its exit status, its standard error and the child's pid. ``via_git``:
    as ``git model`` on a terminal, the signal sent to the whole group, so Git passes it
    on to us once more."""
    command = ["git", "model"] if via_git else ["git-model"]
    proc = subprocess.Popen(
        [*command, "promote", "clf@v1", "staging"], cwd=model, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        child = wait_for_pid(pid_file, proc)
        (os.killpg if via_git else os.kill)(proc.pid, signum)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err, child


@pytest.mark.parametrize("via_git", [False, True], ids=["git-model", "git model"])
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_during_pre_promote_stops_the_hook_and_records_nothing(
    model: Path, signum: int, code: int, via_git: bool
) -> None:
    pid_file = model.parent / "sleep.pid"
    hook(model, "pre-promote", SLEEPER.format(pid_file=pid_file))
    returncode, err, child = interrupted_promote(model, pid_file, signum, via_git)
    assert returncode in ((code, -signum) if via_git else (code,)), err  # Git dies of it
    assert b"gitmodel: error: interrupted; the pre-promote hook and its processes were " \
        b"stopped, and nothing was recorded" in err  # fmt: skip
    assert b"Traceback" not in err
    assert not alive(child)
    assert registry_tip(model) == ""


def test_interrupted_during_post_promote_says_the_change_stands(model: Path) -> None:
    pid_file = model.parent / "sleep.pid"
    hook(model, "post-promote", SLEEPER.format(pid_file=pid_file))
    returncode, err, child = interrupted_promote(model, pid_file, signal.SIGINT)
    assert returncode == 130, err
    assert b"the post-promote hook and its processes were stopped, and the change stays " \
        b"recorded" in err  # fmt: skip
    assert not alive(child)
    assert registry_tip(model) != ""
