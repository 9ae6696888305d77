"""Binary formats of the chunked remote layout. Pure: bytes in, values out.

Three documents, each starting with its own magic line and then fixed-size
big-endian records, so a parser checks the length before it reads a record and
nothing it allocates is driven by a size field it has not checked against the
bytes it was given:

- a **file manifest** (``manifests/ab/<oid>``): the object's oid and size, the
  packs it uses, then its chunks in order (chunk id, pack, offset in the pack,
  stored length, raw length, codec);
- a **pack index** (``index/<pack id>``): the chunks of one pack, stored back
  to back from offset 0, so offsets are implied and the pack's size is their sum;
- a **chunk list** (local cache ``chunks/ab/<oid>``): a stored object's chunk
  ids and raw lengths, so a later download can take those chunks from it;
- a **manifest batch** (``batches/<batch id>``): many file manifests in one object,
  after a table of (oid, size, length) sorted by oid, so one read learns thousands of
  files; its id is the blake3 of its bytes.

A chunk id is 32 bytes (blake3 of the raw chunk); a pack id is the blake3 of
the pack's bytes. Both are cryptographic, because dedup trusts them.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gitmodel.errors import GitModelError

MANIFEST_MAGIC = b"gitmodel manifest 1\n"
INDEX_MAGIC = b"gitmodel pack index 1\n"
CHUNKS_MAGIC = b"gitmodel chunk list 1\n"
BATCH_MAGIC = b"gitmodel manifest batch 1\n"

CODEC_RAW = 0
CODEC_ZSTD = 1
CODEC_AES = 2  # AES-256-GCM of the raw bytes
CODEC_ZSTD_AES = 3  # AES-256-GCM of the zstd bytes
CODECS = (CODEC_RAW, CODEC_ZSTD, CODEC_AES, CODEC_ZSTD_AES)

CHUNK_MAX = 1 << 20  # no chunk is longer (the chunker's maximum is 128 KiB)
CHUNK_MIN = 8 << 10  # nor shorter, but the last of a segment (the chunker's minimum)
STORED_SLACK = 1024  # a stored chunk may exceed its raw length by this (codec framing)
ID_SIZE = 32
INDEX_MAX_CHUNKS = 1 << 18  # chunks per pack: a push starts a new pack at this many
BATCH_MAX_ENTRIES = 1 << 17  # manifests per batch
BATCH_MAX_SIZE = 64 << 20  # bytes per batch: the cap for reading one

_MANIFEST_HEAD = struct.Struct(">32sQII")  # oid, size, packs, chunks
_MANIFEST_CHUNK = struct.Struct(">32sIQIIB")  # id, pack, offset, stored, raw, codec
_INDEX_HEAD = struct.Struct(">32sI")  # pack id, chunks
_INDEX_CHUNK = struct.Struct(">32sIIB")  # id, stored, raw, codec
_LIST_HEAD = struct.Struct(">32sQI")  # oid, size, chunks
_LIST_CHUNK = struct.Struct(">32sI")  # id, raw
_BATCH_HEAD = struct.Struct(">I")  # entries
_BATCH_ENTRY = struct.Struct(">32sQI")  # oid, size, manifest length


class ManifestFormatError(GitModelError):
    """Bytes that are not a well-formed manifest, pack index or chunk list."""


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """Where one chunk of a file is stored on the remote."""

    id: bytes
    pack: str  # hex pack id
    offset: int
    stored: int
    raw: int
    codec: int


@dataclass(frozen=True, slots=True)
class Manifest:
    oid: str
    size: int
    chunks: list[ChunkRef]

    @property
    def packs(self) -> list[str]:
        return sorted({chunk.pack for chunk in self.chunks})


@dataclass(frozen=True, slots=True)
class PackIndexEntry:
    """One chunk as its pack's index lists it (the offset follows from the chunks before)."""

    id: bytes
    offset: int
    stored: int
    raw: int
    codec: int


def max_chunks(size: int) -> int:
    """The most chunks a file of ``size`` bytes is cut into. Every chunk but the last of
    a segment is at least :data:`CHUNK_MIN` long, and so is every segment but the last
    (``chunking.py``), so there are at most ``size // CHUNK_MIN`` of the first kind and
    ``size // CHUNK_MIN + 1`` of the second."""
    return 2 * (size // CHUNK_MIN) + 2


def max_manifest_size(size: int) -> int:
    """The most bytes a manifest for an object of ``size`` bytes can take (as many
    chunks as it can have, each in its own pack): the cap for reading one, so that a
    hostile manifest costs at most a few percent of the file it describes."""
    per_chunk = _MANIFEST_CHUNK.size + ID_SIZE
    return len(MANIFEST_MAGIC) + _MANIFEST_HEAD.size + max_chunks(size) * per_chunk


def max_index_size() -> int:
    """The most bytes a pack index can take (about 10 MiB): the cap for reading one."""
    return len(INDEX_MAGIC) + _INDEX_HEAD.size + INDEX_MAX_CHUNKS * _INDEX_CHUNK.size


def encode_manifest(manifest: Manifest) -> bytes:
    packs = manifest.packs
    number = {pack: i for i, pack in enumerate(packs)}
    out = [
        MANIFEST_MAGIC,
        _MANIFEST_HEAD.pack(
            bytes.fromhex(manifest.oid), manifest.size, len(packs), len(manifest.chunks)
        ),
        *(bytes.fromhex(pack) for pack in packs),
    ]
    out += [
        _MANIFEST_CHUNK.pack(c.id, number[c.pack], c.offset, c.stored, c.raw, c.codec)
        for c in manifest.chunks
    ]
    return b"".join(out)


def encoded_length(manifest: Manifest) -> int:
    """The length of :func:`encode_manifest`'s bytes for ``manifest``, without making them."""
    packs = len({chunk.pack for chunk in manifest.chunks})
    return (len(MANIFEST_MAGIC) + _MANIFEST_HEAD.size + 32 * packs
            + _MANIFEST_CHUNK.size * len(manifest.chunks))  # fmt: skip


def is_manifest(data: bytes) -> bool:
    return data.startswith(MANIFEST_MAGIC)


def manifest_size(data: bytes) -> int | None:
    """The object size a manifest's head declares (None if ``data`` is not one)."""
    body = data[len(MANIFEST_MAGIC) :]
    if not is_manifest(data) or len(body) < _MANIFEST_HEAD.size:
        return None
    size: int = _MANIFEST_HEAD.unpack_from(body)[1]
    return size


MANIFEST_HEAD_SIZE = len(MANIFEST_MAGIC) + _MANIFEST_HEAD.size


def manifest_length(data: bytes) -> int | None:
    """How long the manifest that ``data`` begins is, once its head has arrived
    (None before that): so a reader can tell a cut-short read from a bad manifest."""
    body = data[len(MANIFEST_MAGIC) :]
    if not is_manifest(data) or len(body) < _MANIFEST_HEAD.size:
        return None
    _, _, n_packs, n_chunks = _MANIFEST_HEAD.unpack_from(body)
    chunks: int = n_chunks
    packs: int = n_packs
    return (
        len(MANIFEST_MAGIC) + _MANIFEST_HEAD.size + packs * ID_SIZE + chunks * _MANIFEST_CHUNK.size
    )


def decode_manifest(data: bytes, oid: str, size: int) -> Manifest:
    """Parse the manifest of object ``oid`` (``size`` bytes); raises :class:`ManifestFormatError`
    unless every field is in range and the chunks add up to exactly ``size``."""
    body = _strip(data, MANIFEST_MAGIC, "manifest")
    raw_oid, declared, n_packs, n_chunks = _head(_MANIFEST_HEAD, body, "manifest")
    if raw_oid.hex() != oid or declared != size:
        raise ManifestFormatError(
            f"manifest names {raw_oid.hex()[:16]}…/{declared}, not {oid}/{size}"
        )
    start = _MANIFEST_HEAD.size
    _expect_length(body, start + n_packs * ID_SIZE + n_chunks * _MANIFEST_CHUNK.size, "manifest")
    # one string per pack, however many manifests name it (a clone holds thousands)
    packs = [sys.intern(body[start + i * ID_SIZE : start + (i + 1) * ID_SIZE].hex())
             for i in range(n_packs)]  # fmt: skip
    start += n_packs * ID_SIZE
    chunks = []
    total = 0
    for chunk_id, pack, offset, stored, raw, codec in _records(_MANIFEST_CHUNK, body, start):
        if pack >= n_packs:
            raise ManifestFormatError(f"manifest chunk names pack {pack} of {n_packs}")
        _check_chunk(stored, raw, codec)
        chunks.append(ChunkRef(chunk_id, packs[pack], offset, stored, raw, codec))
        total += raw
    if total != size:
        raise ManifestFormatError(f"manifest chunks add up to {total} bytes, not {size}")
    return Manifest(oid, size, chunks)


def encode_index(pack: str, entries: list[PackIndexEntry]) -> bytes:
    head = _INDEX_HEAD.pack(bytes.fromhex(pack), len(entries))
    records = [_INDEX_CHUNK.pack(e.id, e.stored, e.raw, e.codec) for e in entries]
    return b"".join([INDEX_MAGIC, head, *records])


def decode_index(data: bytes, pack: str) -> list[PackIndexEntry]:
    """Parse the index of pack ``pack``; its chunks lie back to back from offset 0."""
    body = _strip(data, INDEX_MAGIC, "pack index")
    raw_pack, count = _head(_INDEX_HEAD, body, "pack index")
    if raw_pack.hex() != pack:
        raise ManifestFormatError(f"pack index names pack {raw_pack.hex()[:16]}…, not {pack[:16]}…")
    _expect_length(body, _INDEX_HEAD.size + count * _INDEX_CHUNK.size, "pack index")
    if count > INDEX_MAX_CHUNKS:
        raise ManifestFormatError(f"pack index lists {count} chunks, more than {INDEX_MAX_CHUNKS}")
    entries = []
    offset = 0
    for chunk_id, stored, raw, codec in _records(_INDEX_CHUNK, body, _INDEX_HEAD.size):
        _check_chunk(stored, raw, codec)
        entries.append(PackIndexEntry(chunk_id, offset, stored, raw, codec))
        offset += stored
    return entries


def encode_chunk_list(oid: str, size: int, chunks: list[tuple[bytes, int]]) -> bytes:
    head = _LIST_HEAD.pack(bytes.fromhex(oid), size, len(chunks))
    return b"".join([CHUNKS_MAGIC, head, *(_LIST_CHUNK.pack(i, n) for i, n in chunks)])


def decode_chunk_list(data: bytes, oid: str) -> list[tuple[bytes, int]]:
    """Parse the cached chunk list of ``oid``: (chunk id, raw length) in file order."""
    body = _strip(data, CHUNKS_MAGIC, "chunk list")
    raw_oid, size, count = _head(_LIST_HEAD, body, "chunk list")
    if raw_oid.hex() != oid:
        raise ManifestFormatError(f"chunk list names {raw_oid.hex()[:16]}…, not {oid}")
    _expect_length(body, _LIST_HEAD.size + count * _LIST_CHUNK.size, "chunk list")
    chunks = [(chunk_id, raw) for chunk_id, raw in _records(_LIST_CHUNK, body, _LIST_HEAD.size)]
    if any(not 0 < raw <= CHUNK_MAX for _, raw in chunks) or sum(r for _, r in chunks) != size:
        raise ManifestFormatError("chunk list lengths do not add up")
    return chunks


def _strip(data: bytes, magic: bytes, what: str) -> memoryview:
    if not data.startswith(magic):
        raise ManifestFormatError(f"not a gitmodel {what}")
    return memoryview(data)[len(magic) :]


def _head(head: struct.Struct, body: memoryview, what: str) -> tuple[Any, ...]:
    if len(body) < head.size:
        raise ManifestFormatError(f"truncated {what}")
    return head.unpack_from(body)


def _expect_length(body: memoryview, length: int, what: str) -> None:
    if len(body) != length:
        state = "truncated" if len(body) < length else "overlong"
        raise ManifestFormatError(f"{state} {what}: {len(body)} bytes, expected {length}")


def _records(record: struct.Struct, body: memoryview, start: int) -> Iterator[tuple[Any, ...]]:
    return record.iter_unpack(body[start:])


def _check_chunk(stored: int, raw: int, codec: int) -> None:
    if codec not in CODECS:
        raise ManifestFormatError(f"unknown chunk codec {codec}")
    if not 0 < raw <= CHUNK_MAX or not 0 < stored <= raw + STORED_SLACK:
        raise ManifestFormatError(f"chunk lengths out of range: {stored} stored, {raw} raw")


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """Where one file's manifest lies in a batch: bytes ``offset:offset+length``."""

    oid: str
    size: int
    offset: int
    length: int


def encode_batch(manifests: list[Manifest]) -> bytes:
    """Many manifests as one batch, ordered by oid (each oid once)."""
    unique = sorted({m.oid: m for m in manifests}.values(), key=lambda m: m.oid)
    if len(unique) > BATCH_MAX_ENTRIES:
        raise ValueError(f"a batch holds at most {BATCH_MAX_ENTRIES} manifests")
    bodies = [encode_manifest(m) for m in unique]
    table = [
        _BATCH_ENTRY.pack(bytes.fromhex(m.oid), m.size, len(body))
        for m, body in zip(unique, bodies, strict=True)
    ]
    return b"".join([BATCH_MAGIC, _BATCH_HEAD.pack(len(unique)), *table, *bodies])


def decode_batch(data: bytes) -> dict[str, BatchEntry]:
    """The table of a batch: oid → where its manifest lies in ``data``. Raises
    :class:`ManifestFormatError` unless the table is sound (:func:`check_batch`)."""
    entries = {}
    for raw_oid, size, offset, length in batch_records(data):
        oid = raw_oid.hex()
        entries[oid] = BatchEntry(oid, size, offset, length)
    return entries


def check_batch(data: bytes) -> None:
    """Raise :class:`ManifestFormatError` unless the oids of batch ``data`` ascend
    strictly, each manifest is no longer than one of its size can be, and they fill the
    rest of ``data`` exactly. The manifests themselves are checked when read
    (:func:`batch_manifest`)."""
    for _ in batch_records(data):
        pass


def batch_records(data: bytes) -> Iterator[tuple[bytes, int, int, int]]:
    """(raw oid, size, offset, length) of each manifest in batch ``data``, in order,
    made from the table without a dict of its own. Raises :class:`ManifestFormatError`
    where the table stops making sense, which may be after some records: call
    :func:`check_batch` first to know it whole."""
    body = _strip(data, BATCH_MAGIC, "manifest batch")
    (count,) = _head(_BATCH_HEAD, body, "manifest batch")
    if count > BATCH_MAX_ENTRIES:
        raise ManifestFormatError(f"manifest batch lists {count} files, more than "
                                  f"{BATCH_MAX_ENTRIES}")  # fmt: skip
    table_end = _BATCH_HEAD.size + count * _BATCH_ENTRY.size
    if len(body) < table_end:
        raise ManifestFormatError("truncated manifest batch")
    offset = len(BATCH_MAGIC) + table_end
    last = b""
    for raw_oid, size, length in _records(_BATCH_ENTRY, body[_BATCH_HEAD.size : table_end], 0):
        if raw_oid <= last:
            raise ManifestFormatError("manifest batch oids out of order")
        if not 0 < length <= max_manifest_size(size):
            raise ManifestFormatError(f"manifest batch entry of {length} bytes for a "
                                      f"{size}-byte object")  # fmt: skip
        last = raw_oid
        yield raw_oid, size, offset, length
        offset += length
    if offset != len(data):
        state = "truncated" if offset > len(data) else "overlong"
        raise ManifestFormatError(f"{state} manifest batch: {len(data)} bytes, expected {offset}")


def batch_entry(data: bytes, index: int, offset: int) -> BatchEntry:
    """Entry ``index`` of the table of batch ``data`` (one :func:`check_batch` accepted),
    whose manifest starts at ``offset``."""
    at = len(BATCH_MAGIC) + _BATCH_HEAD.size + index * _BATCH_ENTRY.size
    raw_oid, size, length = _BATCH_ENTRY.unpack_from(data, at)
    return BatchEntry(raw_oid.hex(), size, offset, length)


def batch_manifest(data: bytes, entry: BatchEntry) -> Manifest:
    """The manifest ``entry`` locates in batch ``data``, checked as any manifest is."""
    body = data[entry.offset : entry.offset + entry.length]
    return decode_manifest(body, entry.oid, entry.size)
