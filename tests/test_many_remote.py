"""Data sets of many small files: a push writes their manifests as a few batches, a clone
reads them and their chunks in bulk; layout-2 remotes (a manifest per file) still read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git_model, run_git
from test_faults import counted
from test_remotes import assert_version, author, new_user, origin, s3_clone_args, s3_remote

from gitmodel import manifest
from gitmodel.manifest import ChunkRef, Manifest
from gitmodel.remote.bulk import GAP, Span, plan_reads
from gitmodel.remote.chunked import BATCH_MIN, PACK_TARGET, RANGE_MAX
from gitmodel.remote.faults import COUNT_ENV, ENV

__all__ = ["author", "origin", "s3_remote"]  # fixtures shared with test_remotes

MB = 1 << 20


def data_set(count: int, size: int, folder: str = "data") -> dict[str, bytes]:
    return {f"{folder}/{i // 500:02d}/f{i:05d}.bin": os.urandom(size) for i in range(count)}


def commit(repo: Path, files: dict[str, bytes], message: str) -> None:
    for name, data in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", message, cwd=repo)


def requests(log: Path) -> int:
    return sum(calls for calls, _, _ in counted(log).values())


def remote_dir(origin: Path) -> Path:
    return origin / "model" / "remote"


def layout(origin: Path) -> int:
    return int(json.loads((remote_dir(origin) / "gitmodel-remote.json").read_text())["layout"])


# -- through real git, to S3 on loopback


@pytest.mark.long
def test_thousands_of_files_push_and_clone_in_a_few_requests_to_s3(
    author: Path, origin: Path, tmp_path: Path, s3_remote: tuple[str, str]
) -> None:
    url, endpoint = s3_remote
    git_model("remote", "set", url, cwd=author)
    run_git("config", "remote.origin.modelendpoint", endpoint, cwd=author)
    files = data_set(2_000, 8_000)
    moved = sum(len(data) for data in files.values())
    commit(author, files, "a data set")
    log = tmp_path / "push.log"
    run_git("push", "-q", "origin", "main", cwd=author, env={**os.environ, COUNT_ENV: str(log)})
    pushed = counted(log)
    assert pushed["pipe_file"][0] <= moved // (4 * MB) + 8, pushed  # not one per file
    assert requests(log) <= moved // (4 * MB) + 20, pushed

    user = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    log = tmp_path / "clone.log"
    run_git("clone", "-q", *s3_clone_args(url, endpoint), str(origin), str(clone),
            cwd=tmp_path, env={**user, COUNT_ENV: str(log)})  # fmt: skip
    assert_version(clone, files)
    cloned = counted(log)
    assert requests(log) <= moved // (4 * MB) + 20, cloned
    assert moved <= cloned["cat_file"][2] < moved + moved // 10 + MB, cloned


# -- a local directory remote


def test_a_push_of_many_files_writes_batches_and_names_layout_3(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    first = data_set(BATCH_MIN + 8, 3_000)
    commit(author, first, "v1")
    run_git("push", "-q", "origin", "main", cwd=author)
    assert layout(origin) == 3
    assert not (remote_dir(origin) / "manifests").exists()  # no manifest of its own
    batches = list((remote_dir(origin) / "batches").iterdir())
    assert len(batches) == 1
    table = manifest.decode_batch(batches[0].read_bytes())
    assert len(table) == len(first)

    second = {"extra/one.bin": os.urandom(5_000)}  # a small push: a manifest of its own
    commit(author, second, "v2")
    run_git("push", "-q", "origin", "main", cwd=author)
    assert len(list((remote_dir(origin) / "manifests").rglob("*"))) == 2  # ab/ and the file

    user = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=user)
    assert_version(clone, first | second)
    git_model("fsck", "--remote", cwd=clone, env=user)


def test_a_layout_2_remote_with_a_manifest_per_file_still_reads(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    """What earlier versions wrote: small pushes still write it, so it is made that way."""
    old: dict[str, bytes] = {}
    for number in range(3):
        files = data_set(BATCH_MIN - 2, 4_000, folder=f"old{number}")
        commit(author, files, f"old {number}")
        run_git("push", "-q", "origin", "main", cwd=author)
        old |= files
    assert layout(origin) == 2 and not (remote_dir(origin) / "batches").exists()
    assert len(list((remote_dir(origin) / "manifests").rglob("*/*"))) == len(old)

    user = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    log = tmp_path / "clone.log"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path,
            env={**user, COUNT_ENV: str(log)})  # fmt: skip
    assert_version(clone, old)
    reads = counted(log)["cat_file"][0]
    assert reads <= len(old) + 10  # a manifest each, the chunks of many files at once

    new = data_set(BATCH_MIN * 2, 4_000, folder="new")  # both kinds on one remote
    commit(author, new, "new")
    run_git("push", "-q", "origin", "main", cwd=author)
    assert layout(origin) == 3
    run_git("pull", "-q", cwd=clone, env=user)
    assert_version(clone, old | new)


@pytest.mark.long
def test_an_interrupted_push_of_many_files_resumes_without_sending_its_packs_again(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    files = data_set(3_000, 20_000)
    moved = sum(len(data) for data in files.values())
    commit(author, files, "a data set")
    slow = {**os.environ, ENV: "delay=0.3"}
    push = subprocess.Popen(["git", "push", "-q", "origin", "main"], cwd=author, env=slow,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    index = remote_dir(origin) / "index"
    deadline = time.monotonic() + 120
    while not (index.is_dir() and any(index.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(push.pid, signal.SIGKILL)  # a pack and its index are durable, nothing else
    push.wait()
    assert push.returncode != 0
    assert not (remote_dir(origin) / "batches").exists()
    assert not (remote_dir(origin) / "manifests").exists()
    assert run_git("ls-remote", "origin", cwd=author).stdout == b""

    log = tmp_path / "again.log"
    run_git("push", "-q", "origin", "main", cwd=author, env={**os.environ, COUNT_ENV: str(log)})
    sent = counted(log)["pipe_file"][1]
    assert sent < moved - PACK_TARGET // 2, sent  # the first push's pack was not sent again

    user = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=user)
    assert_version(clone, files)


def test_gc_deletes_an_object_out_of_a_batch_and_keeps_the_others(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    kept = data_set(BATCH_MIN + 1, 3_000)
    commit(author, kept, "v1")
    run_git("checkout", "-qb", "tmp", cwd=author)
    commit(author, {"gone.bin": os.urandom(3_000)}, "soon gone")
    run_git("push", "-q", "origin", "main", "tmp", cwd=author)  # one push, one batch
    (old,) = (remote_dir(origin) / "batches").iterdir()
    assert len(manifest.decode_batch(old.read_bytes())) == len(kept) + 1
    run_git("push", "-q", "origin", "--delete", "tmp", cwd=author)
    run_git("checkout", "-q", "main", cwd=author)
    run_git("branch", "-qD", "tmp", cwd=author)
    run_git("reflog", "expire", "--expire=now", "--all", cwd=author)

    out = git_model("gc", "--remote", "--grace", "0", cwd=author).stdout.decode()
    assert "deleted 1 object(s)" in out, out
    (new,) = (remote_dir(origin) / "batches").iterdir()
    assert new != old and len(manifest.decode_batch(new.read_bytes())) == len(kept)
    user = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=user)
    assert_version(clone, kept)


def test_gc_writes_the_batches_of_small_pushes_together_and_every_file_still_reads(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    pushed: dict[str, bytes] = {}
    for n in range(4):  # four pushes of a few dozen files: four small batches
        files = data_set(BATCH_MIN + n, 2_000, folder=f"part{n}")
        commit(author, files, f"part {n}")
        run_git("push", "-q", "origin", "main", cwd=author)
        pushed.update(files)
    batches = remote_dir(origin) / "batches"
    assert len(list(batches.iterdir())) == 4
    dry = git_model("gc", "--remote", "--dry-run", cwd=author).stdout.decode()
    assert "4 small manifest batch(es) to write together" in dry, dry
    assert len(list(batches.iterdir())) == 4

    out = git_model("gc", "--remote", cwd=author).stdout.decode()
    assert "wrote 4 small manifest batch(es) as 1" in out, out
    (merged,) = batches.iterdir()
    assert len(manifest.decode_batch(merged.read_bytes())) == len(pushed)
    again = git_model("gc", "--remote", cwd=author).stdout.decode()
    assert "manifest batch" not in again, again  # one batch: nothing to merge
    user = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=user)
    assert_version(clone, pushed)
    commit(author, data_set(BATCH_MIN, 2_000, folder="later"), "later")
    run_git("push", "-q", "origin", "main", cwd=author)  # knew the old batches: still right
    assert len(list(batches.iterdir())) == 2


# -- reads planned across files


def ref(pack: str, offset: int, stored: int) -> ChunkRef:
    return ChunkRef(bytes(32), pack, offset, stored, stored, 0)


def test_neighbouring_chunks_of_different_files_share_one_read() -> None:
    a, b = "a" * 64, "b" * 64
    refs = [ref(a, 0, 100), ref(a, 100, 50), ref(a, 150 + GAP, 10), ref(b, 0, 10), ref(a, 0, 100)]
    assert plan_reads(refs) == [Span(a, 0, 160 + GAP), Span(b, 0, 10)]
    far = [ref(a, 0, 10), ref(a, 10 + GAP + 1, 10)]
    assert plan_reads(far) == [Span(a, 0, 10), Span(a, 10 + GAP + 1, 20 + GAP + 1)]
    many = [ref(a, i * MB, MB) for i in range(20)]
    spans = plan_reads(many)
    assert all(s.end - s.start <= RANGE_MAX for s in spans)
    assert len(spans) == -(-20 * MB // RANGE_MAX)


# -- hostile batches


def some_manifests(count: int) -> list[Manifest]:
    out = []
    for i in range(count):
        oid = f"{i:064x}"
        out.append(Manifest(oid, 100 + i, [ChunkRef(bytes(32), "c" * 64, i * 200, 100 + i,
                                                     100 + i, 0)]))  # fmt: skip
    return out


def test_a_batch_round_trips_and_every_manifest_is_checked() -> None:
    manifests = some_manifests(5)
    body = manifest.encode_batch(list(reversed(manifests)))
    table = manifest.decode_batch(body)
    assert list(table) == [m.oid for m in manifests]
    for m in manifests:
        assert manifest.batch_manifest(body, table[m.oid]) == m


def _retable(body: bytes, edit: bytes, at: int) -> bytes:
    return body[:at] + edit + body[at + len(edit) :]


HEAD = len(manifest.BATCH_MAGIC) + 4


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b + b"x", "overlong"),
        (lambda b: b[: len(manifest.BATCH_MAGIC)] + (1 << 30).to_bytes(4, "big") + b[HEAD:],
         "more than"),
        (lambda b: _retable(b, bytes.fromhex(f"{9:064x}"), HEAD), "out of order"),
        (lambda b: _retable(b, (1 << 31).to_bytes(4, "big"), HEAD + 40), "entry of"),
        (lambda b: b"gitmodel manifest batch 9\n" + b[HEAD - 4 :], "not a gitmodel"),
    ],
)  # fmt: skip
def test_a_damaged_batch_is_refused(damage: object, message: str) -> None:
    body = manifest.encode_batch(some_manifests(3))
    with pytest.raises(manifest.ManifestFormatError, match=message):
        manifest.decode_batch(damage(body))  # type: ignore[operator]


def test_a_batch_that_lies_about_an_object_is_damaged_not_trusted(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    files = data_set(BATCH_MIN, 3_000)
    commit(author, files, "v1")
    run_git("push", "-q", "origin", "main", cwd=author)
    (batch,) = (remote_dir(origin) / "batches").iterdir()
    body = batch.read_bytes()
    table = manifest.decode_batch(body)
    entry = next(iter(table.values()))
    swapped = bytearray(body)  # one chunk length changed: the file no longer adds up
    at = entry.offset + manifest.MANIFEST_HEAD_SIZE + 32 + 32 + 4 + 8
    swapped[at : at + 4] = (1).to_bytes(4, "big")
    batch.chmod(0o644)
    batch.write_bytes(bytes(swapped))  # its name no longer matches: the batch is ignored

    user = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    proc = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=user, check=False)
    assert proc.returncode != 0 and b"Traceback" not in proc.stderr
    assert b"does not have object" in proc.stderr


def test_a_remote_listing_more_batches_than_memory_allows_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitmodel.pointer import Pointer
    from gitmodel.remote import batches
    from gitmodel.remote.errors import RemoteError
    from gitmodel.remote.store import RemoteStore

    url = f"file://{tmp_path / 'remote'}"
    writer = RemoteStore(url)
    manifests = some_manifests(30)
    for start in range(0, 30, 10):
        writer.write_batch(manifests[start : start + 10])
    one = len(manifest.encode_batch(manifests[:10]))
    reader = RemoteStore(url)
    assert len(reader.present(m.oid for m in manifests)) == 30
    monkeypatch.setattr(batches, "HELD_MAX", 2 * one)
    with pytest.raises(RemoteError, match="manifest batches hold over"):
        RemoteStore(url).read_manifest(Pointer(manifests[0].oid, manifests[0].size))


def test_a_bulk_fetch_decodes_manifests_a_group_at_a_time_and_gets_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone of many files holds the manifests of a group of them at a time, not all;
    every file still arrives whole, in reads that span many files each."""
    from test_store import put

    from gitmodel.remote import bulk, transfer
    from gitmodel.remote.store import RemoteStore
    from gitmodel.store.local import LocalStore

    author_store = LocalStore(tmp_path / "author")
    pointers = [put(author_store, os.urandom(5_000 + i)) for i in range(60)]
    url = f"file://{tmp_path / 'remote'}"
    transfer.upload(RemoteStore(url), author_store, pointers, quiet=True)

    monkeypatch.setattr(bulk, "GROUP", 7)
    monkeypatch.setattr(bulk, "FIRST_GROUP", 3)  # the first objects land sooner
    decoded: list[int] = []
    real_manifests = bulk._manifests

    def manifests(remote: RemoteStore, wanted: list[object], jobs: int) -> list[bulk.Item]:
        decoded.append(len(wanted))
        return real_manifests(remote, wanted, jobs)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "_manifests", manifests)
    reader = RemoteStore(url)
    reads: list[tuple[int | None, int | None]] = []
    real_read = reader.read

    def read(key: str, start: int | None = None, end: int | None = None,
             exact: bool = True) -> bytes:  # fmt: skip
        if "/packs/" in key:
            reads.append((start, end))
        return real_read(key, start, end, exact)

    monkeypatch.setattr(reader, "read", read)
    clone_store = LocalStore(tmp_path / "clone")
    moved = bulk.prefetch(reader, clone_store, pointers, jobs=2)

    assert decoded == [3] + [7] * 8 + [1]
    assert moved >= sum(p.size for p in pointers)
    for pointer in pointers:
        assert clone_store.open(pointer.oid).read() == author_store.open(pointer.oid).read()
    assert len(reads) <= 2 * len(decoded)  # not one a file


def test_the_batches_a_push_wrote_are_read_back_when_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push lets go of the batches it writes once they are in the local cache; asked
    for a manifest afterwards, it reads it back from there, or from the remote when the
    cache lost it, and a batch the cache holds damaged is read again too (none is kept
    held here, to see each read)."""
    from test_store import put

    from gitmodel.remote import batches as catalog
    from gitmodel.remote import transfer
    from gitmodel.remote.store import RemoteStore
    from gitmodel.store.local import LocalStore

    monkeypatch.setattr(catalog, "RECENT", 0)

    store = LocalStore(tmp_path / "author")
    pointers = [put(store, os.urandom(3_000 + i)) for i in range(BATCH_MIN + 8)]
    remote = RemoteStore(f"file://{tmp_path / 'remote'}")
    remote.batches.cache_in(tmp_path / "cache")
    transfer.upload(remote, store, pointers, quiet=True)
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1

    first = remote.batched_manifest(pointers[0])
    assert first is not None and first.size == pointers[0].size
    cached[0].unlink()
    assert remote.batched_manifest(pointers[1]) is not None  # from the remote
    cached[0].write_bytes(b"not the batch")
    found = remote.batched_manifest(pointers[2])
    assert found is not None and found.oid == pointers[2].oid
    assert set(remote.present(p.oid for p in pointers)) == {p.oid for p in pointers}

    batches = tmp_path / "remote" / "batches"
    for batch in [*(tmp_path / "cache").iterdir(), *batches.iterdir()]:
        batch.unlink()  # gone everywhere: its files are simply not found
    assert remote.batched_manifest(pointers[3]) is None
    assert remote.batches.sizes() == {}


def test_a_reader_holds_a_few_batches_and_reads_each_back_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone lists many batches: each is kept in the local cache and let go, so only
    the last few read stay in memory; asked for every file in the order they were
    written, it reads each batch back from the cache once."""
    from gitmodel.remote import batches as catalog
    from gitmodel.remote.store import RemoteStore

    url = f"file://{tmp_path / 'remote'}"
    writer = RemoteStore(url)
    manifests = [Manifest(os.urandom(32).hex(), 100, [ChunkRef(os.urandom(32), "c" * 64, i * 100,
                                                            100, 100, 0)])
                 for i in range(80)]  # fmt: skip
    for start in range(0, 80, 10):
        writer.write_batch(manifests[start : start + 10])  # 8 batches, more than RECENT
    reader = RemoteStore(url)
    reader.batches.cache_in(tmp_path / "cache")
    read_back = []
    cached = catalog.BatchCatalog._cached

    def counted(self: catalog.BatchCatalog, name: str) -> bytes | None:
        read_back.append(name)
        return cached(self, name)

    monkeypatch.setattr(catalog.BatchCatalog, "_cached", counted)
    assert len(reader.present(m.oid for m in manifests)) == 80
    held = [body for body in reader.batches._bodies.values() if body is not None]
    assert not held and len(reader.batches._recent) <= catalog.RECENT
    firsts = len(read_back)
    for m in manifests:
        found = reader.batches.find(m.oid)
        assert found is not None and reader.batches.manifest(m.oid, found[1], found[0]) == m
    assert len(read_back) - firsts <= 2 * 8  # each batch once to index it, once for its files


def test_a_batch_merged_away_between_listing_and_reading_is_found_in_the_merged_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gc writes the merged batch before it deletes the small ones, so a reader that
    listed the small ones and then found them gone lists again and reads the merged one."""
    from gitmodel.remote.store import RemoteStore

    url = f"file://{tmp_path / 'remote'}"
    made = some_manifests(6)
    writer = RemoteStore(url)
    writer.write_batch(made[:3])
    writer.write_batch(made[3:])
    reader = RemoteStore(url)
    listed, merged = reader.list_batches, []

    def racing() -> list[str]:  # the reader lists; a gc merges before it reads
        names = listed()
        if not merged:
            merged.append(RemoteStore(url).merge_batches())
        return names

    monkeypatch.setattr(reader, "list_batches", racing)
    for m in made:
        found = reader.batches.find(m.oid)
        assert found is not None and reader.batches.manifest(m.oid, found[1], found[0]) == m
    assert merged == [(2, 1)]
    assert len(list((tmp_path / "remote" / "batches").iterdir())) == 1


def test_files_whose_oids_share_a_prefix_are_each_found_in_their_batch(tmp_path: Path) -> None:
    """The catalog finds a file by the first 8 bytes of its oid and then confirms the
    whole oid, so files whose oids begin alike (as someone could make them) are each
    found, in the first batch that holds them, and an oid that only shares the prefix
    is not; a batch gone from the remote leaves its files to another batch that holds
    them."""
    from gitmodel.remote.store import RemoteStore

    def made(tail: str, size: int) -> Manifest:
        oid = "ab" * 8 + tail * 48
        return Manifest(oid, size, [ChunkRef(bytes(32), "c" * 64, 0, size, size, 0)])

    first = [made("1", 101), made("2", 102), made("5", 105)]
    second = [made("3", 103), made("1", 101)]
    url = f"file://{tmp_path / 'remote'}"
    writer = RemoteStore(url)
    names = [writer.write_batch(first), writer.write_batch(second)]

    reader = RemoteStore(url)
    for m in [*first, *second]:
        found = reader.batches.find(m.oid)
        assert found is not None and found[1].oid == m.oid and found[1].size == m.size
        assert reader.batches.manifest(m.oid, found[1], found[0]) == m
    both = reader.batches.find(first[0].oid)  # in both: the first listed wins
    assert both is not None and both[0] == min(names)
    assert reader.batches.find("ab" * 8 + "4" * 48) is None
    assert reader.batches.find("ac" * 8 + "1" * 48) is None
    backwards = RemoteStore(url)  # batches loaded in the other order (threads race): the same
    for name in sorted(names, reverse=True):
        backwards.batches.learn(name, (tmp_path / "remote" / "batches" / name).read_bytes())
    both = backwards.batches.find(first[0].oid)
    assert both is not None and both[0] == min(names)

    (tmp_path / "remote" / "batches" / names[0]).unlink()
    fresh = RemoteStore(url)
    found = fresh.batches.find(first[0].oid)
    assert found is not None and found[0] == names[1]
    assert fresh.batches.find(first[1].oid) is None
    # learned by the writer, which never read them back: found all the same
    assert writer.batches.find(second[0].oid) is not None
