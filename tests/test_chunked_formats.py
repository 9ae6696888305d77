"""The chunked layout's binary formats: exact round trips, and every malformed variant refused
with ManifestFormatError before anything sized by a head field is allocated."""

from __future__ import annotations

import hashlib
import struct
import tracemalloc
from collections.abc import Callable

import pytest

from gitmodel import manifest as mf
from gitmodel.manifest import (
    CHUNK_MAX,
    CHUNKS_MAGIC,
    INDEX_MAGIC,
    MANIFEST_MAGIC,
    STORED_SLACK,
    ChunkRef,
    Manifest,
    ManifestFormatError,
    PackIndexEntry,
)

PACK_A = "a" * 64
PACK_B = "b" * 64


def cid(n: int) -> bytes:
    return hashlib.blake2b(bytes([n]), digest_size=32).digest()


def sample_manifest() -> Manifest:
    chunks = [
        ChunkRef(cid(1), PACK_B, 0, 8000, 9000, mf.CODEC_ZSTD),
        ChunkRef(cid(2), PACK_A, 123, 70_000, 70_000, mf.CODEC_RAW),
        ChunkRef(cid(1), PACK_B, 0, 8000, 9000, mf.CODEC_ZSTD),  # a repeated chunk
        ChunkRef(cid(3), PACK_A, 1 << 40, CHUNK_MAX + STORED_SLACK, CHUNK_MAX, mf.CODEC_AES),
        ChunkRef(cid(4), PACK_B, 9, 1, 1, mf.CODEC_ZSTD_AES),
    ]
    size = sum(c.raw for c in chunks)
    oid = hashlib.sha256(b"sample").hexdigest()
    return Manifest(oid, size, chunks)


def sample_index() -> list[PackIndexEntry]:
    lengths = [(100, 90, mf.CODEC_ZSTD), (65536, 65536, mf.CODEC_RAW), (1, 1, mf.CODEC_AES)]
    entries, offset = [], 0
    for n, (stored, raw, codec) in enumerate(lengths):
        entries.append(PackIndexEntry(cid(n), offset, stored, raw, codec))
        offset += stored
    return entries


SAMPLE_LIST = [(cid(1), 9000), (cid(2), CHUNK_MAX), (cid(3), 1)]
LIST_OID = "c" * 64
LIST_SIZE = sum(n for _, n in SAMPLE_LIST)


def decode_sample_manifest(data: bytes) -> Manifest:
    found = sample_manifest()
    return mf.decode_manifest(data, found.oid, found.size)


PARSERS: dict[str, tuple[bytes, Callable[[bytes], object]]] = {
    "manifest": (mf.encode_manifest(sample_manifest()), decode_sample_manifest),
    "index": (mf.encode_index(PACK_A, sample_index()), lambda d: mf.decode_index(d, PACK_A)),
    "chunk list": (
        mf.encode_chunk_list(LIST_OID, LIST_SIZE, SAMPLE_LIST),
        lambda d: mf.decode_chunk_list(d, LIST_OID),
    ),
}


def test_manifest_round_trip() -> None:
    original = sample_manifest()
    data = mf.encode_manifest(original)
    assert mf.decode_manifest(data, original.oid, original.size) == original
    assert original.packs == [PACK_A, PACK_B]
    assert mf.is_manifest(data) and mf.manifest_size(data) == original.size
    assert mf.manifest_length(data) == len(data) <= mf.max_manifest_size(original.size)


def test_empty_manifest_round_trip() -> None:
    empty = Manifest("e" * 64, 0, [])
    assert mf.decode_manifest(mf.encode_manifest(empty), empty.oid, 0) == empty


def test_index_and_chunk_list_round_trips() -> None:
    entries = sample_index()
    assert mf.decode_index(mf.encode_index(PACK_A, entries), PACK_A) == entries
    assert mf.decode_index(mf.encode_index(PACK_A, []), PACK_A) == []
    data = mf.encode_chunk_list(LIST_OID, LIST_SIZE, SAMPLE_LIST)
    assert mf.decode_chunk_list(data, LIST_OID) == SAMPLE_LIST


def test_index_offsets_are_implied_by_order() -> None:
    entries = [PackIndexEntry(e.id, 999, e.stored, e.raw, e.codec) for e in sample_index()]
    assert [e.offset for e in mf.decode_index(mf.encode_index(PACK_A, entries), PACK_A)] == [
        0,
        100,
        65636,
    ]


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_truncation_is_refused(name: str) -> None:
    data, parse = PARSERS[name]
    for cut in range(len(data)):
        with pytest.raises(ManifestFormatError):
            parse(data[:cut])


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("extra", [b"\0", b"x" * 49, b"\0" * 1000])
def test_overlong_is_refused(name: str, extra: bytes) -> None:
    data, parse = PARSERS[name]
    with pytest.raises(ManifestFormatError, match="overlong"):
        parse(data + extra)


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("magic", [MANIFEST_MAGIC, INDEX_MAGIC, CHUNKS_MAGIC, b"", b"version "])
def test_wrong_magic_is_refused(name: str, magic: bytes) -> None:
    data, parse = PARSERS[name]
    own = {"manifest": MANIFEST_MAGIC, "index": INDEX_MAGIC, "chunk list": CHUNKS_MAGIC}[name]
    if magic == own:
        magic = own[:-2] + b"2\n"  # a future version
    with pytest.raises(ManifestFormatError):
        parse(magic + data[len(own) :])


def test_manifest_for_another_object_or_size_is_refused() -> None:
    found = sample_manifest()
    data = mf.encode_manifest(found)
    with pytest.raises(ManifestFormatError, match="manifest names"):
        mf.decode_manifest(data, "f" * 64, found.size)
    with pytest.raises(ManifestFormatError, match="manifest names"):
        mf.decode_manifest(data, found.oid, found.size + 1)


def test_index_of_another_pack_and_list_of_another_object_are_refused() -> None:
    with pytest.raises(ManifestFormatError, match="names pack"):
        mf.decode_index(mf.encode_index(PACK_A, sample_index()), PACK_B)
    with pytest.raises(ManifestFormatError, match="chunk list names"):
        mf.decode_chunk_list(mf.encode_chunk_list(LIST_OID, LIST_SIZE, SAMPLE_LIST), "d" * 64)


def manifest_with(**changes: int) -> bytes:
    """The sample manifest with its first chunk record's fields replaced."""
    found = sample_manifest()
    data = bytearray(mf.encode_manifest(found))
    start = len(MANIFEST_MAGIC) + mf._MANIFEST_HEAD.size + 2 * mf.ID_SIZE
    fields = dict(
        zip(["id", "pack", "offset", "stored", "raw", "codec"],
            mf._MANIFEST_CHUNK.unpack_from(data, start), strict=True)
    )  # fmt: skip
    fields |= changes
    mf._MANIFEST_CHUNK.pack_into(data, start, *fields.values())
    return bytes(data)


def index_with(**changes: int) -> bytes:
    data = bytearray(mf.encode_index(PACK_A, sample_index()))
    start = len(INDEX_MAGIC) + mf._INDEX_HEAD.size
    fields = dict(
        zip(["id", "stored", "raw", "codec"], mf._INDEX_CHUNK.unpack_from(data, start), strict=True)
    )
    fields |= changes
    mf._INDEX_CHUNK.pack_into(data, start, *fields.values())
    return bytes(data)


BAD_RECORDS = [
    pytest.param({"pack": 2}, "names pack 2 of 2", id="pack index out of range"),
    pytest.param({"pack": 0xFFFFFFFF}, "names pack", id="pack index huge"),
    pytest.param({"raw": 0}, "out of range", id="raw 0"),
    pytest.param({"stored": 0}, "out of range", id="stored 0"),
    pytest.param({"raw": CHUNK_MAX + 1, "stored": 10}, "out of range", id="raw over CHUNK_MAX"),
    pytest.param({"stored": 9000 + STORED_SLACK + 1}, "out of range", id="stored over raw+slack"),
    pytest.param({"codec": 4}, "unknown chunk codec 4", id="codec 4"),
    pytest.param({"codec": 255}, "unknown chunk codec", id="codec 255"),
    pytest.param({"raw": 9001}, "add up to", id="chunks one byte over the size"),
    pytest.param({"raw": 8999}, "add up to", id="chunks one byte under the size"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_RECORDS)
def test_bad_manifest_records_are_refused(changes: dict[str, int], message: str) -> None:
    with pytest.raises(ManifestFormatError, match=message):
        decode_sample_manifest(manifest_with(**changes))


INDEX_RECORDS = [p for p in BAD_RECORDS if "pack" not in str(p.id) and "size" not in str(p.id)]


@pytest.mark.parametrize(("changes", "message"), INDEX_RECORDS)
def test_bad_index_records_are_refused(changes: dict[str, int], message: str) -> None:
    with pytest.raises(ManifestFormatError, match=message):
        mf.decode_index(index_with(**changes), PACK_A)


@pytest.mark.parametrize(
    "chunks",
    [[(cid(1), 0)], [(cid(1), CHUNK_MAX + 1)], [(cid(1), 5), (cid(2), 5)], [(cid(1), 12)]],
)
def test_chunk_lists_that_do_not_add_up_are_refused(chunks: list[tuple[bytes, int]]) -> None:
    with pytest.raises(ManifestFormatError, match="do not add up"):
        mf.decode_chunk_list(mf.encode_chunk_list(LIST_OID, 11, chunks), LIST_OID)


HUGE = (1 << 32) - 1


def absurd_heads() -> list[tuple[str, bytes, Callable[[bytes], object]]]:
    oid = bytes.fromhex(sample_manifest().oid)
    size = sample_manifest().size
    return [
        ("manifest chunks", MANIFEST_MAGIC + mf._MANIFEST_HEAD.pack(oid, size, 2, HUGE),
         decode_sample_manifest),
        ("manifest packs", MANIFEST_MAGIC + mf._MANIFEST_HEAD.pack(oid, size, HUGE, 5),
         decode_sample_manifest),
        ("index chunks", INDEX_MAGIC + mf._INDEX_HEAD.pack(bytes.fromhex(PACK_A), HUGE),
         lambda d: mf.decode_index(d, PACK_A)),
        ("list chunks", CHUNKS_MAGIC + mf._LIST_HEAD.pack(bytes.fromhex(LIST_OID), 1 << 62, HUGE),
         lambda d: mf.decode_chunk_list(d, LIST_OID)),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "head", "parse"), absurd_heads(), ids=lambda v: str(v)[:16])
@pytest.mark.parametrize("body", [b"", b"\x01" * 4096])
def test_absurd_counts_in_a_head_allocate_nothing(
    name: str, head: bytes, parse: Callable[[bytes], object], body: bytes
) -> None:
    data = head + body
    tracemalloc.start()
    try:
        with pytest.raises(ManifestFormatError, match="truncated"):
            parse(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 10, f"{name}: {peak} bytes for a {len(data)}-byte input"


def test_manifest_length_tells_a_cut_short_read_from_a_bad_manifest() -> None:
    data = mf.encode_manifest(sample_manifest())
    assert mf.manifest_length(data[: mf.MANIFEST_HEAD_SIZE - 1]) is None
    assert mf.manifest_length(data[: mf.MANIFEST_HEAD_SIZE]) == len(data)
    assert mf.manifest_length(b'{"oid": "x"}') is None
    assert mf.manifest_size(data[:10]) is None


def test_record_sizes_are_what_the_format_promises() -> None:
    """The layout others (and older versions) read: changing it is a format change."""
    assert (mf._MANIFEST_HEAD.size, mf._MANIFEST_CHUNK.size) == (48, 53)
    assert (mf._INDEX_HEAD.size, mf._INDEX_CHUNK.size) == (36, 41)
    assert (mf._LIST_HEAD.size, mf._LIST_CHUNK.size) == (44, 36)
    assert struct.calcsize(">32sQII") == 48
