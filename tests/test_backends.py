"""Each storage backend reached for real on 127.0.0.1: a missing bucket, refused
credentials and an endpoint that never answers fail fast with one clear line; SFTP
(through sshfs and a real sshd) round-trips despite the backend's quirks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest
from conftest import (
    SSHServer,
    azure_connection_string,
    free_port,
    git_model,
    loopback_server,
    run_git,
    store_oids,
)
from fsspec.implementations.memory import MemoryFileSystem
from test_remotes import assert_version, author, commit_versions, new_user, origin

from gitmodel.remote import backends
from gitmodel.remote.config import _backend_options
from gitmodel.remote.errors import RemoteError
from gitmodel.remote.faults import ENV
from gitmodel.remote.store import RemoteStore

__all__ = ["author", "origin"]  # fixtures shared with test_remotes

# every request bounded by 1 s, no retry started 2 s after the first failure
FAST = {"model.timeout": "1", "model.retryTimeout": "2", "model.retryDelay": "0.05"}
# for an endpoint that never answers, where no request could succeed: tighter still, so
# that each command waits about 1 s (the defaults, 30 s and 60 s, are far past BOUND)
DEAD = {"model.timeout": "0.25", "model.retryTimeout": "0.5", "model.retryDelay": "0.05"}
BOUND = 20.0  # seconds: the tries above and a process start or two, with room to spare


def configure(repo: Path, settings: dict[str, str]) -> None:
    for key, value in settings.items():
        run_git("config", key, value, cwd=repo)


def config_args(settings: dict[str, str]) -> list[str]:
    return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]


def assert_one_clean_error(stderr: bytes, *expected: str) -> None:
    """One ``gitmodel: error:`` line and its hint: no traceback, no backend's log lines."""
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("gitmodel: error:")] == lines[:1], text
    assert len(lines) <= 2 and (len(lines) < 2 or lines[1].startswith("hint: ")), text
    for words in expected:
        assert words in text, text


def model_files() -> dict[str, bytes]:
    return {"model.bin": os.urandom(200_000), "data/a.bin": os.urandom(3000)}


# -- object stores: S3 (moto), GCS (gcp-storage-emulator) and Azure (Azurite)


@dataclass(frozen=True)
class ObjectStore:
    scheme: str
    endpoint: str
    monkeypatch: pytest.MonkeyPatch

    @property
    def bucket(self) -> str:
        return "container" if self.scheme == "az" else "bucket"

    def url(self, bucket: str) -> str:
        return f"{self.scheme}://{bucket}/team/models"

    def settings(self, bucket: str, endpoint: str | None = None) -> dict[str, str]:
        """The Git config of a remote in ``bucket`` at ``endpoint``; Azure's endpoint is
        part of the connection string in the environment, so that is set here."""
        endpoint = endpoint or self.endpoint
        if self.scheme == "az":
            self.monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                                    azure_connection_string(endpoint))  # fmt: skip
            return {"remote.origin.modelurl": self.url(bucket)}
        return {"remote.origin.modelurl": self.url(bucket),
                "remote.origin.modelendpoint": endpoint}  # fmt: skip


@pytest.fixture(params=["s3", "gs", "az"])
def object_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    env, endpoint = {"s3": ("aws_env", "s3_endpoint"), "gs": ("gcs_env", "gcs_endpoint"),
                     "az": ("azure_env", "azurite_endpoint")}[request.param]  # fmt: skip
    request.getfixturevalue(env)
    return ObjectStore(request.param, request.getfixturevalue(endpoint), monkeypatch)


def test_missing_bucket_is_named_with_a_hint(author: Path, origin: Path, tmp_path: Path,
                                             object_store: ObjectStore) -> None:  # fmt: skip
    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    settings = object_store.settings(bucket)
    configure(author, settings)
    commit_versions(author, [model_files()])
    expected = f"{object_store.url(bucket)}: {object_store.bucket} '{bucket}' does not exist"
    for command in (["push"], ["du"]):
        proc = git_model(*command, cwd=author, check=False)
        assert proc.returncode == 1
        assert_one_clean_error(proc.stderr, expected, "hint: create it")
    run_git("push", "-q", "--no-verify", "origin", "main", cwd=author)  # the commits only
    env = new_user(tmp_path, "b")
    proc = run_git("clone", "-q", *config_args(settings), str(origin), str(tmp_path / "b"),
                   cwd=tmp_path, env=env, check=False)  # fmt: skip
    assert proc.returncode != 0
    assert expected.encode() in proc.stderr and b"Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def s3_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto checking every request's signature against its (empty) set of users."""
    pytest.importorskip("moto.server")
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "PORT"]
    with loopback_server(tmp_path_factory, "moto-auth", command, env) as port:
        yield f"http://127.0.0.1:{port}"


def test_refused_credentials_are_one_line_with_a_hint(
    author: Path, s3_with_auth: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wJalrXUtnFEMI-not-a-real-secret"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    configure(author, ObjectStore("s3", s3_with_auth, monkeypatch).settings("models"))
    commit_versions(author, [model_files()])
    for command in (["push"], ["du"]):
        proc = git_model(*command, cwd=author, check=False)
        assert proc.returncode == 1
        assert_one_clean_error(proc.stderr, "s3://models/team/models: access denied",
                               "hint: check the AWS credentials")  # fmt: skip
        assert secret.encode() not in proc.stderr


# -- an endpoint that never answers, or refuses connections


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never sends a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in [*held, server]:
        conn.close()


@pytest.fixture(params=["black hole", "closed port"])
def dead_endpoint(request: pytest.FixtureRequest) -> str:
    port = request.getfixturevalue("black_hole") if request.param == "black hole" else free_port()
    return f"http://127.0.0.1:{port}"


def test_unreachable_endpoint_fails_within_the_bound(
    author: Path, origin: Path, tmp_path: Path, object_store: ObjectStore, dead_endpoint: str
) -> None:
    settings = object_store.settings("models", dead_endpoint) | DEAD
    configure(author, settings)
    commit_versions(author, [model_files()])
    for command in (["du"], ["push"]):
        started = time.monotonic()
        proc = git_model(*command, cwd=author, check=False)
        assert time.monotonic() - started < BOUND
        assert proc.returncode == 1
        assert_one_clean_error(proc.stderr, object_store.url("models"), "gave up after")
    run_git("push", "-q", "--no-verify", "origin", "main", cwd=author)
    env = new_user(tmp_path, "c")
    started = time.monotonic()
    proc = run_git("clone", "-q", *config_args(settings), str(origin), str(tmp_path / "c"),
                   cwd=tmp_path, env=env, check=False)  # fmt: skip
    assert time.monotonic() - started < BOUND  # two files: the second does not wait again
    assert proc.returncode != 0
    assert b"gave up after" in proc.stderr and b"Traceback" not in proc.stderr


def test_retries_stop_at_the_deadline_and_the_remote_stays_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "fail=1")  # every call fails, as with a remote that is down
    waits: list[float] = []
    remote = RemoteStore(f"memory://down-{uuid.uuid4().hex}", sleep=waits.append, tries=100,
                         first_delay=1.0, retry_timeout=5.0)  # fmt: skip
    with pytest.raises(RemoteError, match=r"injected fault in exists \(gave up after") as first:
        remote.exists(f"{remote.root}/x")
    # waits of 1 s doubling (with jitter): none that would end past the 5 s is taken
    assert 2 <= len(waits) <= 4 and max(waits) <= 5.0
    with pytest.raises(RemoteError) as again:
        remote.exists(f"{remote.root}/y")
    assert str(again.value) == str(first.value) and len(waits) <= 4  # no tries, no waits


# -- ranged reads are checked


class RangelessFileSystem(MemoryFileSystem):  # type: ignore[misc]
    """An in-memory filesystem whose ``cat_file`` ignores the range, as sshfs's does."""

    protocol = "rangeless"
    ranged_calls = 0

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:  # fmt: skip
        if start is not None:
            type(self).ranged_calls += 1
        return bytes(super().cat_file(path))


def test_a_backend_that_ignores_ranges_is_read_with_seek() -> None:
    fsspec.register_implementation("rangeless", RangelessFileSystem, clobber=True)
    remote = RemoteStore(f"rangeless://pack-{uuid.uuid4().hex}")
    data = os.urandom(100_000)
    remote.write(f"{remote.root}/pack", data)
    RangelessFileSystem.ranged_calls = 0
    assert remote.read(f"{remote.root}/pack", 1000, 3000) == data[1000:3000]
    assert remote.read(f"{remote.root}/pack", 50_000, 50_010) == data[50_000:50_010]
    assert RangelessFileSystem.ranged_calls == 1  # remembered: asked for a range once only


def test_s3_ranges_are_read_into_one_buffer_exactly(aws_env: None, s3_endpoint: str) -> None:
    """Ranged S3 reads go through gitmodel's own buffered read: the exact bytes, across
    the pieces it reads them in; a range past the end gives what there is (and the store
    retries a short read, then fails), never more than asked."""
    bucket = f"ranges-{uuid.uuid4().hex[:12]}"
    remote = RemoteStore(f"s3://{bucket}/r", {"endpoint_url": s3_endpoint},
                         tries=2, first_delay=0.01)  # fmt: skip
    remote.fs.mkdir(bucket)
    data = os.urandom(3 * backends.S3_READ_PIECE + 12_345)
    key = f"{remote.root}/pack"
    remote.write(key, data)
    piece = backends.S3_READ_PIECE
    ends = len(data) - 10, len(data)
    for start, end in [(0, len(data)), (1, 2), (piece - 7, 2 * piece + 9), ends]:
        assert remote.read(key, start, end) == data[start:end]
    assert remote.read(key, len(data) - 5, len(data) + 100, exact=False) == data[-5:]
    with pytest.raises(RemoteError, match="5 of 105 bytes arrived"):
        remote.read(key, len(data) - 5, len(data) + 100)
    with pytest.raises(FileNotFoundError):
        remote.read(f"{remote.root}/absent", 0, 10)


# -- SFTP through sshfs, against a real sshd


@pytest.fixture
def ssh_client(sshd: SSHServer, isolated_git: Path) -> SSHServer:
    pytest.importorskip("sshfs")
    sshd.write_client_config(isolated_git)
    return sshd


def sftp_user(tmp_path: Path, sshd: SSHServer, name: str) -> dict[str, str]:
    env = new_user(tmp_path, name)
    sshd.write_client_config(Path(env["HOME"]))
    return env


@pytest.mark.parametrize("chunking", ["true", "false"])
def test_sftp_push_and_fresh_clone(author: Path, origin: Path, tmp_path: Path,
                                   ssh_client: SSHServer, chunking: str) -> None:  # fmt: skip
    url = f"sftp://127.0.0.1{tmp_path / 'sftp-store'}"
    configure(author, {"remote.origin.modelurl": url, "model.chunking": chunking})
    history = [model_files() | {"big.bin": os.urandom((16 << 20) + 4096)}, model_files()]
    commit_versions(author, history)  # big.bin: more than one 16 MiB part
    run_git("push", "-q", "origin", "main", cwd=author)
    assert (tmp_path / "sftp-store" / "gitmodel-remote.json").is_file()
    env = sftp_user(tmp_path, ssh_client, "d")
    clone = tmp_path / "d"
    run_git("clone", "-q", "-c", f"remote.origin.modelurl={url}", str(origin), str(clone),
            cwd=tmp_path, env=env)  # fmt: skip
    assert_version(clone, history[0] | history[1])
    run_git("checkout", "-q", "main~1", cwd=clone, env=env)
    assert_version(clone, history[0])
    assert len(store_oids(clone)) == 5


def test_sftp_host_key_and_user_key_are_checked(author: Path, tmp_path: Path,
                                                ssh_client: SSHServer,
                                                isolated_git: Path) -> None:  # fmt: skip
    url = f"sftp://127.0.0.1{tmp_path / 'sftp-store'}"
    configure(author, {"remote.origin.modelurl": url})
    known_hosts = isolated_git / ".ssh" / "known_hosts"
    known_hosts.write_text("")
    proc = git_model("du", cwd=author, check=False)
    assert proc.returncode == 1
    assert_one_clean_error(proc.stderr, "SSH host key is not trusted", "hint: check it")
    known_hosts.write_text(ssh_client.host_key_line + "\n")
    other_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)],
                   check=True, capture_output=True)  # fmt: skip
    config = isolated_git / ".ssh" / "config"
    config.write_text(config.read_text().replace(str(ssh_client.key), str(other_key)))
    proc = git_model("du", cwd=author, check=False)
    assert proc.returncode == 1
    assert_one_clean_error(proc.stderr, "access denied", "hint: check the SSH user and key")


def test_unreachable_sftp_fails_within_the_bound(author: Path, ssh_client: SSHServer,
                                                 black_hole: int) -> None:  # fmt: skip
    configure(author, {"remote.origin.modelurl": f"sftp://127.0.0.1:{black_hole}/srv"} | DEAD)
    started = time.monotonic()
    proc = git_model("du", cwd=author, check=False)
    assert time.monotonic() - started < BOUND
    assert proc.returncode == 1
    assert_one_clean_error(proc.stderr, "gave up after")


def test_ssh_options_never_come_from_git_config() -> None:
    settings = {"endpoint_url": "http://x", "profile": "p", "region": "r"}
    assert _backend_options("sftp", settings) == {}
    assert _backend_options("gs", settings) == {"endpoint_url": "http://x"}
    assert _backend_options("s3", settings) == {
        "endpoint_url": "http://x", "profile": "p", "client_kwargs": {"region_name": "r"},
    }  # fmt: skip


def _no_such_name() -> socket.gaierror:
    """The resolver's own "no such name", got without asking any server."""
    try:
        socket.getaddrinfo("no-such-host", 22, flags=socket.AI_NUMERICHOST)
    except socket.gaierror as exc:
        return exc
    raise AssertionError("a name is not a numeric host")


class _DNSError(OSError):
    """Like aiohttp's ClientConnectorDNSError: the resolver's error kept as ``os_error``."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__("Cannot connect to host no-such-host:443")
        self.os_error = os_error


def test_a_name_that_does_not_exist_is_not_retried() -> None:
    """No retry finds a host name the resolver says does not exist (eight tries of an SFTP
    remote took 19 s); a temporary failure of the resolver is still retried."""
    missing = _no_such_name()
    assert missing.errno == socket.EAI_NONAME
    assert backends.is_unresolvable(missing)
    assert backends.is_unresolvable(_DNSError(missing))
    try:
        raise RuntimeError("Could not connect to the endpoint URL") from missing
    except RuntimeError as wrapped:  # botocore's, with the resolver's error as its cause
        assert backends.is_unresolvable(wrapped)
    assert not backends.is_unresolvable(socket.gaierror(socket.EAI_AGAIN, "try again"))
    assert not backends.is_unresolvable(ConnectionRefusedError())
