from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from gitmodel.errors import ChecksumError, ObjectMissingError
from gitmodel.pointer import Pointer
from gitmodel.store.local import LocalStore, import_object


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "model")


def put(store: LocalStore, data: bytes) -> Pointer:
    with store.writer() as writer:
        writer.write(data)
        return writer.commit()


def test_write_places_object_by_oid(store: LocalStore) -> None:
    pointer = put(store, b"hello\n")
    oid = hashlib.sha256(b"hello\n").hexdigest()
    assert pointer == Pointer(oid, 6)
    path = store.objects_dir / oid[:2] / oid[2:4] / oid
    assert path.read_bytes() == b"hello\n"
    assert store.has(oid)
    assert list(store.tmp_dir.iterdir()) == []


def test_rewrite_of_existing_object_is_a_no_op(store: LocalStore) -> None:
    first = put(store, b"same")
    assert put(store, b"same") == first
    assert list(store.tmp_dir.iterdir()) == []


def test_failed_write_leaves_nothing(store: LocalStore) -> None:
    with pytest.raises(RuntimeError), store.writer() as writer:
        writer.write(b"partial")
        raise RuntimeError("interrupted")
    assert list(store.tmp_dir.iterdir()) == []
    assert not store.objects_dir.exists()


def test_commit_checks_expected(store: LocalStore) -> None:
    expected = Pointer("0" * 64, 4)
    with pytest.raises(ChecksumError) as info, store.writer() as writer:
        writer.write(b"data")
        writer.commit(expected)
    assert info.value.expected == "0" * 64
    assert not store.has("0" * 64)
    assert list(store.tmp_dir.iterdir()) == []


def test_read_verifies_and_quarantines(store: LocalStore) -> None:
    pointer = put(store, b"x" * 3_000_000)
    assert b"".join(bytes(c) for c in store.read(pointer)) == b"x" * 3_000_000
    path = store.object_path(pointer.oid)
    os.chmod(path, 0o644)
    with open(path, "ab") as f:
        f.write(b"!")
    with pytest.raises(ChecksumError):
        for _ in store.read(pointer):
            pass
    assert not path.exists()
    assert (store.bad_dir / pointer.oid).exists()


def test_read_missing(store: LocalStore) -> None:
    with pytest.raises(ObjectMissingError):
        next(store.read(Pointer("a" * 64, 3)))


def test_empty_object_needs_no_file(store: LocalStore) -> None:
    empty = Pointer(hashlib.sha256(b"").hexdigest(), 0)
    assert store.has(empty.oid)
    assert list(store.read(empty)) == []


@pytest.mark.parametrize("oid", ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 64 + "/.."])
def test_object_path_refuses_bad_oids(store: LocalStore, oid: str) -> None:
    with pytest.raises(ValueError):
        store.object_path(oid)


def test_copy_to_writes_verified_file(store: LocalStore, tmp_path: Path) -> None:
    data = os.urandom(5_000_000)
    pointer = put(store, data)
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    store.copy_to(pointer, dest, 0o755)
    assert dest.read_bytes() == data
    assert os.stat(dest).st_mode & 0o100
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_copy_to_refuses_corrupt_object(store: LocalStore, tmp_path: Path) -> None:
    pointer = put(store, b"a" * 1000)
    path = store.object_path(pointer.oid)
    os.chmod(path, 0o644)
    path.write_bytes(b"b" * 1000)
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"pointer text")
    with pytest.raises(ChecksumError):
        store.copy_to(pointer, dest)
    assert dest.read_bytes() == b"pointer text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out.bin"]
    assert (store.bad_dir / pointer.oid).exists()


def test_import_object_between_stores(store: LocalStore, tmp_path: Path) -> None:
    other = LocalStore(tmp_path / "other")
    pointer = put(other, b"shared")
    assert import_object(store, other, pointer)
    assert store.has(pointer.oid)
    assert not import_object(store, other, Pointer("c" * 64, 1))


def test_import_object_refuses_corrupt_source(store: LocalStore, tmp_path: Path) -> None:
    other = LocalStore(tmp_path / "other")
    pointer = put(other, b"shared")
    path = other.object_path(pointer.oid)
    os.chmod(path, 0o644)
    path.write_bytes(b"Shared")
    with pytest.raises(ChecksumError):
        import_object(store, other, pointer)
    assert not store.has(pointer.oid)
    assert path.exists()  # another repository's store is never modified
