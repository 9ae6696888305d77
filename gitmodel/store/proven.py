"""Records of loose objects this store hashed, so that a checkout may copy one without
hashing it again.

``<store>/proven/ab/<oid>`` holds one line, ``gitmodel proven 1 SIZE DEV INODE
MTIME_NS CTIME_NS``: the object file as it stood once its bytes had hashed to its oid,
either right after the writer renamed it into place, read-only, or after a checkout
hashed it and found it unchanged meanwhile. Nothing else makes a record. A record
holds while the file still has all five values: rewriting the file (even a ``chmod``)
moves its change time, which no unprivileged process can set back, and a file put in
its place has another inode or times. What a record cannot see is the disk changing
bytes under the file system: ``fsck`` hashes every object and never reads these
records. A missing or unreadable record only costs a hash. The store is trusted as
the rest of ``.git`` is (see ``SECURITY.md``): whoever can write here can forge a
record, as they could write a hook.
"""

from __future__ import annotations

import contextlib
import os

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    from pathlib import Path

PROVEN_DIR = "proven"
RECORD_PREFIX = "gitmodel proven 1"
_RECORD_MAX = 200  # bytes: a record is one short line


def _stamp(st: os.stat_result) -> str:
    return f"{RECORD_PREFIX} {st.st_size} {st.st_dev} {st.st_ino} {st.st_mtime_ns} {st.st_ctime_ns}"


def _record_path(root: Path, oid: str) -> str:
    return f"{root}/{PROVEN_DIR}/{oid[:2]}/{oid}"


def record(root: Path, oid: str, st: os.stat_result) -> None:
    """Note the loose object ``oid`` whose file's status is ``st``: the caller has
    hashed its bytes to ``oid`` and the file has not changed since (it was renamed
    into place after the hash, or ``st`` is as it was before hashing). Best effort: a
    record that cannot be written only means the next checkout hashes the object."""
    if not write_line(_record_path(root, oid), _stamp(st)):
        forget(root, oid)


def write_line(path: str, stamp: str) -> bool:
    """Write a one-line record at ``path`` (its directory made), never through a
    symlink; False when it cannot be written."""
    try:
        _write(path, stamp)
    except FileNotFoundError:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _write(path, stamp)
        except OSError:
            return False
    except OSError:
        return False
    return True


def read_line(path: str) -> bytes | None:
    """A record written by :func:`write_line`; None when it is missing, unreadable or
    empty (its writer killed between creating the file and writing the line: a record
    of nothing, never one that fails to match)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, _RECORD_MAX) or None
    except OSError:
        return None
    finally:
        os.close(fd)


def _write(path: str, stamp: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, stamp.encode())
    finally:
        os.close(fd)


def holds(root: Path, oid: str, st: os.stat_result) -> bool:
    """Whether the object file whose status is ``st`` is, by its record, untouched
    since this store hashed its bytes to ``oid``."""
    return read_line(_record_path(root, oid)) == _stamp(st).encode()


def unchanged(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether two statuses of a file show nothing changed it in between."""
    return _stamp(before) == _stamp(after)


def forget(root: Path, oid: str) -> None:
    """Drop the record of ``oid`` (its object is removed or quarantined)."""
    with contextlib.suppress(OSError):
        os.unlink(_record_path(root, oid))
