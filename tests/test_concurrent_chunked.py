"""Two clones pushing overlapping content to one chunked remote at once: both land, all read."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from gitmodel.pointer import Pointer
from gitmodel.remote import layouts, transfer
from gitmodel.remote.store import RemoteStore
from gitmodel.store.local import LocalStore


def open_remote(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, bucket: str
) -> RemoteStore:
    """A client of the shared remote, as a clone of its own would open it."""
    if kind == "file":
        return RemoteStore(f"file://{tmp_path / 'remote'}")
    endpoint = request.getfixturevalue("s3_endpoint")
    request.getfixturevalue("aws_env")
    options: dict[str, Any] = {"endpoint_url": endpoint, "skip_instance_cache": True}
    return RemoteStore(f"s3://{bucket}/team/repo", options)


def content(store: LocalStore, pointer: Pointer) -> bytes:
    return b"".join(bytes(view) for view in store.read(pointer))  # views of one buffer


def edited(data: bytes, at: int, seed: bytes) -> bytes:
    return data[:at] + hashlib.sha256(seed).digest() * 4 + data[at + 128 :]


def store_with(root: Path, files: list[bytes]) -> tuple[LocalStore, list[Pointer]]:
    store = LocalStore(root)
    pointers = []
    for data in files:
        with store.writer() as writer:
            writer.write(data)
            pointers.append(writer.commit())
    return store, pointers


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_two_overlapping_chunked_pushes_both_land(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    remotes = [open_remote(kind, tmp_path, request, bucket) for _ in range(3)]
    if kind == "s3":
        remotes[0].fs.mkdir(bucket)
    base = os.urandom(3 << 20)
    shared_variant = edited(base, 1 << 20, b"both")
    clones = [
        [base, shared_variant, edited(base, 2 << 20, b"first"), os.urandom(1 << 20)],
        [shared_variant, base, edited(base, 500_000, b"second"), os.urandom(700_000)],
    ]
    stores = [store_with(tmp_path / f"clone{i}", files) for i, files in enumerate(clones)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def push(number: int) -> None:
        store, pointers = stores[number]
        start.wait()
        try:
            transfer.upload(remotes[number], store, pointers, jobs=4, quiet=True)
        except BaseException as exc:  # reported below, with the other push's
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    reader = remotes[2]
    everything = {hashlib.sha256(d).hexdigest(): d for files in clones for d in files}
    pointers = [Pointer(oid, len(data)) for oid, data in everything.items()]
    assert reader.present(everything) == set(everything)
    fresh = LocalStore(tmp_path / "reader")
    transfer.download(reader, fresh, pointers, jobs=4, quiet=True)
    for pointer in pointers:
        assert content(fresh, pointer) == everything[pointer.oid]
        assert layouts.verify(reader, pointer)
    # the shared chunks travelled at most twice (once per racing clone), not once per file
    packed = sum(reader.fs.size(key) for key in reader.fs.find(f"{reader.root}/packs"))
    assert packed < 2 * (len(base) + (1 << 20) + 700_000) + (1 << 20)
