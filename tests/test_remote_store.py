"""One contract for every remote backend: a local directory, memory, and S3 on loopback."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from test_store import put

from gitmodel.errors import ChecksumError, UserError
from gitmodel.remote import layouts, whole
from gitmodel.remote.errors import RemoteError, RemoteObjectDamaged, RemoteObjectMissing
from gitmodel.remote.store import LAYOUT_FILE, RemoteStore
from gitmodel.store.local import LocalStore
from gitmodel.urls import redact


def make_remote(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> RemoteStore:
    if kind == "file":
        return RemoteStore(f"file://{tmp_path / 'remote'}")
    if kind == "memory":
        return RemoteStore(f"memory://gitmodel-{uuid.uuid4().hex}")
    endpoint = request.getfixturevalue("s3_endpoint")
    request.getfixturevalue("aws_env")
    options: dict[str, Any] = {"endpoint_url": endpoint}
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    remote = RemoteStore(f"s3://{bucket}/team/repo", options)
    remote.fs.mkdir(bucket)
    return remote


@pytest.fixture(params=["file", "memory", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> RemoteStore:
    return make_remote(request.param, tmp_path, request)


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "local")


def test_upload_then_download_elsewhere(remote: RemoteStore, local: LocalStore, tmp_path: Path
                                        ) -> None:  # fmt: skip
    data = os.urandom(3_000_000)
    pointer = put(local, data)
    remote.check_layout()
    whole.upload(remote, local, pointer)
    whole.upload(remote, local, pointer)  # idempotent
    assert remote.present([pointer.oid, "f" * 64]) == {pointer.oid}
    other = LocalStore(tmp_path / "other")
    layouts.download(remote, other, pointer)
    assert other.open(pointer.oid).read() == data
    remote.check_layout()
    layout = json.loads(remote.fs.cat_file(f"{remote.root}/{LAYOUT_FILE}"))
    assert layout == {"layout": 1}


def test_present_answers_many_in_few_listings(remote: RemoteStore, local: LocalStore) -> None:
    pointers = [put(local, b"object %d" % i) for i in range(20)]
    for pointer in pointers[:10]:
        whole.upload(remote, local, pointer)
    asked = [p.oid for p in pointers]
    assert remote.present(asked) == {p.oid for p in pointers[:10]}
    assert remote.present([]) == set()


def test_bytes_without_manifest_are_invisible(remote: RemoteStore, local: LocalStore,
                                              tmp_path: Path) -> None:  # fmt: skip
    pointer = put(local, b"half uploaded")
    key = remote.data_key(pointer.oid)
    remote.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
    remote.fs.pipe_file(key, b"half uploaded")  # a push that died before its manifest
    assert remote.present([pointer.oid]) == set()  # so a push sends it again
    other = LocalStore(tmp_path / "other")
    layouts.download(remote, other, pointer)  # yet complete bytes are proven by their sha256
    assert other.has(pointer.oid)
    with pytest.raises(RemoteObjectMissing, match="does not have"):
        layouts.download(remote, other, put(local, b"never pushed"))
    whole.upload(remote, local, pointer)  # a rerun completes it
    assert remote.present([pointer.oid]) == {pointer.oid}


@pytest.mark.parametrize("size", [100_000, 9 << 20], ids=["one-request", "streamed"])
def test_flipped_byte_is_refused(remote: RemoteStore, local: LocalStore, tmp_path: Path,
                                 size: int) -> None:  # fmt: skip
    data = os.urandom(size)
    pointer = put(local, data)
    whole.upload(remote, local, pointer)
    flipped = bytes([data[0] ^ 1]) + data[1:]
    remote.fs.pipe_file(remote.data_key(pointer.oid), flipped)
    other = LocalStore(tmp_path / "other")
    with pytest.raises(ChecksumError, match=pointer.oid):
        layouts.download(remote, other, pointer)
    assert not other.has(pointer.oid)
    assert list(other.tmp_dir.glob("*")) == []


def test_longer_data_is_refused(remote: RemoteStore, local: LocalStore, tmp_path: Path) -> None:
    pointer = put(local, b"short")
    whole.upload(remote, local, pointer)
    remote.fs.pipe_file(remote.data_key(pointer.oid), b"short" + b"x" * 5_000_000)
    with pytest.raises(RemoteObjectDamaged, match="longer than the 5 bytes"):
        layouts.download(remote, LocalStore(tmp_path / "other"), pointer)


def test_manifest_content_is_never_trusted(remote: RemoteStore, local: LocalStore,
                                           tmp_path: Path) -> None:  # fmt: skip
    pointer = put(local, b"content")
    whole.upload(remote, local, pointer)
    lie = {"oid": pointer.oid, "size": 10**12, "kind": "whole", "data": "../../etc/passwd"}
    remote.fs.pipe_file(remote.manifest_key(pointer.oid), json.dumps(lie).encode())
    other = LocalStore(tmp_path / "other")
    # keys come from the oid; the bytes are proven by sha256
    layouts.download(remote, other, pointer)
    assert other.open(pointer.oid).read() == b"content"


def test_interrupted_upload_reads_as_missing(remote: RemoteStore, local: LocalStore,
                                            tmp_path: Path) -> None:  # fmt: skip
    pointer = put(local, b"the whole object")
    key = remote.data_key(pointer.oid)
    remote.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
    remote.fs.pipe_file(key, b"the whole")  # died mid-write on a filesystem remote
    with pytest.raises(RemoteObjectMissing, match="interrupted push"):
        layouts.download(remote, LocalStore(tmp_path / "other"), pointer)


def test_large_objects_stream_in_parts(remote: RemoteStore, local: LocalStore,
                                       tmp_path: Path) -> None:  # fmt: skip
    data = os.urandom(40 << 20)  # over the 16 MiB part size and the 8 MiB single-read limit
    pointer = put(local, data)
    whole.upload(remote, local, pointer)
    other = LocalStore(tmp_path / "other")
    layouts.download(remote, other, pointer)
    assert other.open(pointer.oid).read() == data


def test_newer_layout_is_refused(remote: RemoteStore) -> None:
    key = f"{remote.root}/{LAYOUT_FILE}"
    remote.fs.makedirs(remote.root, exist_ok=True)
    remote.fs.pipe_file(key, json.dumps({"layout": 99}).encode())
    with pytest.raises(UserError, match="layout 99"):
        remote.check_layout()


@pytest.mark.parametrize("oid", ["../../../etc/passwd", "A" * 64, ""])
def test_keys_never_come_from_bad_oids(remote: RemoteStore, oid: str) -> None:
    with pytest.raises(ValueError):
        remote.data_key(oid)
    with pytest.raises(ValueError):
        remote.present([oid])


def test_transient_failures_are_retried(local: LocalStore, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    sleeps: list[float] = []
    remote = RemoteStore(f"file://{tmp_path / 'remote'}", sleep=sleeps.append)
    pointer = put(local, b"flaky network")
    real = remote.fs.pipe_file
    failures = iter([ConnectionResetError("reset"), TimeoutError("slow")])

    def flaky(*args: Any, **kwargs: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(remote.fs, "pipe_file", flaky)
    whole.upload(remote, local, pointer)
    assert remote.present([pointer.oid]) == {pointer.oid}
    assert len(sleeps) == 2 and 0.1 <= sleeps[0] <= 0.25 and sleeps[1] <= 0.5


def test_permanent_failure_is_one_clear_error(local: LocalStore, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)  # fsspec reads "user:…@/path" as a relative path
    remote = RemoteStore("file://user:hunter2@" + str(tmp_path / "r"), sleep=lambda _: None)
    pointer = put(local, b"never arrives")

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(remote.fs, "open", down)
    with pytest.raises(RemoteError) as info:
        whole.upload(remote, local, pointer)
    assert "connection refused" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_unknown_scheme_is_a_user_error() -> None:
    with pytest.raises(UserError, match="cannot use remote"):
        RemoteStore("nosuchscheme://bucket/x")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("s3://bucket/path", "s3://bucket/path"),
        ("https://user:secret@host/p?X-Amz-Signature=abc&x=1", "https://***@host/p?X-Amz-Signature=***&x=1"),
        ("az://container/p?sig=s3cr3t", "az://container/p?sig=***"),
    ],
)  # fmt: skip
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_object_storage_writes_need_no_folder_requests(
    kind: str, local: LocalStore, tmp_path: Path, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from gitmodel.remote import transfer
    from gitmodel.remote.faults import COUNT_ENV

    log = tmp_path / "count.log"
    monkeypatch.setenv(COUNT_ENV, str(log))
    remote = make_remote(kind, tmp_path, request)
    pointer = put(local, os.urandom(300_000))
    transfer.upload(remote, local, [pointer], quiet=True)
    calls = [line.split()[0] for line in log.read_text().splitlines()]
    writes = calls.count("pipe_file")
    assert writes == 4  # the layout file, a pack, its index, the manifest
    assert calls.count("makedirs") == (0 if kind == "s3" else writes)
    other = LocalStore(tmp_path / "other")
    layouts.download(remote, other, pointer)
    assert other.open(pointer.oid).read() == local.open(pointer.oid).read()


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("kind", ["random", "text"])
def test_packs_round_trip_raw_compressed_and_encrypted_chunks(
    encrypted: bool, kind: str, local: LocalStore, tmp_path: Path
) -> None:
    from gitmodel.remote import transfer

    key = os.urandom(32) if encrypted else None
    remote = RemoteStore(f"file://{tmp_path / 'remote'}", key=key)
    lines = b"".join(b"%d,user%d,alpha beta,%d\n" % (i, i % 977, i * 7) for i in range(200_000))
    data = os.urandom(3 << 20) if kind == "random" else lines
    pointer = put(local, data)
    transfer.upload(remote, local, [pointer], quiet=True)
    packs = sum(p.stat().st_size for p in (tmp_path / "remote" / "packs").rglob("*") if p.is_file())
    if kind == "text":
        assert packs < len(data) // 2  # zstd paid
    else:
        assert len(data) <= packs <= len(data) + (28 << 10 if encrypted else 0)  # 28 B a chunk
    other = LocalStore(tmp_path / "other")
    layouts.download(RemoteStore(f"file://{tmp_path / 'remote'}", key=key), other, pointer)
    assert other.open(pointer.oid).read() == data


def test_many_packs_reuse_buffers_without_mixing_them(
    local: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitmodel.remote import chunked, transfer

    monkeypatch.setattr(chunked, "PACK_TARGET", 256 << 10)  # ~40 packs, buffers reused
    pointers = [put(local, os.urandom((2 << 20) + i)) for i in range(3)]
    remote = RemoteStore(f"file://{tmp_path / 'remote'}")
    transfer.upload(remote, local, pointers, quiet=True)
    packs = [p for p in (tmp_path / "remote" / "packs").rglob("*") if p.is_file()]
    assert len(packs) > 16
    for pack in packs:  # each pack is named after its own bytes
        assert blake3(pack.read_bytes()).hexdigest() == pack.name
    other = LocalStore(tmp_path / "other")
    for pointer in pointers:
        layouts.download(remote, other, pointer)
        assert other.open(pointer.oid).read() == local.open(pointer.oid).read()
