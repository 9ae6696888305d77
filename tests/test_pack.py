"""Packs of small objects: visibility, crashes, concurrent writers, rewrites."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import corrupt_object

from gitmodel.errors import ChecksumError
from gitmodel.pointer import Pointer
from gitmodel.store import pack
from gitmodel.store.local import LocalStore
from gitmodel.store.pack import (
    ENTRY_SIZE,
    IDX_MAGIC_V1,
    PACK_MAGIC,
    checksum,
    decode_entries,
    encode_entry,
)


def put(store: LocalStore, data: bytes) -> Pointer:
    with store.writer() as writer:
        writer.write(data)
        return writer.commit()


def read(store: LocalStore, pointer: Pointer) -> bytes:
    return b"".join(bytes(chunk) for chunk in store.read(pointer))


def packs_of(store: LocalStore) -> list[str]:
    return sorted(p.stem for p in store.packs.root.glob("*.pack"))


def test_entries_round_trip_and_stop_at_damage() -> None:
    oids = [hashlib.sha256(bytes([i])).hexdigest() for i in range(3)]
    checks = [i or None for i in range(3)]  # 0 and None both mean "no checksum"
    body = b"".join(encode_entry(oid, 8 + i * 10, 10, i) for i, oid in enumerate(oids))
    assert list(decode_entries(body)) == [
        (oid, 8 + i * 10, 10, checks[i]) for i, oid in enumerate(oids)
    ]
    assert len(list(decode_entries(body[:-1]))) == 2  # torn last entry
    damaged = bytearray(body)
    damaged[ENTRY_SIZE + 3] ^= 1
    assert len(list(decode_entries(bytes(damaged)))) == 1  # crc stops the walk


def test_crash_leftovers_are_invisible(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "model")
    kept = put(store, b"kept")
    name = packs_of(store)[0]
    lost = hashlib.sha256(b"lost").hexdigest()
    with open(store.packs.root / f"{name}.pack", "ab") as f:
        f.write(b"lost")  # bytes written, entry never completed
    with open(store.packs.root / f"{name}.idx", "ab") as f:
        f.write(encode_entry(lost, 12, 4, checksum([b"lost"]))[:-5])
    fresh = LocalStore(tmp_path / "model")
    assert fresh.oids() == {kept.oid}
    assert read(fresh, kept) == b"kept"


def test_two_writers_share_a_store(tmp_path: Path) -> None:
    first, second = LocalStore(tmp_path / "model"), LocalStore(tmp_path / "model")
    a = put(first, b"from the first")
    assert second.has(a.oid)  # indexes re-read on a miss
    b = put(second, b"from the second")
    assert first.has(b.oid)
    assert len(packs_of(first)) == 2  # one pack per writer, no shared file
    assert read(first, b) == b"from the second" and read(second, a) == b"from the first"
    assert put(second, b"from the first") == a
    assert first.oids() == second.oids() == {a.oid, b.oid}


def test_packed_corruption_is_quarantined_and_the_pack_rewritten(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "model")
    good, bad = put(store, b"good object"), put(store, b"bad object!")
    store.packs.close()  # this process has finished writing
    corrupt_object(store, bad.oid)
    with pytest.raises(ChecksumError):
        read(store, bad)
    assert (store.bad_dir / bad.oid).read_bytes() == b"cad object!"
    assert not store.has(bad.oid)
    assert read(store, good) == b"good object"
    assert read(LocalStore(tmp_path / "model"), good) == b"good object"


def test_remove_rewrites_only_what_it_must(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "model")
    pointers = [put(store, f"object {i}".encode()) for i in range(5)]
    big = put(store, b"B" * (pack.PACK_MAX_OBJECT + 1))
    store.remove({pointers[1].oid, pointers[3].oid, big.oid})
    assert store.oids() == {pointers[i].oid for i in (0, 2, 4)}
    assert [read(store, pointers[i]) for i in (0, 2, 4)] == [b"object 0", b"object 2", b"object 4"]
    store.remove({p.oid for p in pointers})
    assert store.oids() == set() and packs_of(store) == []


def test_remove_finds_every_copy(tmp_path: Path) -> None:
    first, second = LocalStore(tmp_path / "model"), LocalStore(tmp_path / "model")
    assert not second.has("0" * 64)  # second has read the (empty) indexes
    twin = put(first, b"twin")
    first.packs.close()
    assert put(second, b"twin") == twin  # written again: second did not look
    second.packs.close()
    assert len(packs_of(first)) == 2
    first.remove({twin.oid})
    assert LocalStore(tmp_path / "model").oids() == set() and packs_of(first) == []


def test_a_pack_being_written_elsewhere_is_not_rewritten(tmp_path: Path) -> None:
    writer, pruner = LocalStore(tmp_path / "model"), LocalStore(tmp_path / "model")
    pointer = put(writer, b"still being written")  # writer keeps its pack open and locked
    pruner.remove({pointer.oid})
    assert pruner.has(pointer.oid)
    writer.packs.close()
    pruner.remove({pointer.oid})
    assert not LocalStore(tmp_path / "model").has(pointer.oid)


def test_full_pack_is_closed_and_a_new_one_begun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pack, "PACK_MAX_SIZE", 100)
    store = LocalStore(tmp_path / "model")
    pointers = [put(store, os.urandom(60)) for _ in range(4)]
    assert len(packs_of(store)) == 2
    fresh = LocalStore(tmp_path / "model")
    assert all(fresh.has(p.oid) for p in pointers)


def read_into(store: LocalStore, pointer: Pointer) -> bytes:
    buffer = bytearray(pointer.size)
    store.read_into(pointer, [memoryview(buffer)[:3], memoryview(buffer)[3:]])
    return bytes(buffer)


def test_packed_reads_are_checked_against_the_index_checksum(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "model")
    pointer = put(store, b"small object bytes")
    store.packs.close()  # as at the end of a process: the pack may now be rewritten
    location = store.packs.find(pointer.oid)
    assert location is not None and location.check == checksum([b"small object bytes"])
    assert read_into(store, pointer) == b"small object bytes"
    pack_file = store.packs.root / f"{location.pack}.pack"
    pack_file.chmod(0o644)
    with open(pack_file, "r+b") as f:
        f.seek(location.offset + 4)
        f.write(b"X")
    with pytest.raises(ChecksumError):
        read_into(LocalStore(tmp_path / "model"), pointer)
    assert (store.bad_dir / pointer.oid).read_bytes() == b"smalX object bytes"
    assert not LocalStore(tmp_path / "model").has(pointer.oid)


def test_first_version_indexes_are_read_and_verified_by_sha256(tmp_path: Path) -> None:
    """A store written before indexes carried checksums: entries of 48 bytes + crc."""
    import struct
    import zlib

    root = tmp_path / "model" / "packs"
    root.mkdir(parents=True)
    good, bad = b"written by an older version", b"damaged since it was written"
    oids = [hashlib.sha256(data).hexdigest() for data in (good, bad)]
    index = bytearray(IDX_MAGIC_V1)
    for i, (oid, data) in enumerate(zip(oids, (good, bad), strict=True)):
        body = struct.pack(">32sQQ", bytes.fromhex(oid), len(PACK_MAGIC) + i * 27, len(data))
        index += body + struct.pack(">I", zlib.crc32(body))
    (root / "pack-old.pack").write_bytes(PACK_MAGIC + good + bad.replace(b"since", b"SINCE"))
    (root / "pack-old.idx").write_bytes(bytes(index))
    store = LocalStore(tmp_path / "model")
    assert store.packs.find(oids[0]) == pack.Location("pack-old", len(PACK_MAGIC), 27, None)
    assert read_into(store, Pointer(oids[0], len(good))) == good
    with pytest.raises(ChecksumError):
        read_into(store, Pointer(oids[1], len(bad)))
    location = store.packs.find(oids[0])  # the bad one is gone, the good one copied as it was
    assert location is not None and location.check is None
    other = LocalStore(tmp_path / "model")
    put(other, b"another pack")
    other.packs.close()
    store.compact()  # merged into a pack with checksums, once verified
    location = store.packs.find(oids[0])
    assert location is not None and location.check == checksum([good])
    assert read(store, Pointer(oids[0], len(good))) == good


def test_many_objects_appended_at_once_are_visible_and_checked(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "model")
    datas = [os.urandom(100 + i) for i in range(5)]
    pointers = [Pointer(hashlib.sha256(d).hexdigest(), len(d)) for d in datas]
    wrong = Pointer(hashlib.sha256(b"other").hexdigest(), 5)  # bytes not of its oid
    objects = [*zip(pointers, datas, strict=True), (wrong, b"wrong"), (pointers[0], datas[0])]
    assert store.add_small(objects) == [*pointers, pointers[0]]
    assert not store.has(wrong.oid)
    fresh = LocalStore(tmp_path / "model")  # another process reads the index
    assert [read(fresh, p) for p in pointers] == datas
    (idx,) = store.packs.root.glob("*.idx")
    assert idx.stat().st_size == len(pack.IDX_MAGIC) + len(pointers) * ENTRY_SIZE  # once each


def test_lacking_sees_what_another_process_packed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "model")
    mine = put(store, b"mine")
    theirs_data = b"packed by another process"
    theirs = Pointer(hashlib.sha256(theirs_data).hexdigest(), len(theirs_data))
    absent = Pointer(hashlib.sha256(b"absent").hexdigest(), 6)
    assert store.lacking([mine, theirs, absent, absent]) == [theirs, absent]
    put(LocalStore(tmp_path / "model"), theirs_data)
    assert store.lacking([mine, theirs, absent]) == [absent]


def test_a_checked_read_takes_only_bytes_that_match_their_entry(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "model")
    pointer = put(store, b"small object")
    assert store.packs.read_checked(pointer.oid, pointer.size) == b"small object"
    assert store.packs.read_checked(pointer.oid, pointer.size + 1) is None  # another size
    corrupt_object(store, pointer.oid)
    fresh = LocalStore(tmp_path / "model")
    assert fresh.packs.read_checked(pointer.oid, pointer.size) is None
    with pytest.raises(ChecksumError):  # the long way says why, and quarantines it
        fresh.read_into(pointer, [memoryview(bytearray(pointer.size))])
