"""Git's index file (``Documentation/gitformat-index.txt``): find entries, patch stat data.

Used after writing large files straight into the worktree, so that Git sees
them as clean without reading them back through the filter. Only the cached
stat data of existing entries changes; everything else is copied byte for
byte and the trailing checksum recomputed. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass

from gitmodel.errors import GitModelError

_HEADER = struct.Struct(">4sII")
_STAT = struct.Struct(">10I")  # ctime s/ns, mtime s/ns, dev, ino, mode, uid, gid, size
_EXTENDED_FLAG = 0x4000
_NAME_MASK = 0x0FFF
_U32 = 0xFFFFFFFF


class IndexFormatError(GitModelError):
    """An index this module cannot safely rewrite."""


@dataclass(frozen=True)
class Entry:
    path: bytes
    offset: int  # where the entry (its stat data) starts
    oid: bytes
    stat: tuple[int, ...]


def parse_entries(data: bytes, hash_size: int) -> dict[bytes, Entry]:
    """Stage-0 entries by path. Raises for split indexes and unknown versions."""
    if len(data) < _HEADER.size + hash_size:
        raise IndexFormatError("index file is truncated")
    signature, version, count = _HEADER.unpack_from(data)
    if signature != b"DIRC" or version not in (2, 3, 4):
        raise IndexFormatError(f"unsupported index version {version}")
    _check_checksum(data, hash_size)
    entries: dict[bytes, Entry] = {}
    pos = _HEADER.size
    previous = b""
    flags_at = _STAT.size + hash_size
    for _ in range(count):
        start = pos
        (flags,) = struct.unpack_from(">H", data, start + flags_at)
        pos = start + flags_at + 2
        if version >= 3 and flags & _EXTENDED_FLAG:
            pos += 2
        if version == 4:
            strip, pos = _read_varint(data, pos)
            end = data.index(b"\0", pos)
            if strip > len(previous):
                raise IndexFormatError("corrupt index path compression")
            path = previous[: len(previous) - strip] + data[pos:end]
            pos = end + 1
        else:
            end = data.index(b"\0", pos)
            path = data[pos:end]
            pos = start + ((pos - start + len(path) + 8) & ~7)
        if (flags >> 12) & 3 == 0:  # stage 0 only
            oid = data[start + _STAT.size : start + flags_at]
            entries[path] = Entry(path, start, oid, _STAT.unpack_from(data, start))
        previous = path
    if _has_extension(data, pos, hash_size, b"link"):
        raise IndexFormatError("split index")
    return entries


def stat_fields(st: os.stat_result, mode: int) -> tuple[int, ...]:
    """The ten cached stat fields Git records for a file, truncated as Git does."""
    return (
        int(st.st_ctime) & _U32,
        st.st_ctime_ns % 1_000_000_000,
        int(st.st_mtime) & _U32,
        st.st_mtime_ns % 1_000_000_000,
        st.st_dev & _U32,
        st.st_ino & _U32,
        mode,
        st.st_uid & _U32,
        st.st_gid & _U32,
        st.st_size & _U32,
    )


def patch_stats(data: bytes, updates: dict[int, tuple[int, ...]], hash_size: int) -> bytes:
    """A copy of the index with new stat data at the given entry offsets."""
    out = bytearray(data[:-hash_size])
    for offset, fields in updates.items():
        _STAT.pack_into(out, offset, *fields)
    out += _digest(hash_size, out)
    return bytes(out)


def _digest(hash_size: int, data: bytes | bytearray) -> bytes:
    algorithm = hashlib.sha256 if hash_size == 32 else hashlib.sha1
    return algorithm(data).digest()


def _check_checksum(data: bytes, hash_size: int) -> None:
    trailer = data[-hash_size:]
    if trailer != b"\0" * hash_size and trailer != _digest(hash_size, data[:-hash_size]):
        raise IndexFormatError("index checksum mismatch")


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    pos += 1
    value = byte & 0x7F
    while byte & 0x80:
        value += 1
        byte = data[pos]
        pos += 1
        value = (value << 7) + (byte & 0x7F)
    return value, pos


def _has_extension(data: bytes, pos: int, hash_size: int, name: bytes) -> bool:
    end = len(data) - hash_size
    while pos + 8 <= end:
        signature = data[pos : pos + 4]
        (size,) = struct.unpack_from(">I", data, pos + 4)
        if signature == name:
            return True
        pos += 8 + size
    return False


def blob_id(data: bytes, hash_size: int) -> bytes:
    """The binary Git object id of a blob with these contents."""
    return _digest(hash_size, b"blob %d\0" % len(data) + data)
