"""One copy on disk: worktree files that share the store's blocks, or its very file.

``model.worktreeCopy`` chooses how a large checkout (written by the post-checkout hook,
``materialize.py``) gets its bytes:

- ``auto`` (the default): a reflink where the file system makes them (XFS, btrfs:
  ``FICLONE``), so both files share blocks until one is written; else, for an object a
  model remote holds, the store's own file, *lent* to the worktree as a hard link; else a
  copy.
- ``reflink``: a reflink, or an error where the file system cannot make one.
- ``copy``: always a copy of its own.

A lent object is one inode under two names, so a program that rewrites the worktree
file in place (``open(path, "wb")``) rewrites the store's copy too. That is why only an
object a model remote holds is lent (``held/``), only to one path at a time (the object
must have no other link), and why each loan is recorded: ``lent/ab/<oid>`` holds
``gitmodel lent 1 SIZE DEV INODE MTIME_NS``, the file as lent. Writing, truncating or
appending moves the modification time, so an object whose file no longer matches its
record is taken for changed: the store drops its name for it (the worktree keeps the
file) and fetches the object again when it is next needed. The change time is not
recorded, because links made and removed (Git removing the worktree name on a switch)
move it too. What the record cannot see is a program that rewrites the file and then
sets its modification time back to the very nanosecond; every copy made of the object
still hashes it, and ``fsck`` hashes every object.

On XFS and btrfs ``git add`` leaves one copy too. A file of 32 MiB or more is stored as a
reflink of the worktree file, hashed there, with Git's stream compared to it
(``ObjectWriter.expect``). Once a smaller one is stored from Git's stream (hashed as it
came), the filter asks the kernel to let the object share the worktree file's blocks
(``FIDEDUPERANGE``), which the kernel does only where it finds the bytes the same, so a
file changed meanwhile keeps its own blocks.

``held/<sha256 of the model remote's URL, 24 hex>`` lists, one oid a line, the large
objects this store downloaded from that remote or pushed to it. Deleting it only means
the next checkouts copy.
"""

from __future__ import annotations

import contextlib
import errno
import os

from gitmodel.errors import UserError
from gitmodel.store import proven
from gitmodel.store.pack import PACK_MAX_OBJECT

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from gitmodel.pointer import Pointer

MODES = ("auto", "reflink", "copy")
MODE_KEY = "model.worktreeCopy"
HELD_DIR = "held"
LENT_DIR = "lent"
LENT_PREFIX = "gitmodel lent 1"
FICLONE = 0x40049409  # _IOW(0x94, 9, int), from linux/fs.h
# what a file system without reflinks (or a pair of files on two of them) answers
NO_REFLINK = frozenset({errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS})


def held_path(root: Path, remote_url: str) -> Path:
    import hashlib  # loaded here: the filter process starts without it

    key = hashlib.sha256(remote_url.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return root / HELD_DIR / key


def held(root: Path, remote_url: str) -> frozenset[str]:
    """The oids this store knows ``remote_url``'s model store holds."""
    try:
        text = held_path(root, remote_url).read_bytes().decode("ascii", "replace")
    except OSError:
        return frozenset()
    return frozenset(line for line in text.splitlines() if len(line) == 64)


def note_held(root: Path, remote_url: str, pointers: Iterable[Pointer]) -> None:
    """Add the objects of ``pointers`` that are large enough to have files of their own,
    which the model store at ``remote_url`` now holds. Best effort: a note that cannot
    be written only means those objects are copied, not lent."""
    lines = "".join(f"{p.oid}\n" for p in pointers if p.size > PACK_MAX_OBJECT)
    if not lines:
        return
    path = held_path(root, remote_url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644)  # fmt: skip
    except OSError:
        return
    try:
        os.write(fd, lines.encode("ascii"))  # one append: lines of writers never interleave
    except OSError:
        pass
    finally:
        os.close(fd)


def _lent_path(root: Path, oid: str) -> str:
    return f"{root}/{LENT_DIR}/{oid[:2]}/{oid}"


def _lent_stamp(size: int, dev: int, ino: int, mtime_ns: int) -> str:
    return f"{LENT_PREFIX} {size} {dev} {ino} {mtime_ns}"


def record_lent(root: Path, oid: str, st: os.stat_result, mtime_ns: int) -> bool:
    """Record that the object file whose status is ``st`` is about to be lent, its
    modification time set to ``mtime_ns`` already (a record of a time the file never
    had would make it look rewritten); False when the record cannot be written (then
    it must not be lent)."""
    stamp = _lent_stamp(st.st_size, st.st_dev, st.st_ino, mtime_ns)
    return proven.write_line(_lent_path(root, oid), stamp)


def lent_state(root: Path, oid: str, st: os.stat_result) -> bool | None:
    """None when ``oid`` was never lent; else whether its file, whose status is ``st``,
    still matches the loan's record (False: rewritten in the worktree)."""
    found = proven.read_line(_lent_path(root, oid))
    if found is None:
        return None
    return found == _lent_stamp(st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns).encode()


def forget_lent(root: Path, oid: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(_lent_path(root, oid))


def reflink(src_fd: int, dst_fd: int) -> bool:
    """Make ``dst_fd`` share ``src_fd``'s blocks (``FICLONE``); False where the file
    system cannot. Other errors (no space, I/O) are raised."""
    import fcntl

    try:
        fcntl.ioctl(dst_fd, FICLONE, src_fd)
    except OSError as exc:
        if exc.errno in NO_REFLINK:
            return False
        raise
    return True


def mode_of(settings: dict[str, str]) -> str:
    """``model.worktreeCopy``, checked: a value that is none of :data:`MODES` is a
    :class:`~gitmodel.errors.UserError` naming the key, never the default."""
    value = settings.get(MODE_KEY.lower(), "auto").strip().lower()
    if value not in MODES:
        raise UserError(f"{MODE_KEY} is {value[:40]!r}, not one of {', '.join(MODES)}",
                        hint=f"git config {MODE_KEY} auto")  # fmt: skip
    return value


FS_IOC_FIEMAP = 0xC020660B  # _IOWR('f', 11, struct fiemap)
_FIEMAP_HEADER = "=QQIIII"  # start, length, flags, mapped extents, extent count, reserved
_FIEMAP_EXTENT = "=QQQQQI12x"  # logical, physical, length, 2 reserved, flags, 3 reserved
_EXTENT_LAST, _EXTENT_SHARED = 0x1, 0x2000
_EXTENTS_PER_CALL = 128


def shared_bytes(fd: int) -> int:
    """How many of the file's bytes sit in extents it shares with another file (a
    reflink), by ``FS_IOC_FIEMAP``; 0 where the file system cannot say."""
    import fcntl
    import struct

    header = struct.calcsize(_FIEMAP_HEADER)
    extent = struct.calcsize(_FIEMAP_EXTENT)
    shared, start = 0, 0
    while True:
        buf = bytearray(header + extent * _EXTENTS_PER_CALL)
        struct.pack_into(_FIEMAP_HEADER, buf, 0, start, (1 << 64) - 1 - start, 0, 0,
                         _EXTENTS_PER_CALL, 0)  # fmt: skip
        try:
            fcntl.ioctl(fd, FS_IOC_FIEMAP, buf, True)
        except OSError:
            return shared
        mapped = struct.unpack_from(_FIEMAP_HEADER, buf, 0)[3]
        if mapped == 0:
            return shared
        for i in range(min(mapped, _EXTENTS_PER_CALL)):
            logical, _, length, _, _, flags = struct.unpack_from(_FIEMAP_EXTENT, buf,
                                                                 header + i * extent)  # fmt: skip
            if flags & _EXTENT_SHARED:
                shared += length
            if flags & _EXTENT_LAST:
                return shared
            start = logical + length


FIDEDUPERANGE = 0xC0189436  # _IOWR(0x94, 54, struct file_dedupe_range)
_DEDUPE_RANGE = "=QQHHI"  # source offset, length, destination count, 2 reserved
_DEDUPE_INFO = "=qQQiI"  # destination fd, its offset, bytes deduplicated, status, reserved
_DEDUPE_STEP = 16 << 20  # XFS shares at most 16 MiB a call
_DEDUPE_DIFFERS = 1  # FILE_DEDUPE_RANGE_DIFFERS


def dedupe(src_fd: int, dst_fd: int, size: int) -> bool | None:
    """Make ``dst_fd``'s first ``size`` bytes share ``src_fd``'s blocks, where the
    kernel finds the bytes the same; True when all of them now do, False when some
    differ (the rest is left as it is: still the same bytes), None where the file
    system cannot share blocks."""
    import fcntl
    import struct

    head = struct.calcsize(_DEDUPE_RANGE)
    offset = 0
    while offset < size:
        length = min(_DEDUPE_STEP, size - offset)
        buf = bytearray(head + struct.calcsize(_DEDUPE_INFO))
        struct.pack_into(_DEDUPE_RANGE, buf, 0, offset, length, 1, 0, 0)
        struct.pack_into(_DEDUPE_INFO, buf, head, dst_fd, offset, 0, 0, 0)
        try:
            fcntl.ioctl(src_fd, FIDEDUPERANGE, buf, True)
        except OSError as exc:
            if exc.errno in NO_REFLINK:
                return None
            raise
        _, _, done, status, _ = struct.unpack_from(_DEDUPE_INFO, buf, head)
        if status < 0:
            raise OSError(-status, os.strerror(-status))
        if status == _DEDUPE_DIFFERS or done == 0:
            return False
        offset += done
    return True
