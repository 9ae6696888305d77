"""File locks on an LFS host, shared by git-lfs and gitmodel users through its locking API.

The host (``lfs_host_team`` in conftest.py) lets alice and bob sign in and answers at
most 2 locks at a time, so every listing follows its cursors. alice has only git-lfs
(``git lfs install``, ``lfs.locksverify``); bob has only gitmodel, with no git-lfs on
PATH. Each has their own HOME and credential helper, and no system config.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import LFSHost, git_model, run_git
from test_lfs_host import (
    User,
    commit,
    credential_helper,
    git_lfs_user,
    gitmodel_user,
    one_clear_error,
)

from gitmodel.pointer import try_parse
from gitmodel.remote.lfs import ANSWER_HINT

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed")

Json = dict[str, Any]


@dataclass(frozen=True)
class Team:
    host: LFSHost
    url: str  # the repository's Git URL on the host
    alice: User  # git-lfs
    bob: User  # gitmodel
    alice_repo: Path
    bob_repo: Path


def signed_in(host: LFSHost, tmp_path: Path, name: str) -> str:
    """Git config for a user whose credential helper answers ``name`` and the password."""
    assert host.password is not None
    helper = credential_helper(tmp_path, name)
    helper.give(name, host.password)
    return helper.config


@pytest.fixture
def team(lfs_host_team: LFSHost, tmp_path: Path, path_without_git_lfs: str) -> Team:
    """alice pushes ``w.bin`` and ``notes.txt`` with ``*.bin lockable``; bob clones."""
    host = lfs_host_team
    url = host.new_repo()
    alice = git_lfs_user(tmp_path, "alice", signed_in(host, tmp_path, "alice")
                         + "[lfs]\n\tlocksverify = true\n")  # fmt: skip
    alice_repo = alice.clone(url, tmp_path / "alice")
    alice.git("lfs", "track", "*.bin", cwd=alice_repo)
    with open(alice_repo / ".gitattributes", "a") as attributes:
        attributes.write("*.bin lockable\n")
    commit(alice, alice_repo, {"w.bin": os.urandom(50_000), "notes.txt": b"free to edit\n"},
           "weights")  # fmt: skip
    alice.git("push", "-q", "origin", "main", cwd=alice_repo)
    bob = gitmodel_user(tmp_path, "bob", path_without_git_lfs, signed_in(host, tmp_path, "bob"))
    return Team(host, url, alice, bob, alice_repo, bob.clone(url, tmp_path / "bob"))


def writable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IWUSR)


def model_locks(user: User, repo: Path) -> list[tuple[str, str]]:
    listed = json.loads(user.model("locks", "--json", cwd=repo).stdout)
    return sorted((lock["path"], lock["owner"]) for lock in listed)


def lfs_locks(user: User, repo: Path) -> list[tuple[str, str]]:
    listed = json.loads(user.git("lfs", "locks", "--json", cwd=repo).stdout)
    return sorted((lock["path"], lock["owner"]["name"]) for lock in listed)


def edit(user: User, repo: Path, name: str, message: str) -> None:
    """Change ``name`` whatever its mode (as someone who ignores read-only would)."""
    (repo / name).chmod(0o644)
    commit(user, repo, {name: os.urandom(50_000)}, message)


def remote_main(team: Team) -> str:
    return team.bob.git("ls-remote", "origin", "refs/heads/main",
                        cwd=team.bob_repo).stdout.decode().split()[0]  # fmt: skip


def test_a_git_lfs_lock_holds_for_a_gitmodel_user(team: Team) -> None:
    alice, bob = team.alice, team.bob
    alice.git("lfs", "lock", "w.bin", cwd=team.alice_repo)
    assert model_locks(bob, team.bob_repo) == [("w.bin", "alice")]
    taken = bob.model("lock", "w.bin", cwd=team.bob_repo, check=False)
    line = one_clear_error(taken, team.host.password or "")
    assert line.startswith("gitmodel: error: w.bin is locked by alice"), line
    # bob edits anyway and commits; his push is refused before anything is sent
    before = remote_main(team)
    edit(bob, team.bob_repo, "w.bin", "bob's weights")
    pushed = bob.git("push", "-q", "origin", "main", cwd=team.bob_repo, check=False)
    line = one_clear_error(pushed, team.host.password or "")
    assert line.startswith("gitmodel: error: cannot push: w.bin is locked by alice"), line
    assert remote_main(team) == before
    # a change to a file nobody holds is not held up
    bob.git("reset", "-q", "--hard", "origin/main", cwd=team.bob_repo)
    commit(bob, team.bob_repo, {"notes.txt": b"bob was here\n"}, "notes")
    bob.git("push", "-q", "origin", "main", cwd=team.bob_repo)
    # once alice unlocks, bob may lock, and his copy becomes writable
    alice.git("lfs", "unlock", "w.bin", cwd=team.alice_repo)
    assert bob.model("lock", "w.bin", cwd=team.bob_repo).stdout == b"Locked w.bin\n"
    assert writable(team.bob_repo / "w.bin")


def test_a_gitmodel_lock_holds_for_a_git_lfs_user(team: Team) -> None:
    alice, bob = team.alice, team.bob
    bob.model("lock", "w.bin", cwd=team.bob_repo)
    again = bob.model("lock", "w.bin", cwd=team.bob_repo, check=False)
    line = one_clear_error(again, team.host.password or "")
    assert line.startswith("gitmodel: error: w.bin is already locked by you (since "), line
    assert lfs_locks(alice, team.alice_repo) == [("w.bin", "bob")]
    assert alice.git("lfs", "lock", "w.bin", cwd=team.alice_repo, check=False).returncode != 0
    edit(alice, team.alice_repo, "w.bin", "alice's weights")
    pushed = alice.git("push", "-q", "origin", "main", cwd=team.alice_repo, check=False)
    assert pushed.returncode != 0 and b"w.bin - bob" in pushed.stdout, pushed.stdout
    # the holder pushes a change to the file he holds
    edit(bob, team.bob_repo, "w.bin", "bob's weights")
    bob.git("push", "-q", "origin", "main", cwd=team.bob_repo)
    assert bob.model("unlock", "w.bin", cwd=team.bob_repo).stdout == b"Unlocked w.bin\n"
    assert not writable(team.bob_repo / "w.bin")
    assert lfs_locks(alice, team.alice_repo) == []


def test_only_the_owner_unlocks_unless_forced(team: Team) -> None:
    alice, bob = team.alice, team.bob
    alice.git("lfs", "lock", "w.bin", cwd=team.alice_repo)
    refused = bob.model("unlock", "w.bin", cwd=team.bob_repo, check=False)
    line = one_clear_error(refused, team.host.password or "")
    assert "w.bin" in line and "alice" in line, line
    assert b"--force" in refused.stderr
    assert lfs_locks(alice, team.alice_repo) == [("w.bin", "alice")]
    forced = bob.model("unlock", "--force", "w.bin", cwd=team.bob_repo)
    assert forced.stdout == b"Unlocked w.bin\n"
    assert lfs_locks(alice, team.alice_repo) == []
    missing = bob.model("unlock", "w.bin", cwd=team.bob_repo, check=False)
    assert "is not locked" in one_clear_error(missing, team.host.password or "")


def test_many_locks_are_listed_and_verified_page_by_page(team: Team) -> None:
    """The host answers 2 locks at a time: every listing needs its cursors."""
    alice, bob = team.alice, team.bob
    names = [f"m{i}.bin" for i in range(6)]
    commit(alice, team.alice_repo, {name: os.urandom(100) for name in names}, "more")
    alice.git("push", "-q", "origin", "main", cwd=team.alice_repo)
    bob.git("pull", "-q", "origin", "main", cwd=team.bob_repo)
    for name in names[:4]:  # the oldest locks come last
        alice.git("lfs", "lock", name, cwd=team.alice_repo)
    for name in [*names[4:], "w.bin"]:
        bob.model("lock", name, cwd=team.bob_repo)
    expected = sorted([(name, "alice") for name in names[:4]]
                      + [(name, "bob") for name in [*names[4:], "w.bin"]])  # fmt: skip
    assert model_locks(bob, team.bob_repo) == expected
    assert lfs_locks(alice, team.alice_repo) == expected
    edit(bob, team.bob_repo, names[0], "the oldest lock is alice's")
    pushed = bob.git("push", "-q", "origin", "main", cwd=team.bob_repo, check=False)
    line = one_clear_error(pushed, team.host.password or "")
    assert line.startswith(f"gitmodel: error: cannot push: {names[0]} is locked by alice"), line
    bob.git("reset", "-q", "--hard", "origin/main", cwd=team.bob_repo)
    edit(bob, team.bob_repo, names[5], "his own")
    bob.git("push", "-q", "origin", "main", cwd=team.bob_repo)


def test_lockable_files_are_read_only_unless_you_hold_the_lock(team: Team) -> None:
    """Also after a checkout that runs gitmodel's hook (one that writes a large file
    straight from the store, here anything over 1 KiB)."""
    bob, repo = team.bob, team.bob_repo
    assert not writable(repo / "w.bin") and writable(repo / "notes.txt")
    commit(team.alice, team.alice_repo, {"data.bin": os.urandom(50_000)}, "data")
    team.alice.git("push", "-q", "origin", "main", cwd=team.alice_repo)
    bob.git("pull", "-q", "origin", "main", cwd=repo)
    bob.git("config", "model.directCheckoutThreshold", "1k", cwd=repo)
    bob.model("lock", "w.bin", cwd=repo)
    assert writable(repo / "w.bin")
    for rev in ("HEAD~1", "main"):  # the file he holds stays writable
        bob.git("checkout", "-q", rev, cwd=repo)
        assert writable(repo / "w.bin"), rev
    assert not writable(repo / "data.bin")
    bob.model("unlock", "w.bin", cwd=repo)
    assert not writable(repo / "w.bin")
    for rev in ("HEAD~1", "main"):
        bob.git("checkout", "-q", rev, cwd=repo)
        assert not writable(repo / "w.bin"), rev


# -- over SSH: the endpoint and headers come from git-lfs-authenticate -------------


def test_locks_over_ssh_go_where_git_lfs_authenticate_says(
    lfs_host_team: LFSHost, tmp_path: Path, path_without_git_lfs: str
) -> None:
    """For an SSH remote the host's ``git-lfs-authenticate`` names the endpoint and the
    headers to send (here a fake ``ssh`` answers for it); locks go there too, as git-lfs
    sends them, and not to the https URL derived from the SSH one."""
    host = lfs_host_team
    url = host.new_repo()
    token = base64.b64encode(f"bob:{host.password}".encode()).decode()
    answer = json.dumps({"href": f"{url}/info/lfs", "expires_in": 600,
                         "header": {"Authorization": f"Basic {token}"}})  # fmt: skip
    ssh, log = tmp_path / "ssh", tmp_path / "ssh.log"
    ssh.write_text(f"#!/bin/sh\necho \"$@\" >>'{log}'\ncat <<'EOF'\n{answer}\nEOF\n")
    ssh.chmod(0o755)
    bob = gitmodel_user(tmp_path, "bob", path_without_git_lfs)  # the token is all he has
    repo = tmp_path / "bob"
    repo.mkdir()
    bob.git("init", "-q", cwd=repo)
    for key, value in (("remote.origin.url", "git@127.0.0.1:team/r.git"),
                       ("core.sshCommand", str(ssh)), ("model.retries", "1")):  # fmt: skip
        bob.git("config", key, value, cwd=repo)
    (repo / "w.bin").write_bytes(b"weights")
    assert bob.model("lock", "w.bin", cwd=repo).stdout == b"Locked w.bin\n"
    assert model_locks(bob, repo) == [("w.bin", "bob")]
    assert bob.model("unlock", "w.bin", cwd=repo).stdout == b"Unlocked w.bin\n"
    assert model_locks(bob, repo) == []
    assert "git-lfs-authenticate team/r.git upload" in log.read_text()


# -- a hostile host ----------------------------------------------------------------

Answer = Callable[[str, str, Json], tuple[int, Json | bytes]]  # method, path and query, body


@contextlib.contextmanager
def stub_host(answer: Answer, location: str = "") -> Iterator[tuple[str, list[str]]]:
    """An LFS endpoint on 127.0.0.1 whose locking API answers as ``answer`` says (with
    ``location`` as the Location of each answer, if given); yields its URL and the
    requests it got (``"GET /…/locks?…"``)."""
    seen: list[str] = []

    class Stub(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def do_GET(self) -> None:
            self.reply({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.reply(json.loads(self.rfile.read(length) or b"{}"))

        def reply(self, body: Json) -> None:
            seen.append(f"{self.command} {self.path}")
            status, document = answer(self.command, self.path, body)
            data = document if isinstance(document, bytes) else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if isinstance(document, bytes)
                             else "application/vnd.git-lfs+json")  # fmt: skip
            self.send_header("Content-Length", str(len(data)))
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/team/r.git/info/lfs", seen
    finally:
        server.shutdown()
        server.server_close()


def lock_json(lock_id: str, path: str, owner: str = "mallory") -> Json:
    return {"id": lock_id, "path": path, "owner": {"name": owner},
            "locked_at": "2026-01-02T03:04:05Z"}  # fmt: skip


def on_stub(repo: Path, endpoint: str) -> None:
    """``repo`` (two lockable files, read-only) with its locks on the stub host."""
    with open(repo / ".gitattributes", "a") as attributes:
        attributes.write("*.bin lockable\n")
    for name in ("w.bin", "other.bin"):
        (repo / name).write_bytes(os.urandom(3000))
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "weights", cwd=repo)
    for name in ("w.bin", "other.bin"):
        (repo / name).chmod(0o444)
    run_git("init", "-q", "--bare", str(repo.parent / "origin.git"), cwd=repo)
    run_git("remote", "add", "origin", str(repo.parent / "origin.git"), cwd=repo)
    run_git("config", "lfs.url", endpoint, cwd=repo)


def query(path: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(path).query).items()}


def test_locks_a_host_describes_badly_are_left_out(repo: Path) -> None:
    good = lock_json("1", "w.bin")
    bad: list[object] = [
        lock_json("2", "../../etc/passwd"), lock_json("3", "/etc/passwd"),
        lock_json("4", ".git/config"), lock_json("5", "a/../../b.bin"),
        lock_json("6", "line\nbreak.bin"), {**good, "id": 7}, {**good, "path": ["w.bin"]},
        {**good, "owner": {"name": 8}}, {**good, "locked_at": {"at": 9}}, "w.bin", None,
    ]  # fmt: skip

    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        return 200, {"locks": [*bad, good]}

    with stub_host(answer) as (endpoint, _):
        on_stub(repo, endpoint)
        listed = json.loads(git_model("locks", "--json", cwd=repo).stdout)
    assert [(lock["id"], lock["path"], lock["owner"]) for lock in listed] == [
        ("1", "w.bin", "mallory")
    ]


@pytest.mark.parametrize("cursor", ["repeated", "always new"])
def test_a_listing_that_never_ends_is_cut_off(repo: Path, cursor: str) -> None:
    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        page = int(query(path).get("cursor", "0").replace("again", "1"))
        following = "again" if cursor == "repeated" else str(page + 1)
        return 200, {"locks": [lock_json(str(page), f"f{page}.bin")], "next_cursor": following}

    with stub_host(answer) as (endpoint, seen):
        on_stub(repo, endpoint)
        proc = git_model("locks", cwd=repo, check=False)
    line = one_clear_error(proc, "no password here")
    assert "do not end" in line, line
    assert len(seen) <= (3 if cursor == "repeated" else 1000), len(seen)


def test_a_host_that_ignores_the_path_filter_unlocks_only_that_path(repo: Path) -> None:
    """``unlock`` looks the lock up by path; a host that answers every lock instead
    must not get another file's lock deleted."""
    locks = [lock_json("1", "other.bin"), lock_json("2", "w.bin")]

    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        if method == "GET":
            return 200, {"locks": locks}
        lock_id = path.split("/")[-2]
        return 200, {"lock": next(lock for lock in locks if lock["id"] == lock_id)}

    with stub_host(answer) as (endpoint, seen):
        on_stub(repo, endpoint)
        proc = git_model("unlock", "--force", "w.bin", cwd=repo)
    assert proc.stdout == b"Unlocked w.bin\n"
    unlocked = [request for request in seen if request.endswith("/unlock")]
    assert unlocked == ["POST /team/r.git/info/lfs/locks/2/unlock"], seen


def test_a_lock_granted_on_another_path_is_refused(repo: Path) -> None:
    """The host answers a request to lock w.bin with a lock on other.bin: that is no
    lock on w.bin, and other.bin is not made writable."""

    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        return 201, {"lock": lock_json("1", "other.bin")}

    with stub_host(answer) as (endpoint, _):
        on_stub(repo, endpoint)
        proc = git_model("lock", "w.bin", cwd=repo, check=False)
    line = one_clear_error(proc, "no password here")
    assert "w.bin" in line, line
    assert not writable(repo / "other.bin") and not writable(repo / "w.bin")


def test_a_push_check_answered_with_no_json_stops_the_push(repo: Path) -> None:
    """A 200 that is not JSON (a sign-in page, say) does not say there are no locks."""

    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        return 200, b"<html>Sign in</html>"

    with stub_host(answer) as (endpoint, seen):
        on_stub(repo, endpoint)
        proc = run_git("push", "-q", "origin", "main", cwd=repo, check=False)
    line = one_clear_error(proc, "no password here")
    assert "verifying locks" in line and "not JSON" in line, line
    assert seen == ["POST /team/r.git/info/lfs/locks/verify"]
    assert run_git("ls-remote", "origin", cwd=repo).stdout == b""


def test_a_push_is_checked_against_the_locks_of_the_ref_it_updates(repo: Path) -> None:
    """As git-lfs does: the host is asked about the remote ref a push updates, which
    may be another than the branch checked out."""
    verified: list[Json] = []

    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        if path.endswith("/objects/batch"):  # the host has every object already
            return 200, {"objects": [{"oid": o["oid"], "size": o["size"]}
                                     for o in body["objects"]]}  # fmt: skip
        verified.append(body)
        return 200, {"ours": [], "theirs": []}

    with stub_host(answer) as (endpoint, _):
        on_stub(repo, endpoint)
        run_git("push", "-q", "origin", "main:release", cwd=repo)
    assert [body.get("ref") for body in verified] == [{"name": "refs/heads/release"}]


def test_a_download_the_host_answers_with_503_is_tried_again(repo: Path, tmp_path: Path) -> None:
    """As uploads are: a busy storage service (a 503 on the download action) is asked
    again, not taken for a refusal."""
    data = os.urandom(3000)
    (repo / "w.bin").write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "weights", cwd=repo)
    pointer = try_parse(run_git("cat-file", "blob", "HEAD:w.bin", cwd=repo).stdout)
    assert pointer is not None
    gets: list[str] = []

    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        if path.endswith("/objects/batch"):
            href = f"{endpoint}/objects/{pointer.oid}"
            return 200, {"objects": [{"oid": o["oid"], "size": o["size"],
                                      "actions": {"download": {"href": href}}}
                                     for o in body["objects"]]}  # fmt: skip
        gets.append(path)
        return (503, {"message": "slow down"}) if len(gets) == 1 else (200, data)

    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("clone", "-q", str(repo), str(clone), cwd=tmp_path, env=env)
    with stub_host(answer) as (endpoint, _):
        run_git("config", "remote.origin.lfsurl", endpoint, cwd=clone)
        run_git("-c", "model.retryDelay=0", "model", "pull", cwd=clone)
    assert (clone / "w.bin").read_bytes() == data
    assert len(gets) == 2


def test_a_redirect_to_another_host_takes_no_authorization_along(tmp_path: Path) -> None:
    """The Authorization that ``git-lfs-authenticate`` gives is for its host alone: a
    request that host redirects elsewhere goes without it."""
    elsewhere: list[str | None] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            elsewhere.append(self.headers.get("Authorization"))
            data = b'{"locks": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://localhost:{server.server_address[1]}/locks"

    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        return 307, {"message": "moved"}

    try:
        with stub_host(answer, location=target) as (endpoint, seen):
            reply = json.dumps({"href": endpoint, "header": {"Authorization": "Bearer s3cret"}})
            ssh = tmp_path / "ssh"
            ssh.write_text(f"#!/bin/sh\ncat <<'EOF'\n{reply}\nEOF\n")
            ssh.chmod(0o755)
            repo = tmp_path / "repo"
            run_git("init", "-q", str(repo), cwd=tmp_path)
            run_git("remote", "add", "origin", "git@127.0.0.1:team/r.git", cwd=repo)
            run_git("config", "core.sshCommand", str(ssh), cwd=repo)
            assert git_model("locks", cwd=repo).stdout == b""
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["GET /team/r.git/info/lfs/locks?limit=100"]
    assert elsewhere == [None]


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (b"<html>Sign in</html>", "the batch answer is not JSON"),
        ({"objects": [{"oid": "a" * 64, "size": 1}]}, "names an object not asked for"),
        (
            {
                "objects": [
                    {"oid": "OID", "size": 3000, "actions": {"upload": {"href": "file:///x"}}}
                ]
            },
            "an unusable upload URL",
        ),
    ],
)
def test_a_batch_answer_no_host_should_give_stops_the_push_with_its_own_hint(
    repo: Path, objects: Json | bytes, message: str
) -> None:
    """Not the hint to run the command again: the same host will answer the same."""
    (repo / "w.bin").write_bytes(os.urandom(3000))
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "weights", cwd=repo)
    oid = git_model("ls-files", "--long", cwd=repo).stdout.split()[0].decode()
    if isinstance(objects, dict):
        objects = json.loads(json.dumps(objects).replace("OID", oid))

    def answer(method: str, path: str, body: Json) -> tuple[int, Json | bytes]:
        return 200, objects

    run_git("init", "-q", "--bare", str(repo.parent / "origin.git"), cwd=repo)
    run_git("remote", "add", "origin", str(repo.parent / "origin.git"), cwd=repo)
    with stub_host(answer) as (endpoint, _):
        run_git("config", "remote.origin.lfsurl", endpoint, cwd=repo)
        proc = git_model("push", "origin", cwd=repo, check=False)
    assert message in one_clear_error(proc, "no password here")
    assert proc.stderr.decode().splitlines()[-1] == "hint: " + ANSWER_HINT
