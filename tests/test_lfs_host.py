"""gitmodel on an LFS host, with the real git-lfs client on the other side.

The host (``lfs_host`` in conftest.py) serves Git over HTTP and giftless on 127.0.0.1, as
GitHub or GitLab do. Each user has their own HOME and no system config, so each is only
what they installed: a git-lfs user ran ``git lfs install``; a gitmodel user ran
``git model install`` and has no git-lfs on PATH at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import LFSHost, git_model, run_git

from gitmodel.remote.lfs import SEND_SIZE, LfsError, Upload

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed")

Files = dict[str, bytes]


# -- users: each is only what they installed -------------------------------------


@dataclass
class User:
    name: str
    env: dict[str, str]
    outputs: list[bytes] = field(default_factory=list)  # all they were shown

    def git(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = run_git(*args, cwd=cwd, env=self.env, check=check)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def model(
        self, *args: str, cwd: Path, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        proc = git_model(*args, cwd=cwd, env=self.env, check=check)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def clone(self, url: str, dest: Path, *options: str) -> Path:
        self.git("clone", "-q", *options, url, str(dest), cwd=dest.parent)
        return dest


def new_home(tmp_path: Path, name: str, config: str) -> dict[str, str]:
    home = tmp_path / f"home-{name}"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n" + config
    )
    return {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "GIT_TERMINAL_PROMPT": "0"}  # fmt: skip


def git_lfs_user(tmp_path: Path, name: str, config: str = "") -> User:
    user = User(name, new_home(tmp_path, name, config))
    user.git("lfs", "install", cwd=tmp_path)
    return user


def gitmodel_user(tmp_path: Path, name: str, path: str, config: str = "") -> User:
    """Someone who ran only ``git model install``, with no git-lfs anywhere on PATH."""
    user = User(name, {**new_home(tmp_path, name, config), "PATH": path})
    user.model("install", cwd=tmp_path)
    assert user.git("lfs", "version", cwd=tmp_path, check=False).returncode != 0
    return user


# -- repositories ----------------------------------------------------------------


def history() -> list[Files]:
    """Three versions: what each commit adds or changes (and an ordinary text file)."""
    return [
        {"model.bin": os.urandom(2_000_000), "data/a.bin": os.urandom(5000),
         "notes.txt": b"not tracked\n"},
        {"model.bin": os.urandom(2_100_000), "data/b.bin": os.urandom(70_000)},
        {"data/a.bin": os.urandom(6000), "data/c.bin": os.urandom(300)},
    ]  # fmt: skip


def state(versions: list[Files]) -> Files:
    """The files after all of ``versions``."""
    files: Files = {}
    for version in versions:
        files |= version
    return files


def commit(user: User, repo: Path, files: Files, message: str) -> None:
    for name, data in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    user.git("add", ".", cwd=repo)
    user.git("commit", "-qm", message, cwd=repo)


def assert_checked_out(user: User, repo: Path, files: Files) -> None:
    """Every file byte-identical, and ``git status`` clean."""
    problems = []
    for name, data in files.items():
        path = repo / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif (got := path.read_bytes()) != data:
            what = "a pointer" if got.startswith(b"version https://git-lfs") else "other bytes"
            problems.append(f"{name}: {len(got)} bytes ({what}) instead of {len(data)}")
    assert not problems, "\n".join(problems)
    assert user.git("status", "--porcelain", cwd=repo).stdout == b""


def oids(files: Files) -> set[str]:
    return {hashlib.sha256(data).hexdigest() for name, data in files.items()
            if name.endswith(".bin") and data}  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """Where users find a repository's Git and its LFS objects, set up as a team would."""

    git_url: str  # what everyone clones
    lfs_url: str
    config: str = ""  # in every user's ~/.gitconfig
    clone_options: tuple[str, ...] = ()
    lfsconfig: bool = False  # committed by the first author


ENDPOINTS = ["derived", "lfs.url", "remote.lfsurl", ".lfsconfig"]


def endpoint(kind: str, host: LFSHost, tmp_path: Path) -> Endpoint:
    """``derived``: Git on the host, LFS at ``<git url>/info/lfs``; the others: Git in a
    local bare repository and LFS on the host, named by the setting of that name."""
    host_url = host.new_repo()
    lfs_url = f"{host_url}/info/lfs"
    if kind == "derived":
        return Endpoint(host_url, lfs_url)
    bare = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
    if kind == "lfs.url":
        return Endpoint(str(bare), lfs_url, config=f"[lfs]\n\turl = {lfs_url}\n")
    if kind == "remote.lfsurl":
        return Endpoint(str(bare), lfs_url, clone_options=("-c", f"remote.origin.lfsurl={lfs_url}"))
    return Endpoint(str(bare), lfs_url, lfsconfig=True)


def lfs_author_pushes(user: User, where: Endpoint, repo: Path, versions: list[Files]) -> None:
    """``user`` (git-lfs) clones the empty repository, tracks ``*.bin`` and pushes
    ``versions``, one commit each."""
    user.clone(where.git_url, repo, *where.clone_options)
    user.git("lfs", "track", "*.bin", cwd=repo)
    if where.lfsconfig:
        (repo / ".lfsconfig").write_text(f"[lfs]\n\turl = {where.lfs_url}\n")
    for number, files in enumerate(versions, 1):
        commit(user, repo, files, f"v{number}")
    user.git("push", "-q", "origin", "main", cwd=repo)


def assert_lfs_pointers(user: User, repo: Path, files: Files) -> None:
    """git-lfs lists every ``*.bin`` file of HEAD and reads its blob as a valid pointer."""
    listed = user.git("lfs", "ls-files", "--name-only", cwd=repo).stdout.decode().splitlines()
    tracked = {name for name in files if name.endswith(".bin")}
    assert tracked <= set(listed), listed
    for name in tracked:
        blob = user.git("cat-file", "blob", f"HEAD:{name}", cwd=repo).stdout
        check = run_git("lfs", "pointer", "--check", "--stdin", cwd=repo, env=user.env,
                        input=blob, check=False)  # fmt: skip
        assert check.returncode == 0, (name, blob)


# -- the fixture itself, with git-lfs on both sides ------------------------------


def test_git_lfs_pushes_and_another_git_lfs_user_clones(lfs_host: LFSHost, tmp_path: Path) -> None:
    versions = history()[:2]
    where = endpoint("derived", lfs_host, tmp_path)
    lfs_author_pushes(git_lfs_user(tmp_path, "a"), where, tmp_path / "a", versions)
    assert lfs_host.objects(where.git_url) == oids(versions[0]) | oids(versions[1])
    reader = git_lfs_user(tmp_path, "b")
    clone = reader.clone(where.git_url, tmp_path / "b")
    assert_checked_out(reader, clone, state(versions))
    reader.git("checkout", "-q", "HEAD~1", cwd=clone)
    assert_checked_out(reader, clone, versions[0])


# -- gitmodel alone against a git-lfs repository ---------------------------------


@pytest.mark.parametrize("kind", ENDPOINTS)
def test_gitmodel_user_clones_what_git_lfs_pushed(
    lfs_host: LFSHost, tmp_path: Path, path_without_git_lfs: str, kind: str
) -> None:
    versions = history()[:2]
    where = endpoint(kind, lfs_host, tmp_path)
    author = git_lfs_user(tmp_path, "a", where.config)
    lfs_author_pushes(author, where, tmp_path / "a", versions)
    reader = gitmodel_user(tmp_path, "c", path_without_git_lfs, where.config)
    clone = reader.clone(where.git_url, tmp_path / "c", *where.clone_options)
    assert_checked_out(reader, clone, state(versions))
    reader.git("checkout", "-q", "HEAD~1", cwd=clone)
    assert_checked_out(reader, clone, versions[0])
    reader.git("checkout", "-q", "main", cwd=clone)
    assert_checked_out(reader, clone, state(versions))


@pytest.mark.parametrize("kind", ENDPOINTS)
def test_git_lfs_user_clones_what_gitmodel_pushed(
    lfs_host: LFSHost, tmp_path: Path, path_without_git_lfs: str, kind: str
) -> None:
    versions = history()
    where = endpoint(kind, lfs_host, tmp_path)
    lfs_author_pushes(git_lfs_user(tmp_path, "a", where.config), where, tmp_path / "a",
                      versions[:2])  # fmt: skip
    ours = gitmodel_user(tmp_path, "c", path_without_git_lfs, where.config)
    clone = ours.clone(where.git_url, tmp_path / "c", *where.clone_options)
    commit(ours, clone, versions[2], "v3")
    ours.git("push", "-q", "origin", "main", cwd=clone)  # plain git push
    assert oids(versions[2]) <= lfs_host.objects(where.lfs_url.removesuffix("/info/lfs"))
    reader = git_lfs_user(tmp_path, "d", where.config)
    theirs = reader.clone(where.git_url, tmp_path / "d", *where.clone_options)
    assert_checked_out(reader, theirs, state(versions))
    assert_lfs_pointers(reader, theirs, state(versions))
    reader.git("checkout", "-q", "HEAD~1", cwd=theirs)
    assert_checked_out(reader, theirs, state(versions[:2]))


def test_a_clone_of_many_files_asks_about_a_hundred_at_a_time_while_downloading(
    lfs_host: LFSHost, tmp_path: Path, path_without_git_lfs: str
) -> None:
    """A clone asks the host about the first 100 objects, then about the others on a
    thread of its own while the first ones download: one batch request per 100 objects,
    never one per object, and every file arrives."""
    files = {f"data/f{i:03d}.bin": os.urandom(1000 + i) for i in range(250)}
    where = endpoint("derived", lfs_host, tmp_path)
    lfs_author_pushes(git_lfs_user(tmp_path, "a", where.config), where, tmp_path / "a", [files])
    reader = gitmodel_user(tmp_path, "c", path_without_git_lfs)
    reader.env["GIT_MODEL_TRACE"] = "1"
    clone = reader.clone(where.git_url, tmp_path / "c")
    asked = re.findall(rb"lfs: POST \S+/objects/batch: 200", b"".join(reader.outputs))
    assert len(asked) == 3
    del reader.env["GIT_MODEL_TRACE"]
    assert_checked_out(reader, clone, files)


def test_a_push_of_many_files_asks_about_a_hundred_at_a_time_while_uploading(
    lfs_host: LFSHost, tmp_path: Path, path_without_git_lfs: str
) -> None:
    """The pre-push hook asks the host about 100 objects per request, the later requests
    while the first objects upload, and sends every object the host asks for."""
    files = {f"data/f{i:03d}.bin": os.urandom(1000 + i) for i in range(250)}
    where = endpoint("derived", lfs_host, tmp_path)
    author = gitmodel_user(tmp_path, "a", path_without_git_lfs)
    repo = author.clone(where.git_url, tmp_path / "a")
    author.model("track", "*.bin", cwd=repo)
    commit(author, repo, files, "data")
    author.env["GIT_MODEL_TRACE"] = "1"
    pushed = author.git("push", "-q", "origin", "main", cwd=repo).stderr
    assert len(re.findall(rb"lfs: POST \S+/objects/batch: 200", pushed)) == 3
    assert b"uploaded 250 object(s)" in pushed
    assert oids(files) <= lfs_host.objects(where.git_url)
    reader = gitmodel_user(tmp_path, "b", path_without_git_lfs)
    assert_checked_out(reader, reader.clone(where.git_url, tmp_path / "b"), files)


# -- credentials through a credential helper -------------------------------------


@dataclass(frozen=True)
class Helper:
    """A credential helper script: answers ``get`` from a file it rereads every time,
    and logs each call (never a password)."""

    script: Path
    answers: Path
    log: Path

    def give(self, user: str, password: str) -> None:
        self.answers.write_text(f"username={user}\npassword={password}\n")

    def calls(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    @property
    def config(self) -> str:
        return f"[credential]\n\thelper = {self.script}\n"


def credential_helper(tmp_path: Path, name: str) -> Helper:
    folder = tmp_path / f"helper-{name}"
    folder.mkdir()
    helper = Helper(folder / "helper", folder / "answers", folder / "log")
    helper.script.write_text(
        f"#!/bin/sh\ncat >/dev/null\necho \"$1\" >>'{helper.log}'\n"
        f"if [ \"$1\" = get ]; then cat '{helper.answers}'; fi\n"
    )
    helper.script.chmod(0o755)
    return helper


def assert_never_shown_or_kept(secret: str, user: User, repo: Path) -> None:
    """``secret`` is in no output ``user`` saw and in no file under ``repo/.git``."""
    for output in user.outputs:
        assert secret.encode() not in output, output.decode(errors="replace")
    for path in (repo / ".git").rglob("*"):
        if path.is_file() and path.stat().st_size < 1 << 20:
            assert secret.encode() not in path.read_bytes(), path


def test_credentials_come_from_a_credential_helper(
    lfs_host_auth: LFSHost, tmp_path: Path, path_without_git_lfs: str
) -> None:
    host = lfs_host_auth
    assert host.user and host.password
    versions = history()
    where = endpoint("derived", host, tmp_path)
    helpers = {name: credential_helper(tmp_path, name) for name in "acd"}
    for helper in helpers.values():
        helper.give(host.user, host.password)
    author = git_lfs_user(tmp_path, "a", helpers["a"].config)
    lfs_author_pushes(author, where, tmp_path / "a", versions[:2])
    ours = gitmodel_user(tmp_path, "c", path_without_git_lfs, helpers["c"].config)
    clone = ours.clone(where.git_url, tmp_path / "c")
    assert_checked_out(ours, clone, state(versions[:2]))
    commit(ours, clone, versions[2], "v3")
    ours.git("push", "-q", "origin", "main", cwd=clone)
    assert oids(versions[2]) <= host.objects(where.git_url)
    assert "get" in helpers["c"].calls()
    assert_never_shown_or_kept(host.password, ours, clone)
    reader = git_lfs_user(tmp_path, "d", helpers["d"].config)
    theirs = reader.clone(where.git_url, tmp_path / "d")
    assert_checked_out(reader, theirs, state(versions))


def one_clear_error(proc: subprocess.CompletedProcess[bytes], password: str,
                    prefix: str = "gitmodel: error: ") -> str:  # fmt: skip
    """The one error line of a failed command, which starts with ``prefix``, has a hint
    and shows no password and no traceback. (The filter names the file instead:
    ``gitmodel: smudge PATH: …``.)"""
    text = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode != 0, text
    assert "Traceback" not in text and password not in text, text
    ours = [line for line in text.splitlines() if line.startswith("gitmodel: ")]
    assert len(ours) == 1 and ours[0].startswith(prefix), text
    assert any(line.startswith("hint: ") for line in text.splitlines()), text
    return ours[0]


def test_a_wrong_password_is_one_clear_error(
    lfs_host_auth: LFSHost, tmp_path: Path, path_without_git_lfs: str
) -> None:
    """Git's remote needs no password here, so every failure is the LFS host's."""
    host = lfs_host_auth
    assert host.user and host.password
    versions = history()
    where = endpoint("lfs.url", host, tmp_path)
    good, bad = credential_helper(tmp_path, "a"), credential_helper(tmp_path, "c")
    good.give(host.user, host.password)
    wrong = "wrong-" + host.password
    bad.give(host.user, wrong)
    lfs_author_pushes(git_lfs_user(tmp_path, "a", where.config + good.config), where,
                      tmp_path / "a", versions[:2])  # fmt: skip
    ours = gitmodel_user(tmp_path, "c", path_without_git_lfs, where.config + bad.config)
    clone = tmp_path / "c"
    proc = ours.git("clone", "-q", where.git_url, str(clone), cwd=tmp_path, check=False)
    one_clear_error(proc, wrong, prefix="gitmodel: smudge ")
    assert "erase" in bad.calls()  # the refused credentials were rejected
    bad.give(host.user, host.password)
    ours.git("checkout", "-q", "-f", "main", cwd=clone)
    ours.model("pull", cwd=clone)
    assert_checked_out(ours, clone, state(versions[:2]))
    bad.give(host.user, wrong)
    commit(ours, clone, versions[2], "v3")
    for command in (["git", "push", "-q", "origin", "main"], ["git-model", "push"]):
        proc = subprocess.run(command, cwd=clone, env=ours.env, capture_output=True, check=False)
        ours.outputs += [proc.stdout, proc.stderr]
        line = one_clear_error(proc, wrong)
        assert "401" in line or "credential" in line.lower() or "auth" in line.lower(), line
    assert not oids(versions[2]) & host.objects(where.lfs_url.removesuffix("/info/lfs"))
    assert_never_shown_or_kept(wrong, ours, clone)
    assert_never_shown_or_kept(host.password, ours, clone)


# -- moving a team off git-lfs ---------------------------------------------------


def model_remote_oids(folder: Path) -> set[str]:
    """The objects a file:// model remote holds, in either layout."""
    return {
        path.name for pattern in ("manifests/*/*", "data/*/*/*") for path in folder.glob(pattern)
    }


@pytest.mark.parametrize("to", ["the LFS host", "object storage"])
def test_after_migrating_off_git_lfs_a_teammate_checks_out_old_and_new(
    lfs_host: LFSHost, tmp_path: Path, path_without_git_lfs: str, to: str
) -> None:
    """A git-lfs repository adopted with ``migrate import --from-lfs``: its objects stay
    on the LFS host, or move to object storage (a ``file://`` model remote), reached by
    the next push or by the command migrate names. Then a teammate with only gitmodel,
    and no LFS settings, checks out commits from before and after the migration."""
    versions = history()
    where = endpoint("derived" if to == "the LFS host" else "lfs.url", lfs_host, tmp_path)
    author = git_lfs_user(tmp_path, "a", where.config)
    repo = tmp_path / "a"
    lfs_author_pushes(author, where, repo, versions[:2])
    author.model("install", cwd=repo)  # now both tools
    migrated = author.model("migrate", "import", "--from-lfs", cwd=repo).stdout.decode()
    store = tmp_path / "models"
    clone_options: tuple[str, ...] = ()
    if to == "object storage":
        author.model("remote", "set", "origin", f"file://{store}", cwd=repo)
        clone_options = ("-c", f"remote.origin.modelurl=file://{store}")
    commit(author, repo, versions[2], "v3, with gitmodel")
    author.git("push", "-q", "origin", "main", cwd=repo)

    def reached() -> set[str]:
        if to == "object storage":
            return model_remote_oids(store)
        return lfs_host.objects(where.git_url)

    everything = set().union(*(oids(version) for version in versions))
    if not everything <= reached():
        named = re.search(r"(git model push[^`)\n]*)", migrated)
        assert named, f"migrate neither uploads on the next push nor says what to run:\n{migrated}"
        author.model(*named.group(1).split()[2:], cwd=repo)  # what it says to run
    assert everything <= reached()

    teammate = gitmodel_user(tmp_path, "t", path_without_git_lfs)  # no LFS settings
    clone = teammate.clone(where.git_url, tmp_path / "t", *clone_options)
    assert_checked_out(teammate, clone, state(versions))
    teammate.git("checkout", "-q", "HEAD~2", cwd=clone)  # v2, from before: filter=lfs
    assert_checked_out(teammate, clone, state(versions[:2]))
    teammate.git("checkout", "-q", "HEAD~1", cwd=clone)  # v1
    assert_checked_out(teammate, clone, versions[0])


# -- progress -----------------------------------------------------------------------


def test_push_and_clone_on_an_lfs_host_show_byte_progress(
    lfs_host: LFSHost, tmp_path: Path, path_without_git_lfs: str
) -> None:
    def finished(title: bytes, objects: int) -> re.Pattern[bytes]:
        return re.compile(rb"\r%s: 100%% \(%d/%d\), [\d.]+ (MiB|KiB|B)( \| [^,]+)?, done\."
                          % (title, objects, objects))  # fmt: skip

    url = lfs_host.new_repo()
    author = gitmodel_user(tmp_path, "a", path_without_git_lfs)
    author.env["GIT_MODEL_PROGRESS"] = "1"  # stderr is a pipe here, not a terminal
    repo = author.clone(url, tmp_path / "a")
    author.model("track", "*.bin", cwd=repo)
    files = {"w1.bin": os.urandom(3 << 20), "w2.bin": os.urandom(200_000)}
    commit(author, repo, files, "weights")
    pushed = author.git("push", "origin", "main", cwd=repo).stderr
    assert finished(b"Uploading model objects", 2).search(pushed), pushed
    assert b"3.2 MiB" in pushed  # the bytes of both objects, not a count of files
    reader = gitmodel_user(tmp_path, "b", path_without_git_lfs)
    reader.env["GIT_MODEL_PROGRESS"] = "1"
    cloned = reader.git("clone", url, str(tmp_path / "b"), cwd=tmp_path).stderr
    assert finished(b"Downloading model objects", 2).search(cloned), cloned
    assert_checked_out(reader, tmp_path / "b", files)


def test_a_short_object_file_is_never_uploaded(
    lfs_host: LFSHost, tmp_path: Path, path_without_git_lfs: str
) -> None:
    """A store object cut short on disk: the push names it, says what to run, and sends
    nothing wrong to the host."""
    where = endpoint("derived", lfs_host, tmp_path)
    versions = history()
    lfs_author_pushes(git_lfs_user(tmp_path, "a", where.config), where, tmp_path / "a",
                      versions[:1])  # fmt: skip
    ours = gitmodel_user(tmp_path, "b", path_without_git_lfs, where.config)
    clone = ours.clone(where.git_url, tmp_path / "b", *where.clone_options)
    big = os.urandom(3 << 20)
    commit(ours, clone, {"big.bin": big}, "big")
    oid = hashlib.sha256(big).hexdigest()
    stored = clone / ".git" / "model" / "objects" / oid[:2] / oid[2:4] / oid
    stored.chmod(0o644)
    os.truncate(stored, 1 << 20)
    pushed = ours.git("push", "-q", "origin", "main", cwd=clone, check=False)
    err = pushed.stderr.decode()
    assert pushed.returncode != 0
    assert f"could not upload 1 object(s): {oid}: local object {oid}: expected sha256" in err
    assert "hint: the damaged copy was moved to .git/model/bad/: `git model fsck --repair`" in err
    assert "Traceback" not in err
    assert oid not in lfs_host.objects(where.lfs_url.removesuffix("/info/lfs"))


def test_an_upload_body_is_sent_whole_and_counted_and_a_short_one_refused(
    tmp_path: Path,
) -> None:
    """The body of a PUT, read from the object file through one buffer: every byte
    arrives in order and is counted; a file that ends early (cut short while it was
    sent) stops the upload with the object named."""
    data = os.urandom(3 * SEND_SIZE + 12_345)
    path = tmp_path / "object"
    path.write_bytes(data)

    def send(size: int) -> tuple[bytes, list[int], Exception | None]:
        ours, theirs = socket.socketpair()
        received: list[bytes] = []
        reader = threading.Thread(
            target=lambda: received.extend(iter(lambda: theirs.recv(1 << 16), b""))
        )
        reader.start()
        counts: list[int] = []
        failure = None
        with ours, theirs, open(path, "rb", buffering=0) as source:
            try:
                Upload("ab" * 32, source, size, counts.append).send(ours)
            except LfsError as exc:
                failure = exc
            ours.shutdown(socket.SHUT_WR)
            reader.join()
        return b"".join(received), counts, failure

    body, counts, failure = send(len(data))
    assert failure is None
    assert body == data
    assert sum(counts) == len(data)
    body, counts, failure = send(len(data) + 1)
    assert body == data
    assert sum(counts) == len(data)
    assert failure is not None
    assert f"{'ab' * 32} ended after {len(data)} of {len(data) + 1} bytes" in str(failure)
