"""Connections an upload to an LFS host uses: after a large body, the host that took it
verifies it on a new connection, which the next requests go on (the body's is closed)."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmodel.pointer import Pointer
from gitmodel.remote import lfs
from gitmodel.remote.lfs import LfsRemote
from gitmodel.store.local import LocalStore

LARGE = 64 << 20  # lfs.FRESH_VERIFY_SIZE


class Host(http.server.ThreadingHTTPServer):
    """A Batch API with ``basic`` upload and verify actions on itself; it records, for each
    request, its path and the client's port (one port per connection)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, int]] = []
        self.stored: dict[str, int] = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Host

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict[str, object] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", lfs.MEDIA_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers["Content-Length"])
        left, parts = length, []
        while left:
            part = self.rfile.read(min(left, 1 << 20))
            assert part
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def do_POST(self) -> None:
        self.server.seen.append((self.path, self.client_address[1]))
        request = json.loads(self._body())
        if self.path.endswith("/verify"):
            ok = self.server.stored.get(request["oid"]) == request["size"]
            self._answer(200 if ok else 404, {})
            return
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        objects = [{"oid": o["oid"], "size": o["size"], "actions": {
            "upload": {"href": f"{base}/store/{o['oid']}"},
            "verify": {"href": f"{base}/verify"}}} for o in request["objects"]]  # fmt: skip
        self._answer(200, {"transfer": "basic", "objects": objects})

    def do_PUT(self) -> None:
        self.server.seen.append((self.path, self.client_address[1]))
        self.server.stored[self.path.rsplit("/", 1)[1]] = len(self._body())
        self._answer(200)


@pytest.fixture
def host() -> Iterator[Host]:
    server = Host()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def stored(store: LocalStore, data: bytes) -> Pointer:
    writer = store.writer()
    writer.write(data)
    return writer.commit()


def test_a_large_body_is_verified_on_a_new_connection_and_a_small_one_on_its_own(
    host: Host, tmp_path: Path
) -> None:
    assert lfs.FRESH_VERIFY_SIZE == LARGE
    store = LocalStore(tmp_path / "model")
    small = stored(store, os.urandom(1000))
    large = stored(store, os.urandom(LARGE))
    remote = LfsRemote(f"http://127.0.0.1:{host.server_address[1]}/org/repo.git/info/lfs")
    assert remote.upload(store, small)
    assert remote.upload(store, large)
    assert host.stored == {small.oid: small.size, large.oid: large.size}
    kinds = [(path.rsplit("/", 1)[-1][:5], port) for path, port in host.seen]
    batch, put_small, verify_small, batch2, put_large, verify_large = (p for _, p in kinds)
    assert [kind for kind, _ in kinds] == ["batch", small.oid[:5], "verif", "batch",
                                           large.oid[:5], "verif"]  # fmt: skip
    # one connection for the batch, the small body and its verify, then the large body
    assert batch == put_small == verify_small == batch2 == put_large
    assert verify_large != put_large  # verified on another connection, which goes on
    later = stored(store, os.urandom(1000))
    assert remote.upload(store, later)
    assert {port for _, port in host.seen[len(kinds) :]} == {verify_large}
