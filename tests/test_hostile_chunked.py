"""A chunked remote that others can write to: every lie refused, naming the object, nothing kept."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from conftest import git_model, run_git
from hygiene_support import commit_file, make_author

from gitmodel import manifest
from gitmodel.errors import GitModelError
from gitmodel.manifest import CODEC_ZSTD, ChunkRef, Manifest, PackIndexEntry
from gitmodel.pointer import Pointer
from gitmodel.remote import layouts, transfer
from gitmodel.remote.store import RemoteStore
from gitmodel.store.chunking import Chunker
from gitmodel.store.local import LocalStore

SIZE = 700_000  # about ten chunks


@pytest.fixture
def remote(tmp_path: Path) -> RemoteStore:
    return RemoteStore(f"file://{tmp_path / 'remote'}", tries=2, sleep=lambda _: None)


def push(remote: RemoteStore, source: LocalStore, data: bytes) -> Pointer:
    with source.writer() as writer:
        writer.write(data)
        pointer = writer.commit()
    transfer.upload(remote, source, [pointer], jobs=2, quiet=True)
    return pointer


@pytest.fixture
def pushed(remote: RemoteStore, tmp_path: Path) -> Pointer:
    return push(remote, LocalStore(tmp_path / "source"), os.urandom(SIZE))


def content(store: LocalStore, pointer: Pointer) -> bytes:
    return b"".join(bytes(view) for view in store.read(pointer))  # views of one buffer


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def read_manifest(remote: RemoteStore, pointer: Pointer) -> Manifest:
    found = remote.read_manifest(pointer)
    assert found is not None and len(found.chunks) > 3
    return found


def write_manifest(remote: RemoteStore, found: Manifest) -> None:
    path = Path(remote.manifest_key(found.oid))
    path.unlink()
    path.write_bytes(manifest.encode_manifest(found))


def pack_path(remote: RemoteStore, found: Manifest) -> Path:
    return Path(remote.pack_key(found.chunks[0].pack))


def replace_chunks(remote: RemoteStore, pointer: Pointer,
                   change: Callable[[list[ChunkRef]], list[ChunkRef]]) -> None:  # fmt: skip
    found = read_manifest(remote, pointer)
    write_manifest(remote, Manifest(found.oid, found.size, change(list(found.chunks))))


def raw_manifest(remote: RemoteStore, pointer: Pointer, body: bytes) -> None:
    path = Path(remote.manifest_key(pointer.oid))
    path.unlink()
    path.write_bytes(body)


def assert_refused(remote: RemoteStore, pointer: Pointer, tmp_path: Path) -> str:
    """Download into a fresh store: a clear error naming the oid, nothing kept anywhere."""
    before = files_under(tmp_path)
    store = LocalStore(tmp_path / "mine")
    with pytest.raises(GitModelError) as info:
        transfer.download(remote, store, [pointer], jobs=2, quiet=True)
    message = str(info.value)
    assert message.startswith("could not download 1 object(s)")
    assert pointer.oid in message and "\n" not in message and len(message) < 600, message
    assert store.oids() == set()
    assert list(store.tmp_dir.glob("*")) == []
    added = {p for p in files_under(tmp_path) - before if "mine" not in p.parts}
    assert added == set()
    assert not layouts.verify(remote, pointer)
    return message


def _swap(chunks: list[ChunkRef]) -> list[ChunkRef]:
    chunks[1], chunks[2] = chunks[2], chunks[1]  # each chunk is valid; the file is not
    return chunks


def _foreign_bytes(chunks: list[ChunkRef]) -> list[ChunkRef]:
    chunks[1] = dataclasses.replace(chunks[2], id=chunks[1].id)  # chunk 2's bytes, 1's id
    return chunks


def _resized(chunks: list[ChunkRef]) -> list[ChunkRef]:
    first = chunks[0]
    return [dataclasses.replace(first, stored=first.stored + 5, raw=first.raw + 5),
            dataclasses.replace(chunks[1], raw=chunks[1].raw - 5), *chunks[2:]]  # fmt: skip


MANIFEST_LIES: dict[str, Callable[[list[ChunkRef]], list[ChunkRef]]] = {
    "missing pack": lambda c: [dataclasses.replace(c[0], pack="e" * 64), *c[1:]],
    "offset past the pack's end": lambda c: [*c[:-1], dataclasses.replace(c[-1], offset=1 << 40)],
    "range past the pack's end": lambda c: [
        *c[:-1],
        dataclasses.replace(c[-1], offset=c[-1].offset + 10),
    ],
    "bytes not matching the id": lambda c: [dataclasses.replace(c[0], id=b"\x01" * 32), *c[1:]],
    "chunk swapped for another valid one": _swap,
    "another chunk's bytes under an id": _foreign_bytes,
    "lengths shifted between chunks": _resized,
}


@pytest.mark.parametrize("lie", sorted(MANIFEST_LIES))
def test_lying_manifests_are_refused(
    remote: RemoteStore, pushed: Pointer, tmp_path: Path, lie: str
) -> None:
    replace_chunks(remote, pushed, MANIFEST_LIES[lie])
    assert_refused(remote, pushed, tmp_path)


def test_a_missing_pack_is_named(remote: RemoteStore, pushed: Pointer, tmp_path: Path) -> None:
    pack_path(remote, read_manifest(remote, pushed)).unlink()
    assert "missing" in assert_refused(remote, pushed, tmp_path)


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(lambda oid: (oid, 1 << 62, 1, 1), id="absurd size"),
        pytest.param(lambda oid: (oid, SIZE, 1, (1 << 32) - 1), id="absurd chunk count"),
        pytest.param(lambda oid: (oid, SIZE, (1 << 32) - 1, 1), id="absurd pack count"),
        pytest.param(lambda oid: (b"\0" * 32, SIZE, 1, 1), id="another oid"),
    ],
)
def test_manifest_heads_claiming_absurd_things_allocate_nothing(
    remote: RemoteStore, pushed: Pointer, tmp_path: Path, head: Callable[[bytes], tuple[object]]
) -> None:
    body = manifest.MANIFEST_MAGIC + manifest._MANIFEST_HEAD.pack(*head(bytes.fromhex(pushed.oid)))
    raw_manifest(remote, pushed, body + b"\0" * 100)
    assert peak_memory(lambda: assert_refused(remote, pushed, tmp_path)) < 8 << 20


def test_a_pointer_claiming_an_absurd_size_reads_no_more_than_the_manifest(
    remote: RemoteStore, pushed: Pointer, tmp_path: Path
) -> None:
    liar = Pointer(pushed.oid, 1 << 50)
    assert peak_memory(lambda: assert_refused(remote, liar, tmp_path)) < 8 << 20


def peak_memory(call: Callable[[], object]) -> int:
    """The most memory Python held while ``call`` ran."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("damage", ["flipped", "truncated", "prepended", "empty"])
def test_damaged_packs_are_refused(
    remote: RemoteStore, pushed: Pointer, tmp_path: Path, damage: str
) -> None:
    path = pack_path(remote, read_manifest(remote, pushed))
    data = path.read_bytes()
    middle = len(data) // 2
    path.unlink()
    path.write_bytes(
        {"flipped": data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1 :],
         "truncated": data[:-1], "prepended": b"!" + data, "empty": b""}[damage]
    )  # fmt: skip
    assert_refused(remote, pushed, tmp_path)


def test_a_byte_appended_to_a_pack_is_outside_every_chunk(
    remote: RemoteStore, pushed: Pointer, tmp_path: Path
) -> None:
    """The chunks are read by range and each checked: the file still comes back whole."""
    path = pack_path(remote, read_manifest(remote, pushed))
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data + b"!")
    store = LocalStore(tmp_path / "mine")
    transfer.download(remote, store, [pushed], jobs=2, quiet=True)
    assert hashlib.sha256(content(store, pushed)).hexdigest() == pushed.oid


def test_a_zstd_bomb_is_refused_without_expanding(remote: RemoteStore, tmp_path: Path) -> None:
    """An 8 KiB chunk whose stored frame expands to 128 MiB: at most raw + 1 bytes come out."""
    raw = os.urandom(8192)  # one chunk
    pointer = Pointer(hashlib.sha256(raw).hexdigest(), len(raw))
    chunk_id = Chunker(None).chunk_id(raw)
    bomb = zstandard.ZstdCompressor(level=1).compress(bytes(128 << 20))
    assert len(bomb) < len(raw)
    pack = hashlib.sha256(bomb).hexdigest()  # any id: the bytes are hostile anyway
    remote.ensure_layout(2)
    remote.write(remote.pack_key(pack), bomb)
    entry = PackIndexEntry(chunk_id, 0, len(bomb), len(raw), CODEC_ZSTD)
    remote.write(remote.index_key(pack), manifest.encode_index(pack, [entry]))
    ref = ChunkRef(chunk_id, pack, 0, len(bomb), len(raw), CODEC_ZSTD)
    body = manifest.encode_manifest(Manifest(pointer.oid, pointer.size, [ref]))
    remote.write(remote.manifest_key(pointer.oid), body)
    assert peak_memory(lambda: assert_refused(remote, pointer, tmp_path)) < 16 << 20
    # once the bomb's manifest is gone, a push of the real file does not reuse the
    # bomb's pack: its index lies
    Path(remote.manifest_key(pointer.oid)).unlink()
    source = LocalStore(tmp_path / "honest")
    assert push(remote, source, raw) == pointer
    store = LocalStore(tmp_path / "after")
    transfer.download(remote, store, [pointer], jobs=2, quiet=True)
    assert content(store, pointer) == raw


def test_a_lying_index_never_makes_a_push_lose_data(
    remote: RemoteStore, pushed: Pointer, tmp_path: Path
) -> None:
    """An index listing a chunk its pack does not hold: the push sends that chunk again."""
    second = os.urandom(SIZE)
    source = LocalStore(tmp_path / "second-source")
    with source.writer() as writer:
        writer.write(second)
        pointer = writer.commit()
    first_id = Chunker(None).cut(memoryview(second), [])[0][0]
    pack = read_manifest(remote, pushed).chunks[0].pack
    index_path = Path(remote.index_key(pack))
    entries = manifest.decode_index(index_path.read_bytes(), pack)
    entries[0] = dataclasses.replace(entries[0], id=first_id)  # lies about its first chunk
    index_path.unlink()
    index_path.write_bytes(manifest.encode_index(pack, entries))

    transfer.upload(remote, source, [pointer], jobs=2, quiet=True)
    assert read_manifest(remote, pointer).chunks[0].pack != pack
    store = LocalStore(tmp_path / "reader")
    transfer.download(remote, store, [pointer, pushed], jobs=2, quiet=True)
    assert content(store, pointer) == second
    assert layouts.verify(remote, pushed) and layouts.verify(remote, pointer)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "gone"])
def test_a_damaged_pack_is_not_reused_by_a_later_push(
    remote: RemoteStore, pushed: Pointer, tmp_path: Path, damage: str
) -> None:
    """Its index is honest but its bytes are not: a push of an edited copy of the file
    sends every chunk again, and that file downloads whole."""
    original = content(LocalStore(tmp_path / "source"), pushed)
    path = pack_path(remote, read_manifest(remote, pushed))
    data = path.read_bytes()
    path.unlink()
    if damage != "gone":
        path.write_bytes(data[:-1] if damage == "truncated" else b"\x00" + data[1:])
    edited = push(remote, LocalStore(tmp_path / "other"), original + b"one more line")
    assert path.name not in {c.pack for c in read_manifest(remote, edited).chunks}
    store = LocalStore(tmp_path / "reader")
    transfer.download(remote, store, [edited], jobs=2, quiet=True)
    assert content(store, edited) == original + b"one more line"


def test_honest_packs_are_reused_and_read_back_once(
    remote: RemoteStore, pushed: Pointer, tmp_path: Path
) -> None:
    """Another clone pushing a file sharing chunks checks the packs it reuses, once."""
    source = LocalStore(tmp_path / "source")
    original = content(source, pushed)
    other = LocalStore(tmp_path / "other")
    edited = push(remote, other, original[:-1000] + os.urandom(1000))
    reused = {c.pack for c in read_manifest(remote, edited).chunks} & {
        c.pack for c in read_manifest(remote, pushed).chunks
    }
    assert reused, "the shared chunks were sent again"
    checked = {p.name for p in other.root.glob("remote-index/*/checked/*")}
    assert reused <= checked
    store = LocalStore(tmp_path / "reader")
    transfer.download(remote, store, [edited], jobs=2, quiet=True)
    assert hashlib.sha256(content(store, edited)).hexdigest() == edited.oid


def flip_pack_bytes(remote: RemoteStore, pointer: Pointer) -> None:
    for path in {pack_path(remote, read_manifest(remote, pointer))}:
        body = bytearray(path.read_bytes())
        body[len(body) // 2] ^= 1
        path.unlink()
        path.write_bytes(bytes(body))


@pytest.mark.parametrize("damage", ["pack byte flipped", "chunks swapped in the manifest"])
def test_git_clone_of_a_damaged_remote_leaves_no_unverified_bytes(
    tmp_path: Path, damage: str
) -> None:
    git_model("install", cwd=tmp_path)  # for the clone too
    origin, author = make_author(tmp_path)
    data = commit_file(author, "model.bin", os.urandom(SIZE))
    run_git("push", "-q", "origin", "main", cwd=author)
    remote = RemoteStore(f"file://{origin / 'model' / 'remote'}")
    pointer = Pointer(hashlib.sha256(data).hexdigest(), len(data))
    if damage == "pack byte flipped":
        flip_pack_bytes(remote, pointer)
    else:
        replace_chunks(remote, pointer, _swap)
    clone = tmp_path / "clone"
    proc = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode != 0 and pointer.oid in stderr and "checkout failed" in stderr, stderr
    assert not (clone / "model.bin").exists()  # git writes no file its filter refused
    store = LocalStore(clone / ".git" / "model")
    assert pointer.oid not in store.oids() and list(store.tmp_dir.glob("*")) == []
    fetched = git_model("fetch", cwd=clone, check=False)
    assert fetched.returncode != 0 and pointer.oid in fetched.stderr.decode()
    assert "hint:" in fetched.stderr.decode()
    assert pointer.oid not in store.oids()


@pytest.mark.parametrize("kind", ["file", "s3"])
@pytest.mark.parametrize("damage", ["none", "overlong", "truncated"])
def test_long_manifests_are_read_whole_and_checked(
    kind: str, damage: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A manifest far longer than the first read (5,000 chunks of 8 KiB, 265 KB) comes back
    whole, on a local directory and on S3; one byte more or less is refused, naming the oid."""
    if kind == "file":
        remote = RemoteStore(f"file://{tmp_path / 'remote'}", tries=2, sleep=lambda _: None)
    else:
        request.getfixturevalue("aws_env")
        options = {"endpoint_url": request.getfixturevalue("s3_endpoint")}
        bucket = f"models-{os.urandom(6).hex()}"
        remote = RemoteStore(f"s3://{bucket}/r", options, tries=2, sleep=lambda _: None)
        remote.fs.mkdir(bucket)
    refs = [ChunkRef(i.to_bytes(32, "big"), "a" * 64, i << 13, 8192, 8192, 0) for i in range(5000)]
    pointer = Pointer("f" * 64, 5000 << 13)
    body = manifest.encode_manifest(Manifest(pointer.oid, pointer.size, refs))
    assert len(body) > 4 * 64 << 10
    remote.ensure_layout(2)
    stored = {"none": body, "overlong": body + b"\0", "truncated": body[:-1]}[damage]
    remote.write(remote.manifest_key(pointer.oid), stored)
    if damage == "none":
        assert remote.read_manifest(pointer) == Manifest(pointer.oid, pointer.size, refs)
        return
    with pytest.raises(GitModelError, match=pointer.oid):
        remote.read_manifest(pointer)
