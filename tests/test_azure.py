"""Azure Blob Storage (``az://``, through adlfs) against Azurite on 127.0.0.1: a push and a
fresh clone round-trip; a server that stops answering fails a listing, a read or a whole
command within a few ``model.timeout``; a refused key is one line with a hint, and the
account key never shows. A missing container and an unreachable endpoint are tested with
the other object stores in ``test_backends.py``."""

from __future__ import annotations

import base64
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import AZURITE_KEY, azure_connection_string, git_model, run_git, store_oids
from test_backends import (
    BOUND,
    DEAD,
    FAST,
    assert_one_clean_error,
    config_args,
    configure,
    model_files,
)
from test_remotes import assert_version, author, commit_versions, new_user, origin

from gitmodel.remote.errors import RemoteError
from gitmodel.remote.store import RemoteStore

__all__ = ["author", "origin"]  # fixtures shared with test_remotes


@pytest.fixture
def container(azure_env: str) -> str:
    """A new, empty container on Azurite."""
    import adlfs

    name = f"models-{uuid.uuid4().hex[:12]}"
    adlfs.AzureBlobFileSystem(connection_string=azure_env).mkdir(name)
    return name


def url_of(container: str) -> str:
    return f"az://{container}/team/models"


@pytest.mark.parametrize("chunking", ["true", "false"])
def test_push_and_fresh_clone(author: Path, origin: Path, tmp_path: Path, container: str,
                              chunking: str) -> None:  # fmt: skip
    url = url_of(container)
    git_model("remote", "set", url, cwd=author)
    run_git("config", "model.chunking", chunking, cwd=author)
    history = [model_files() | {"big.bin": os.urandom((16 << 20) + 4096)}, model_files()]
    commit_versions(author, history)  # big.bin: more than one 16 MiB block
    run_git("push", "-q", "origin", "main", cwd=author)
    assert not (origin / "model").exists()  # the objects went to Azure
    env = new_user(tmp_path, "b")  # the connection string comes from the environment
    clone = tmp_path / "b"
    run_git("clone", "-q", "-c", f"remote.origin.modelurl={url}", str(origin), str(clone),
            cwd=tmp_path, env=env)  # fmt: skip
    assert_version(clone, history[0] | history[1])
    run_git("checkout", "-q", "main~1", cwd=clone, env=env)
    assert_version(clone, history[0])
    assert len(store_oids(clone)) == 5
    usage = git_model("du", cwd=clone, env=env).stdout.decode()
    assert url in usage and re.search(r"objects +5\n", usage), usage


# -- a server that stops answering


class Relay:
    """A TCP relay on 127.0.0.1 to ``port`` that can fall silent, as a hung server does:
    once :meth:`silence` is called it still takes connections and bytes, on connections
    already open and new ones, and passes nothing on, so nothing is ever answered."""

    def __init__(self, port: int) -> None:
        self._upstream = port
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._sockets: list[socket.socket] = [self._server]
        self._silent = threading.Event()
        self._stop = threading.Event()
        self.port = int(self._server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def silence(self) -> None:
        self._silent.set()

    def close(self) -> None:
        self._stop.set()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client = self._server.accept()[0]
            except OSError:
                continue
            self._sockets.append(client)
            if self._silent.is_set():
                continue  # held open, never read
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            self._sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                if not self._silent.is_set():
                    sink.sendall(data)
        except OSError:
            pass


@pytest.fixture
def relay(azurite_endpoint: str) -> Iterator[Relay]:
    relay = Relay(int(azurite_endpoint.rsplit(":", 1)[1]))
    yield relay
    relay.close()


@pytest.fixture
def through_relay(relay: Relay, container: str, monkeypatch: pytest.MonkeyPatch) -> Relay:
    """The Azure connection string names ``relay``, in front of Azurite."""
    connection_string = azure_connection_string(f"http://127.0.0.1:{relay.port}")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    return relay


def bounded(call: Callable[[], object]) -> float:
    """Seconds until ``call`` raised RemoteError saying it gave up."""
    started = time.monotonic()
    with pytest.raises(RemoteError, match="gave up after"):
        call()
    return time.monotonic() - started


def test_a_listing_and_a_read_are_bounded_by_the_timeout(container: str,
                                                         through_relay: Relay) -> None:  # fmt: skip
    def store(timeout: float = 0.25, retry_timeout: float = 0.5) -> RemoteStore:
        return RemoteStore(url_of(container), timeout=timeout, retry_timeout=retry_timeout,
                           first_delay=0.05)  # fmt: skip

    remote = store(1.0, 2.0)  # while the server answers, under load too
    remote.ensure_layout(2)
    oid = "a" * 64
    remote.write(remote.manifest_key(oid), b"x" * 100)
    assert remote.present([oid]) == {oid}  # connections to the server are open now
    through_relay.silence()
    # 1 s a try, none started 2 s after the first failed: about 3 s
    assert bounded(lambda: remote.present([oid])) < 6  # a listing, on an open connection
    # new stores, 0.25 s a try, none started 0.5 s after the first failed: about 1 s
    assert bounded(lambda: store().read(remote.manifest_key(oid), 0, 50)) < 6  # a read
    assert bounded(lambda: store().list_objects()) < 6  # a recursive listing
    assert bounded(lambda: store().exists(remote.manifest_key(oid))) < 6


def test_commands_against_a_server_that_stopped_answering_fail_within_the_bound(
    author: Path, origin: Path, tmp_path: Path, container: str, through_relay: Relay
) -> None:
    settings = {"remote.origin.modelurl": url_of(container)} | FAST
    configure(author, settings)
    commit_versions(author, [model_files()])
    run_git("push", "-q", "origin", "main", cwd=author)
    through_relay.silence()
    settings |= DEAD  # nothing answers from here on
    configure(author, settings)
    for command in (["du"], ["push", "--all"]):
        started = time.monotonic()
        proc = git_model(*command, cwd=author, check=False)
        assert time.monotonic() - started < BOUND
        assert proc.returncode == 1
        assert_one_clean_error(proc.stderr, url_of(container), "gave up after")
    env = new_user(tmp_path, "c")
    started = time.monotonic()
    proc = run_git("clone", "-q", *config_args(settings), str(origin), str(tmp_path / "c"),
                   cwd=tmp_path, env=env, check=False)  # fmt: skip
    assert time.monotonic() - started < BOUND
    assert proc.returncode != 0
    assert b"gave up after" in proc.stderr and b"Traceback" not in proc.stderr


# -- credentials


@pytest.mark.parametrize("key", [
    base64.b64encode(b"marker-account-key".ljust(64, b"-")).decode(),  # another account's
    "marker-account-key-that-is-not-base64",
])  # fmt: skip
def test_a_refused_key_is_one_line_and_never_shown(
    author: Path, container: str, key: str, azurite_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       azure_connection_string(azurite_endpoint, key))  # fmt: skip
    configure(author, {"remote.origin.modelurl": url_of(container)})
    commit_versions(author, [model_files()])
    for command in (["push"], ["du"]):
        proc = git_model(*command, cwd=author, check=False)
        assert proc.returncode == 1
        assert_one_clean_error(proc.stderr, f"{url_of(container)}: access denied",
                               "hint: check the Azure credentials")  # fmt: skip
        assert key.encode() not in proc.stdout + proc.stderr


def test_the_account_key_never_shows(author: Path, origin: Path, tmp_path: Path,
                                     container: str, azurite_endpoint: str) -> None:  # fmt: skip
    configure(author, {"remote.origin.modelurl": url_of(container)})
    commit_versions(author, [model_files()])
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    outputs = [run_git("push", "origin", "main", cwd=author, env=env)]
    outputs += [git_model(*command, cwd=author, env=env) for command in (["env"], ["remote"])]
    missing = {"remote.origin.modelurl": url_of("missing-" + uuid.uuid4().hex[:12])}
    configure(author, missing)
    outputs.append(git_model("du", cwd=author, env=env, check=False))
    assert outputs[-1].returncode == 1
    for proc in outputs:
        assert AZURITE_KEY.encode() not in proc.stdout + proc.stderr
    objects = run_git("cat-file", "--batch-all-objects", "--batch", cwd=author).stdout
    assert AZURITE_KEY.encode() not in objects
