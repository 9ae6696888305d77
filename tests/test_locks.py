"""File locks kept on a Git remote: two users, real clones, real pushes."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from conftest import copy_of_template, git_model, git_out, install_globally, run_git


def user(name: str) -> dict[str, str]:
    email = f"{name}@example.com"
    return {**os.environ, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip


@pytest.fixture
def team(tmp_path: Path, isolated_git: Path) -> tuple[Path, Path, Path]:
    """A bare origin with a lockable model file, and clones by alice and bob (copies of
    the three made once per process, each clone's remote pointed at the copy)."""
    install_globally(isolated_git)
    copy_of_template("locks-team", build_team, tmp_path)
    origin, alice, bob = tmp_path / "origin.git", tmp_path / "alice", tmp_path / "bob"
    for clone in (alice, bob):
        run_git("remote", "set-url", "origin", str(origin), cwd=clone)
    return origin, alice, bob


def build_team(tmp_path: Path) -> None:
    tmp_path.mkdir()
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    alice = tmp_path / "alice"
    run_git("clone", "-q", str(origin), str(alice), cwd=tmp_path)
    git_model("track", "*.bin", cwd=alice)
    with open(alice / ".gitattributes", "a") as attributes:
        attributes.write("*.bin lockable\n")
    (alice / "w.bin").write_bytes(os.urandom(50_000))
    (alice / "notes.txt").write_text("free to edit\n")
    run_git("add", ".", cwd=alice)
    run_git("commit", "-qm", "weights", cwd=alice, env=user("alice"))
    run_git("push", "-q", "origin", "main", cwd=alice)
    run_git("clone", "-q", str(origin), str(tmp_path / "bob"), cwd=tmp_path)


def writable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IWUSR)


def test_a_lock_is_seen_by_the_other_user_and_stops_their_push(team: tuple[Path, ...]) -> None:
    _, alice, bob = team
    assert not writable(bob / "w.bin")  # lockable: read-only until locked
    assert writable(bob / "notes.txt")
    out = git_model("lock", "w.bin", cwd=alice, env=user("alice")).stdout.decode()
    assert out == "Locked w.bin\n"
    assert writable(alice / "w.bin")
    listed = json.loads(git_model("locks", "--json", cwd=bob, env=user("bob")).stdout)
    assert [(lock["path"], lock["owner"], lock["email"]) for lock in listed] == [
        ("w.bin", "alice", "alice@example.com")
    ]
    taken = git_model("lock", "w.bin", cwd=bob, env=user("bob"), check=False)
    assert taken.returncode == 1
    assert taken.stderr.decode().splitlines()[0].startswith(
        "gitmodel: error: w.bin is locked by alice <alice@example.com> since "
    )
    # bob edits anyway and commits; his push is refused before anything is sent
    (bob / "w.bin").chmod(0o644)
    (bob / "w.bin").write_bytes(os.urandom(50_000))
    run_git("commit", "-qam", "bob's weights", cwd=bob, env=user("bob"))
    pushed = run_git("push", "-q", "origin", "main", cwd=bob, env=user("bob"), check=False)
    assert pushed.returncode != 0
    assert b"gitmodel: error: cannot push: w.bin is locked by alice" in pushed.stderr
    assert b"Traceback" not in pushed.stderr
    # a change to another file is not held up by alice's lock
    run_git("reset", "-q", "--hard", "origin/main", cwd=bob)
    (bob / "notes.txt").write_text("bob was here\n")
    run_git("commit", "-qam", "notes", cwd=bob, env=user("bob"))
    run_git("push", "-q", "origin", "main", cwd=bob, env=user("bob"))
    # alice unlocks: bob may lock, and his file becomes writable
    assert git_model("unlock", "w.bin", cwd=alice, env=user("alice")).stdout == b"Unlocked w.bin\n"
    assert not writable(alice / "w.bin")
    git_model("lock", "w.bin", cwd=bob, env=user("bob"))
    assert writable(bob / "w.bin")


def test_only_the_holder_unlocks_unless_forced(team: tuple[Path, ...]) -> None:
    _, alice, bob = team
    git_model("lock", "w.bin", cwd=alice, env=user("alice"))
    refused = git_model("unlock", "w.bin", cwd=bob, env=user("bob"), check=False)
    assert refused.returncode == 1 and b"hint: ask them to unlock it" in refused.stderr
    git_model("unlock", "--force", "w.bin", cwd=bob, env=user("bob"))
    assert json.loads(git_model("locks", "--json", cwd=alice).stdout) == []
    log = git_out("log", "--format=%an %s", "refs/gitmodel/locks", cwd=bob)
    assert log.splitlines()[0].startswith("bob ")  # who broke the lock is recorded


def test_two_users_locking_at_once_one_wins(team: tuple[Path, ...]) -> None:
    _, alice, bob = team
    results: dict[str, int] = {}

    def take(name: str, repo: Path) -> None:
        proc = git_model("lock", "w.bin", cwd=repo, env=user(name), check=False)
        results[name] = proc.returncode

    threads = [threading.Thread(target=take, args=(n, r)) for n, r in (("alice", alice),
                                                                         ("bob", bob))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [0, 1], results
    winner = next(name for name, code in results.items() if code == 0)
    listed = json.loads(git_model("locks", "--json", cwd=alice).stdout)
    assert [lock["owner"] for lock in listed] == [winner]


def test_paths_outside_the_repository_and_bad_records_are_refused(
    team: tuple[Path, ...], tmp_path: Path
) -> None:
    origin, alice, bob = team
    outside = git_model("lock", str(tmp_path / "elsewhere.bin"), cwd=alice, check=False)
    assert outside.returncode == 1 and b"is not a file in this repository" in outside.stderr
    # a hostile record on the remote names a path outside the worktree: it is ignored
    git_model("lock", "w.bin", cwd=alice, env=user("alice"))
    state = {"locks": {"../../etc/passwd": {"id": "x", "owner": "m", "email": "m@x", "at": "t"},
                       "w.bin": {"id": 7, "owner": None}}}  # fmt: skip
    blob = run_git("hash-object", "-w", "--stdin", cwd=alice,
                   input=json.dumps(state).encode()).stdout.decode().strip()  # fmt: skip
    tree = run_git("mktree", cwd=alice, input=f"100644 blob {blob}\tstate.json\n100644 blob "
                   f"{blob}\trecord.json\n".encode()).stdout.decode().strip()  # fmt: skip
    parent = git_out("rev-parse", "refs/gitmodel/locks", cwd=alice).strip()
    commit = run_git("commit-tree", tree, "-p", parent, "-m", "locks: evil",
                     cwd=alice).stdout.decode().strip()  # fmt: skip
    run_git("push", "-q", str(origin), f"{commit}:refs/gitmodel/locks", cwd=alice)
    assert json.loads(git_model("locks", "--json", cwd=bob).stdout) == []


def test_a_directory_is_refused_and_a_hostile_name_is_shown_escaped(
    team: tuple[Path, ...],
) -> None:
    _, alice, _ = team
    (alice / "models").mkdir()
    (alice / "models" / "a.bin").write_bytes(b"weights")
    folder = git_model("lock", "models", cwd=alice, env=user("alice"), check=False)
    assert folder.returncode == 1
    assert folder.stderr.decode().splitlines() == [
        "gitmodel: error: cannot lock models: it is a directory",
        "hint: lock the files in it, each by name",
    ]
    name = "e\x1b[2Jvil.bin"
    (alice / name).write_bytes(b"weights")
    taken = git_model("lock", name, cwd=alice, env=user("alice")).stdout.decode()
    listed = git_model("locks", cwd=alice, env=user("alice")).stdout.decode()
    again = git_model("lock", name, cwd=alice, env=user("alice"), check=False).stderr.decode()
    for out in (taken, listed, again):
        assert "\x1b" not in out and "e\\x1b[2Jvil.bin" in out, out
    for verb in ("lock", "unlock"):  # an empty path is no file, not the current folder
        empty = git_model(verb, "", cwd=alice / "models", env=user("alice"), check=False)
        assert empty.returncode == 1 and empty.stderr.decode().splitlines() == [
            "gitmodel: error: an empty path names no file",
            "hint: name a file inside the worktree",
        ], empty.stderr
    outside = git_model("lock", "../../x\n\x1b[2Jy", cwd=alice, check=False).stderr.decode()
    assert "\x1b" not in outside and outside.count("\n") == 2, outside


@pytest.mark.parametrize("deleted", [False, True], ids=["never-there", "deleted"])
def test_a_path_not_in_the_worktree_is_refused(team: tuple[Path, ...], deleted: bool) -> None:
    """As git-lfs: a lock is taken on a file of the working copy, so a typo locks nothing
    (a tracked file deleted here too: lock it before deleting it)."""
    _, alice, _ = team
    name = "w.bin" if deleted else "w.bn"
    if deleted:
        os.remove(alice / name)
    refused = git_model("lock", name, cwd=alice, env=user("alice"), check=False)
    assert refused.returncode == 1
    assert refused.stderr.decode().splitlines() == [
        f"gitmodel: error: cannot lock {name}: no such file in the worktree",
        "hint: name a file that exists here (`git ls-files` lists the tracked ones)",
    ]
    assert json.loads(git_model("locks", "--json", cwd=alice).stdout) == []


def test_unlock_waits_for_the_change_to_be_committed_and_pushed(team: tuple[Path, ...]) -> None:
    _, alice, _ = team
    git_model("lock", "w.bin", cwd=alice, env=user("alice"))
    (alice / "w.bin").write_bytes(os.urandom(50_000))
    for what in ("has changes that are not committed", "has commits not pushed to origin"):
        refused = git_model("unlock", "w.bin", cwd=alice, env=user("alice"), check=False)
        assert refused.returncode == 1
        assert refused.stderr.decode().splitlines() == [
            f"gitmodel: error: cannot unlock w.bin: it {what}",
            "hint: commit and push it first, or pass --force to unlock anyway",
        ]
        if what.startswith("has changes"):
            run_git("commit", "-qam", "new weights", cwd=alice, env=user("alice"))
    run_git("push", "-q", "origin", "main", cwd=alice, env=user("alice"))
    assert git_model("unlock", "w.bin", cwd=alice, env=user("alice")).stdout == b"Unlocked w.bin\n"


def test_unlock_force_releases_an_unfinished_change(team: tuple[Path, ...]) -> None:
    _, alice, _ = team
    git_model("lock", "w.bin", cwd=alice, env=user("alice"))
    (alice / "w.bin").write_bytes(os.urandom(50_000))
    out = git_model("unlock", "--force", "w.bin", cwd=alice, env=user("alice")).stdout
    assert out == b"Unlocked w.bin\n"
