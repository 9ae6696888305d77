"""What fsck, prune and gc ask of the stores, on every remote backend (directory, memory, S3)."""

from __future__ import annotations

import json
import os

import pytest
from test_remote_store import local, remote  # noqa: F401  (fixtures)
from test_store import put

from gitmodel.pointer import Pointer
from gitmodel.remote import layouts, whole
from gitmodel.remote.store import RemoteStore
from gitmodel.store.local import LocalStore


def test_local_oids_size_and_remove(local: LocalStore) -> None:  # noqa: F811
    pointers = [put(local, b"object %d" % i) for i in range(3)]
    (local.objects_dir / "ab" / "cd").mkdir(parents=True)
    (local.objects_dir / "ab" / "cd" / "not-an-oid").write_bytes(b"stray")
    assert sorted(local.oids()) == sorted(p.oid for p in pointers)
    assert local.size(pointers[0].oid) == len(b"object 0")
    local.remove({pointers[0].oid})
    local.remove({pointers[0].oid})  # absent: no error
    assert sorted(local.oids()) == sorted(p.oid for p in pointers[1:])
    with pytest.raises(ValueError):
        local.remove({"../../x"})


def test_list_verify_delete(remote: RemoteStore, local: LocalStore) -> None:  # noqa: F811
    assert remote.list_objects() == {}
    kept, dropped = put(local, os.urandom(5000)), put(local, b"dropped")
    for pointer in (kept, dropped):
        whole.upload(remote, local, pointer)
    half = put(local, b"bytes without a manifest")
    remote.fs.makedirs(remote.data_key(half.oid).rsplit("/", 1)[0], exist_ok=True)
    remote.fs.pipe_file(remote.data_key(half.oid), b"bytes without a manifest")
    assert remote.list_objects() == {kept.oid: 5000, dropped.oid: 7}
    assert layouts.verify(remote, kept)
    assert not layouts.verify(remote, half)  # not an object until its manifest exists
    assert not layouts.verify(remote, Pointer(kept.oid, 4999))
    remote.delete(dropped.oid)
    remote.delete(dropped.oid)  # already gone: no error
    assert remote.list_objects() == {kept.oid: 5000}
    assert remote.present([dropped.oid]) == set()


def test_corrupt_remote_copy_does_not_verify(remote: RemoteStore, local: LocalStore) -> None:  # noqa: F811
    pointer = put(local, b"x" * 1000)
    whole.upload(remote, local, pointer)
    remote.fs.pipe_file(remote.data_key(pointer.oid), b"y" * 1000)
    assert not layouts.verify(remote, pointer)


def test_meta_files(remote: RemoteStore) -> None:  # noqa: F811
    assert remote.read_meta("gc-marks.json") is None
    remote.write_meta("gc-marks.json", json.dumps({"marks": {}}).encode())
    remote.write_meta("gc-marks.json", b'{"marks": {"a": 1}}')  # replaced whole
    assert remote.read_meta("gc-marks.json") == b'{"marks": {"a": 1}}'
    assert [k.rsplit("/", 1)[-1] for k in remote.fs.ls(f"{remote.root}/meta", detail=False)] == [
        "gc-marks.json"
    ]
    with pytest.raises(ValueError):
        remote.write_meta("../escape", b"")
