from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from conftest import corrupt_object
from store_support import put

from gitmodel.errors import ChecksumError, ObjectMissingError
from gitmodel.pointer import Pointer
from gitmodel.store.buffers import BufferPool
from gitmodel.store.chunking import object_view
from gitmodel.store.local import LocalStore, import_object
from gitmodel.store.pack import PACK_MAGIC, PACK_MAX_OBJECT


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "model")


def tmp_files(store: LocalStore) -> list[Path]:
    return list(store.tmp_dir.iterdir()) if store.tmp_dir.exists() else []


def test_large_object_is_a_file_named_by_oid(store: LocalStore) -> None:
    data = b"L" * (PACK_MAX_OBJECT + 1)
    pointer = put(store, data)
    oid = hashlib.sha256(data).hexdigest()
    assert pointer == Pointer(oid, len(data))
    path = store.objects_dir / oid[:2] / oid[2:4] / oid
    assert path.read_bytes() == data
    assert store.has(oid) and store.oids() == {oid}
    assert tmp_files(store) == []


def test_small_object_goes_to_a_pack(store: LocalStore) -> None:
    pointer = put(store, b"hello\n")
    assert pointer == Pointer(hashlib.sha256(b"hello\n").hexdigest(), 6)
    assert not store.objects_dir.exists() and not store.tmp_dir.exists()
    assert store.has(pointer.oid) and store.oids() == {pointer.oid}
    assert b"".join(store.read(pointer)) == b"hello\n"
    with store.open(pointer.oid) as f:
        f.seek(2)
        assert f.read() == b"llo\n"
    assert sorted(p.suffix for p in store.packs.root.iterdir()) == [".idx", ".pack"]


@pytest.mark.parametrize("size", [10, PACK_MAX_OBJECT + 10])
def test_holds_any_sees_a_loose_or_a_packed_object(tmp_path: Path, size: int) -> None:
    store = LocalStore(tmp_path / "model")
    assert not store.holds_any()
    store.tmp_dir.mkdir(parents=True)  # a write begun is not an object
    assert not store.holds_any()
    put(store, b"x" * size)
    assert store.holds_any()


def test_lacking_names_each_missing_object_once_in_a_new_store_and_an_old_one(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "model")
    small, large = b"s" * 10, b"L" * (PACK_MAX_OBJECT + 1)
    wanted = [Pointer(hashlib.sha256(d).hexdigest(), len(d)) for d in (small, large, small)]
    empty = Pointer(hashlib.sha256(b"").hexdigest(), 0)  # always there
    assert store.lacking([*wanted, empty]) == wanted[:2]  # a new store: nothing looked up
    put(store, small)
    assert store.lacking(wanted) == [wanted[1]]
    put(store, large)
    assert store.lacking(wanted) == []


@pytest.mark.parametrize("size", [10, PACK_MAX_OBJECT + 10])
def test_rewrite_of_existing_object_is_a_no_op(store: LocalStore, size: int) -> None:
    first = put(store, b"s" * size)
    assert put(store, b"s" * size) == first
    assert tmp_files(store) == []
    if size < PACK_MAX_OBJECT:
        (pack,) = store.packs.root.glob("*.pack")
        assert pack.stat().st_size == len(PACK_MAGIC) + size


@pytest.mark.parametrize("size", [7, PACK_MAX_OBJECT + 10])
def test_failed_write_leaves_nothing(store: LocalStore, size: int) -> None:
    with pytest.raises(RuntimeError), store.writer() as writer:
        writer.write(b"p" * size)
        raise RuntimeError("interrupted")
    assert tmp_files(store) == []
    assert not store.objects_dir.exists() and store.oids() == set()


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


def test_temp_files_of_killed_writers_are_removed(store: LocalStore, tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now names no process
    stale = tmp_path / f".out.bin.{gone.pid}-abc.tmp"
    stale.write_bytes(b"half of a file")
    live = tmp_path / f".out.bin.{os.getpid()}-def.tmp"
    live.write_bytes(b"being written")
    other = tmp_path / f".other.bin.{gone.pid}-ghi.tmp"
    other.write_bytes(b"another file's")
    pointer = put(store, os.urandom(3_000_000))
    store.copy_to(pointer, tmp_path / "out.bin")
    assert not stale.exists()
    assert live.exists() and other.exists()


def test_copy_to_refuses_corrupt_object(store: LocalStore, tmp_path: Path) -> None:
    pointer = put(store, b"a" * 1000)
    corrupt_object(store, pointer.oid, b"b" * 1000)
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
    corrupt_object(other, pointer.oid, b"Shared")
    with pytest.raises(ChecksumError):
        import_object(store, other, pointer)
    assert not store.has(pointer.oid)
    assert other.has(pointer.oid)  # another repository's store is never modified


def test_a_failed_write_of_a_large_object_leaves_nothing(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitmodel.store import sink

    def full_disk(fd: int, data: bytes | bytearray | memoryview) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"), store.writer() as writer:
        writer.write(b"a" * PACK_MAX_OBJECT)  # still in memory
        writer.write(b"b" * 10)  # spilled: from here a thread hashes and writes
        monkeypatch.setattr(sink, "write_all", full_disk)
        for _ in range(8):
            writer.write(b"c" * 1000)
        writer.commit()
    assert tmp_files(store) == [] and store.oids() == set()


def test_writer_takes_claimable_buffers_instead_of_copying(store: LocalStore) -> None:
    """Past the pack size, a chunk in the buffer a pool is filling is kept with its
    buffer (the reader moves on to another) and given back once written."""
    pool = BufferPool(PACK_MAX_OBJECT)
    data = os.urandom(6 * PACK_MAX_OBJECT)
    taken = []
    with store.writer(pool) as writer:
        for start in range(0, len(data), PACK_MAX_OBJECT):
            buffer = pool.current
            buffer[:] = data[start : start + PACK_MAX_OBJECT]
            writer.write(memoryview(buffer))
            if pool.current is not buffer:
                taken.append(buffer)
        pointer = writer.commit()
    assert pointer == Pointer(hashlib.sha256(data).hexdigest(), len(data))
    assert b"".join(bytes(chunk) for chunk in store.read(pointer)) == data
    assert len(taken) >= 3  # every chunk after the one that spilled to disk
    assert pool.claim(memoryview(bytearray(1))) is None  # only the current buffer is lent


def test_an_error_inside_an_object_view_is_the_error_raised(store: LocalStore) -> None:
    """Ctrl-C while a push reads a mapped object, a slice of it still alive in the frame
    being unwound: the KeyboardInterrupt leaves (a quiet exit 130), not the mapping's
    BufferError (which the command reported as an internal error)."""
    pointer = put(store, os.urandom(PACK_MAX_OBJECT + 1))
    with pytest.raises(KeyboardInterrupt), object_view(store, pointer) as view:
        piece = view[10:20]
        raise KeyboardInterrupt
    assert len(piece) == 10  # still readable: the mapping went with it
