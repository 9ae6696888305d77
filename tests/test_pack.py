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
from gitmodel.store.pack import ENTRY_SIZE, decode_entries, encode_entry


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
    body = b"".join(encode_entry(oid, 8 + i * 10, 10) for i, oid in enumerate(oids))
    assert list(decode_entries(body)) == [(oid, 8 + i * 10, 10) for i, oid in enumerate(oids)]
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
        f.write(encode_entry(lost, 12, 4)[:-5])
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
