"""Records of objects hashed on their way in: a checkout copies such an object without
hashing it again, and anything that touched the object since makes it hash again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import corrupt_object, git_model, repo_store, run_git, sha256_file
from store_support import put

from gitmodel.errors import ChecksumError
from gitmodel.store import proven
from gitmodel.store.local import LocalStore
from gitmodel.store.pack import PACK_MAX_OBJECT

SIZE = PACK_MAX_OBJECT + 4096


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "model")


def record_holds(store: LocalStore, oid: str) -> bool:
    return proven.holds(store.root, oid, os.stat(store.object_path(oid)))


def test_a_written_object_is_recorded_and_copies_intact(store: LocalStore, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    pointer = put(store, data)
    assert record_holds(store, pointer.oid)
    copied: list[int] = []
    store.copy_to(pointer, tmp_path / "out.bin", on_bytes=copied.append)
    assert (tmp_path / "out.bin").read_bytes() == data
    assert sum(copied) == SIZE


def test_small_packed_objects_get_no_record(store: LocalStore) -> None:
    pointer = put(store, b"small")
    assert not (store.root / proven.PROVEN_DIR).exists()
    assert not proven.holds(store.root, pointer.oid, os.stat(store.root))


def test_an_object_written_to_since_is_hashed_and_caught(store: LocalStore, tmp_path: Path) -> None:
    pointer = put(store, os.urandom(SIZE))
    corrupt_object(store, pointer.oid)  # a chmod and a write: new times
    assert not record_holds(store, pointer.oid)
    with pytest.raises(ChecksumError):
        store.copy_to(pointer, tmp_path / "out.bin")
    assert (store.bad_dir / pointer.oid).exists()
    assert not (tmp_path / "out.bin").exists()
    assert not proven.holds(store.root, pointer.oid, os.stat(store.bad_dir / pointer.oid))


def test_an_object_put_in_place_by_someone_else_is_hashed(
    store: LocalStore, tmp_path: Path
) -> None:
    pointer = put(store, os.urandom(SIZE))
    other = tmp_path / "other"
    other.write_bytes(os.urandom(SIZE))
    os.replace(other, store.object_path(pointer.oid))  # another inode, same size
    with pytest.raises(ChecksumError):
        store.copy_to(pointer, tmp_path / "out.bin")


def test_times_set_back_do_not_revive_a_record(store: LocalStore, tmp_path: Path) -> None:
    pointer = put(store, os.urandom(SIZE))
    path = store.object_path(pointer.oid)
    before = os.stat(path)
    corrupt_object(store, pointer.oid)
    os.chmod(path, 0o444)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the change time moves on
    assert not record_holds(store, pointer.oid)
    with pytest.raises(ChecksumError):
        store.copy_to(pointer, tmp_path / "out.bin")


@pytest.mark.parametrize(
    "record",
    [b"", b"gitmodel proven 1 1 2 3 4 5", b"garbage\n" * 100, b"\xff" * 4096],
)
def test_a_record_that_does_not_match_is_ignored(
    store: LocalStore, tmp_path: Path, record: bytes
) -> None:
    data = os.urandom(SIZE)
    pointer = put(store, data)
    path = Path(proven._record_path(store.root, pointer.oid))
    path.write_bytes(record)
    assert not record_holds(store, pointer.oid)
    store.copy_to(pointer, tmp_path / "out.bin")  # hashed, and intact
    assert (tmp_path / "out.bin").read_bytes() == data


def test_a_record_is_never_written_through_a_symlink(store: LocalStore, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    oid = hashlib.sha256(data).hexdigest()
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep me")
    link = Path(proven._record_path(store.root, oid))
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    put(store, data)
    assert outside.read_bytes() == b"keep me"
    assert not link.is_symlink()  # dropped: the next checkout hashes the object
    assert not record_holds(store, oid)


def test_a_checkout_that_hashed_an_object_right_records_it(
    store: LocalStore, tmp_path: Path
) -> None:
    """Objects stored before records existed, or whose record was lost, are hashed
    once more, then recorded."""
    data = os.urandom(SIZE)
    pointer = put(store, data)
    proven.forget(store.root, pointer.oid)
    assert not record_holds(store, pointer.oid)
    store.copy_to(pointer, tmp_path / "first.bin")
    assert record_holds(store, pointer.oid)
    store.copy_to(pointer, tmp_path / "second.bin")
    assert (tmp_path / "second.bin").read_bytes() == data


def test_a_checkout_that_finds_an_object_wrong_records_nothing(
    store: LocalStore, tmp_path: Path
) -> None:
    pointer = put(store, os.urandom(SIZE))
    corrupt_object(store, pointer.oid)
    with pytest.raises(ChecksumError):
        store.copy_to(pointer, tmp_path / "out.bin")
    assert not Path(proven._record_path(store.root, pointer.oid)).exists()


def test_removing_an_object_drops_its_record(store: LocalStore) -> None:
    pointer = put(store, os.urandom(SIZE))
    store.remove({pointer.oid})
    assert not Path(proven._record_path(store.root, pointer.oid)).exists()


def test_checkout_trusts_a_record_and_fsck_does_not(repo: Path) -> None:
    """A record proves the file is untouched, not that the disk kept its bytes: a
    record made to match changed bytes (as a failing disk would leave it) is trusted
    by a checkout, and still caught by ``fsck``."""
    run_git("config", "model.directCheckoutThreshold", "1m", cwd=repo)
    data = os.urandom(3 << 20)
    (repo / "big.bin").write_bytes(data)
    run_git("add", "big.bin", cwd=repo)
    run_git("commit", "-qm", "big", cwd=repo)
    store = repo_store(repo)
    oid = hashlib.sha256(data).hexdigest()
    assert record_holds(store, oid)

    corrupt_object(store, oid)
    os.chmod(store.object_path(oid), 0o444)
    proven.record(store.root, oid, os.stat(store.object_path(oid)))
    (repo / "big.bin").unlink()
    run_git("checkout", "--", "big.bin", cwd=repo)
    assert sha256_file(repo / "big.bin") != oid  # copied on the record's word

    proc = git_model("fsck", cwd=repo, check=False)
    assert proc.returncode == 1
    assert oid.encode() in proc.stdout + proc.stderr
    assert (store.bad_dir / oid).exists()


def test_add_then_checkout_round_trips_through_the_record(repo: Path) -> None:
    run_git("config", "model.directCheckoutThreshold", "1m", cwd=repo)
    data = os.urandom(3 << 20)
    (repo / "big.bin").write_bytes(data)
    run_git("add", "big.bin", cwd=repo)
    run_git("commit", "-qm", "big", cwd=repo)
    (repo / "big.bin").unlink()
    run_git("checkout", "--", "big.bin", cwd=repo)
    assert (repo / "big.bin").read_bytes() == data
