"""The local content-addressed store, ``<git common dir>/model``.

Objects are whole files at ``objects/ab/cd/<oid>``, except small ones, which go
to packs (``pack.py``): a file costs more to create than a small object does to
write. A write is hashed while it streams, held in memory while it is small and
spilled into ``tmp/`` once it is not; it becomes visible (renamed into place,
or indexed in a pack) only once complete, so a crash never leaves a partial
object under a real name. Every read is checked against the oid; an object that
fails is moved to ``bad/``. A pointer whose size is not the stored object's is the
pointer's fault when the object's own bytes hash to its oid: it is refused
(:class:`~gitmodel.errors.PointerSizeError`) and the object is left alone, so a
hostile pointer cannot get a good object quarantined. Worktrees share the store
because it lives in the common git directory.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from stat import S_ISREG
from types import TracebackType

from gitmodel import safepath
from gitmodel.errors import ChecksumError, ObjectMissingError, PointerSizeError
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.store import onecopy, proven
from gitmodel.store.pack import PACK_MAX_OBJECT, Location, Packs, checksum, write_all
from gitmodel.trace import trace

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    import hashlib
    from typing import BinaryIO, NoReturn

    from gitmodel.safepath import Target
    from gitmodel.store.buffers import BufferPool
    from gitmodel.store.sink import Intake, Sink

CHUNK_SIZE = 1 << 20
# a local object whose bytes do not hash to its oid has been moved to bad/ (quarantine)
DAMAGED_HINT = (
    "the damaged copy was moved to .git/model/bad/: `git model fsck --repair` gets "
    "the object again from the model remote (one never pushed: `git add` the file "
    "again from a sound copy)"
)
EMPTY_OID = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of b""


def _sha256(data: bytes | bytearray | memoryview = b"") -> hashlib._Hash:
    """A new sha256. hashlib (OpenSSL) takes ~5 ms to load, so it is loaded on first
    use: a checkout of packed objects, verified by their xxh3 checksums, needs none."""
    import hashlib

    return hashlib.sha256(data)


class ObjectWriter:
    """Hashes bytes as they come: kept in memory while they would go to a pack,
    streamed into a temporary file once they outgrow it. From then on the threads of
    a :class:`~gitmodel.store.sink.Sink` hash and write, so the caller can already
    read the next chunk (from Git's pipe) while the last one is hashed and written.

    When the bytes likely come from a file on disk (``git add`` of a worktree file),
    :meth:`expect` has them copied ahead from it instead (an
    :class:`~gitmodel.store.sink.Intake`), and each write is only compared with the
    copy; at the first difference the writer goes on the ordinary way from the bytes
    that matched. Either way the object holds exactly the bytes written."""

    def __init__(self, store: LocalStore, pool: BufferPool | None = None) -> None:
        self._store, self._pool = store, pool
        self._buffer: bytearray | None = bytearray()
        self._fd = -1
        self._tmp_path = ""
        self._hash = _sha256()
        self._sink: Sink | None = None
        self._intake: Intake | None = None
        self.size = 0

    def expect(self, src_fd: int) -> None:
        """Have the bytes still to come copied ahead from the open file ``src_fd``
        (from its start: nothing may have been written yet), where it is large."""
        assert self.size == 0 and self._sink is None and self._intake is None
        size = os.fstat(src_fd).st_size
        if size <= PACK_MAX_OBJECT:
            return
        self._open_tmp()
        self._buffer = None
        from gitmodel.store.sink import Intake  # threads: for large objects only

        self._intake = Intake(src_fd, self._fd, size, self._hash)
        self._intake.start()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._intake is not None:
            if self._intake.matches(self.size, data):
                self.size += len(data)
                return
            self._diverge()
        self.size += len(data)
        if self._sink is not None:
            self._sink.put(data)
            return
        self._hash.update(data)
        assert self._buffer is not None
        self._buffer += data
        if self.size > PACK_MAX_OBJECT:
            self._spill()

    def _open_tmp(self) -> None:
        store = self._store
        try:
            fd, name = _mkstemp(dir=store.tmp_dir, prefix=f"{os.getpid()}-")
        except FileNotFoundError:
            store.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, name = _mkstemp(dir=store.tmp_dir, prefix=f"{os.getpid()}-")
        self._fd, self._tmp_path = fd, name

    def _spill(self) -> None:
        self._open_tmp()
        buffered, self._buffer = self._buffer, None
        write_all(self._fd, buffered or b"")
        self._start_sink()

    def _start_sink(self) -> None:
        from gitmodel.store.sink import Sink  # threads: for objects past the pack size only

        self._sink = Sink(self._fd, self._hash, self._pool)
        self._sink.start()

    def _diverge(self) -> None:
        """Leave the copy made ahead at the bytes written so far (they matched), hash
        them again, and go on the ordinary way: the rest is written as it comes."""
        assert self._intake is not None
        self._intake.stop()
        trace(f"object {self._tmp_path}: copied ahead, then differed at byte {self.size}")
        self._intake = None
        os.ftruncate(self._fd, self.size)
        self._hash = _sha256()
        done = 0
        buffer = bytearray(min(self.size, 4 * CHUNK_SIZE))
        view = memoryview(buffer)
        while done < self.size:
            n = os.preadv(self._fd, [view[: self.size - done]], done)
            if n == 0:
                raise OSError(errno.EIO, "a temporary object file shrank under us")
            self._hash.update(view[:n])
            done += n
        os.lseek(self._fd, self.size, os.SEEK_SET)
        self._start_sink()

    def _settle_intake(self) -> None:
        """End the copy made ahead: it is the object if it is all that was written."""
        assert self._intake is not None
        if not self._intake.holds(self.size):
            self._diverge()
            return
        if self._intake.reflinked:
            os.ftruncate(self._fd, self.size)  # a clone of a file that grew meanwhile
        trace(f"object {self._tmp_path}: the copy made ahead held all {self.size} bytes")
        self._intake = None

    def commit(self, expected: Pointer | None = None) -> Pointer:
        """Make the bytes visible in the store; check them against ``expected`` if given."""
        if self._intake is not None:
            try:
                self._settle_intake()
            except BaseException:
                self.abort()
                raise
        if self._sink is not None:
            try:
                self._sink.finish()
            except BaseException:
                self.abort()
                raise
        if self._buffer is None and self.size <= PACK_MAX_OBJECT:  # copied ahead, ended short
            self._buffer = bytearray(os.pread(self._fd, self.size, 0))
            self._close()
            os.unlink(self._tmp_path)
            self._tmp_path = ""
        pointer = Pointer(self._hash.hexdigest(), self.size)
        if expected is not None and pointer != expected:
            self.abort()
            if pointer.oid == expected.oid:  # the very object, so the size was wrong
                raise PointerSizeError(expected.oid, expected.size, pointer.size)
            raise ChecksumError(f"object {expected.oid}", expected.oid, pointer.oid)
        if self._buffer is not None:
            buffered, self._buffer = self._buffer, None
            if pointer.size and not self._store.has(pointer.oid, recheck_packs=False):
                self._store.packs.append(pointer.oid, buffered)
            return pointer
        os.fchmod(self._fd, 0o444)
        self._close()
        final = self._store.object_path(pointer.oid)
        if self._store.has_loose(pointer.oid):
            self.abort()
            return pointer
        onecopy.forget_lent(self._store.root, pointer.oid)  # a loan of a rewritten file
        try:
            os.rename(self._tmp_path, final)
        except FileNotFoundError:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self._tmp_path, final)
        proven.record(self._store.root, pointer.oid, os.stat(final))
        return pointer

    def abort(self) -> None:
        self._buffer = None
        if self._intake is not None:
            self._intake.stop()
            self._intake = None
        if self._sink is not None:
            self._sink.stop()
        self._close()
        if self._tmp_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp_path)

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()


class LocalStore:
    """Whole-file objects under ``root`` (normally ``<git common dir>/model``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self.tmp_dir = root / "tmp"
        self.bad_dir = root / "bad"
        self.packs = Packs(root / "packs")
        self._objects_prefix = f"{self.objects_dir}/"

    def object_path(self, oid: str) -> Path:
        """The path of ``oid``; refuses anything that is not a valid oid."""
        return Path(self._object_name(oid))

    def _object_name(self, oid: str) -> str:
        if not is_valid_oid(oid):
            raise ValueError(f"invalid oid {oid[:80]!r}")
        return f"{self._objects_prefix}{oid[0:2]}/{oid[2:4]}/{oid}"

    def has(self, oid: str, recheck_packs: bool = True) -> bool:
        """Whether ``oid`` is stored. ``recheck_packs`` re-reads the pack indexes on a
        miss, to see objects other processes packed since they were last read."""
        return (
            oid == EMPTY_OID
            or self.packs.find(oid, refresh=False) is not None
            or self.has_loose(oid)
            or (recheck_packs and self.packs.find(oid) is not None)
        )

    def lacking(self, pointers: Iterable[Pointer]) -> list[Pointer]:
        """The pointers whose objects are not stored, each once: the pack indexes are
        read again once for all of them (not once per missing object, as :meth:`has`
        would); none looked up in a store that holds nothing yet, a clone's (a lookup
        each cost a clone of 20,000 files 0.1 s before its first file)."""
        unique = {p.oid: p for p in pointers}
        if not self.holds_any():
            return [p for oid, p in unique.items() if oid != EMPTY_OID]
        self.packs.refresh()
        return [p for p in unique.values() if not self.has(p.oid, recheck_packs=False)]

    def add_small(
        self, objects: list[tuple[Pointer, bytes | bytearray | memoryview]]
    ) -> list[Pointer]:
        """Store small objects (at most :data:`PACK_MAX_OBJECT` bytes each) together, in
        one write of their bytes and one of their pack entries: each is hashed first, and
        one whose bytes are not its pointer's is left out. Returns the pointers stored."""
        good = [
            (pointer, data)
            for pointer, data in objects
            if 0 < len(data) == pointer.size <= PACK_MAX_OBJECT
            and _sha256(data).hexdigest() == pointer.oid
        ]
        fresh = [(p.oid, data) for p, data in good if not self.has(p.oid, recheck_packs=False)]
        self.packs.append_many(fresh)
        return [pointer for pointer, _ in good]

    def has_loose(self, oid: str) -> bool:
        """Whether ``oid`` is stored as a file of its own (an object lent to the worktree
        and rewritten there no longer is: see :mod:`gitmodel.store.onecopy`)."""
        name = self._object_name(oid)
        try:
            st = os.stat(name)
        except OSError:
            return False
        return S_ISREG(st.st_mode) and self._not_rewritten(oid, st)

    def _not_rewritten(self, oid: str, st: os.stat_result) -> bool:
        """False, after dropping the store's name for it, when the object file whose
        status is ``st`` was lent to the worktree and changed there since; the worktree
        keeps the file, and the object is fetched again when next needed (only objects
        a model remote holds are lent)."""
        if onecopy.lent_state(self.root, oid, st) is not False:
            return True
        trace(f"store: {oid} was lent to the worktree and rewritten there; dropped")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._object_name(oid))
        proven.forget(self.root, oid)
        onecopy.forget_lent(self.root, oid)
        return False

    def holds_any(self) -> bool:
        """Whether objects may be stored here: a folder of loose ones, or of packs, has
        anything in it (two listings at most; a folder a prune emptied still counts)."""
        for folder in (self.objects_dir, self.packs.root):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError), \
                    os.scandir(folder) as entries:  # fmt: skip
                if next(entries, None) is not None:
                    return True
        return False

    def oids(self) -> set[str]:
        """Every stored oid, loose or packed."""
        return set(self.packs.sizes()) | {path.name for path in self._loose()}

    def sizes(self) -> dict[str, int]:
        """Every stored object, loose or packed, and its size (from the pack indexes and
        one ``stat`` per loose object; nothing is read or verified)."""
        sizes = self.packs.sizes()
        for path in self._loose():
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                sizes[path.name] = path.stat().st_size
        return sizes

    def usage(self) -> tuple[int, int]:
        """How many objects the store holds, and their bytes."""
        sizes = self.sizes()
        return len(sizes), sum(sizes.values())

    def _loose(self) -> Iterator[Path]:
        for path in self.objects_dir.glob("??/??/*"):
            if is_valid_oid(path.name) and path.parent.parent.name == path.name[:2]:
                yield path

    def remove(self, oids: set[str]) -> None:
        """Delete objects (the caller has made sure they are safe to lose)."""
        for oid in oids:
            self.object_path(oid).unlink(missing_ok=True)
            proven.forget(self.root, oid)
            onecopy.forget_lent(self.root, oid)
        self.packs.rewrite(oids)

    def unfinished_writes(self) -> list[Path]:
        """The files in ``tmp/`` of writes whose process is gone (killed midway: ``kill
        -9``, a crash, a full disk): named ``<pid>-…`` for a process that no longer runs."""
        found = []
        for path in self.tmp_dir.iterdir() if self.tmp_dir.is_dir() else []:
            pid = path.name.split("-", 1)[0]
            if pid.isdigit() and path.is_file() and not _running(int(pid)):
                found.append(path)
        return sorted(found)

    def compact(self) -> tuple[int, int]:
        """Merge the packs of small objects into as few as possible (each ``git add``
        process writes its own); a packed object that fails its hash goes to ``bad/``
        instead. Returns (packs merged, objects quarantined)."""
        bad: list[str] = []

        def keep(oid: str, data: bytes) -> bool:
            if _sha256(data).hexdigest() == oid:
                return True
            self.bad_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(self.bad_dir / oid, [data], 0o444)
            bad.append(oid)
            return False

        return self.packs.compact(keep), len(bad)

    def open(self, oid: str) -> io.RawIOBase:
        """The stored bytes of ``oid`` as a seekable file, unverified (``read`` verifies).

        Raises :class:`FileNotFoundError` when the object is absent."""
        found = self._find(oid)
        return _PackedFile(self.packs, found) if isinstance(found, Location) else found

    def _find(self, oid: str) -> Location | io.FileIO:
        """Where ``oid`` is: in a pack (opened for reading), else its loose file, opened."""
        location = self.packs.open(oid, refresh=False)  # no failed open() first
        if location is not None:
            return location
        try:
            return self._open_loose(oid)
        except FileNotFoundError:
            location = self.packs.open(oid)
            if location is None:
                raise
            return location

    def _open_loose(self, oid: str) -> io.FileIO:
        """The object's own file, opened; :class:`FileNotFoundError` when there is none,
        or when it was lent and rewritten (see :meth:`has_loose`)."""
        f = open(self.object_path(oid), "rb", buffering=0)  # noqa: SIM115 (returned open)
        if not self._not_rewritten(oid, os.fstat(f.fileno())):
            f.close()
            raise FileNotFoundError(errno.ENOENT, "lent and rewritten", oid)
        return f

    def writer(self, pool: BufferPool | None = None) -> ObjectWriter:
        """A new object, written as it comes; chunks that are views of the buffer
        ``pool`` is filling are kept with their buffer instead of copied."""
        return ObjectWriter(self, pool)

    def read(
        self, pointer: Pointer, path: str | None = None, hint: str | None = None
    ) -> Iterator[memoryview]:
        """The object's bytes in chunks, verified at the end.

        Raises :class:`ObjectMissingError` at once when the object is absent, and
        :class:`PointerSizeError` when the pointer's size is not the object's. The
        chunks are views of one reused buffer: consume each before the next. On a
        mismatch the object is quarantined and :class:`ChecksumError` raised after
        the last chunk, so callers must not trust the bytes until then.
        """
        found = self._open_sized(pointer, path, hint)
        if found is None:
            return iter(())
        src = _PackedFile(self.packs, found) if isinstance(found, Location) else found
        return self._stream(src, pointer)

    def read_into(
        self,
        pointer: Pointer,
        views: list[memoryview],
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        """Read a whole object into ``views`` (as many bytes as the object has), verified.

        One ``preadv`` and no buffer of our own: the caller owns the memory, e.g. the
        packets of a smudge answer. Raises :class:`ObjectMissingError` when the object
        is absent and :class:`PointerSizeError` when the pointer's size is not the
        object's; on a mismatch, quarantines it and raises :class:`ChecksumError`
        (``views`` then hold bytes that must not be used)."""
        found = self._open_sized(pointer, path, hint)
        if found is None:
            return
        if isinstance(found, Location):
            got = self.packs.preadv(found, views)
        else:
            with found:
                got = os.preadv(found.fileno(), views, 0)
        complete = got == min(pointer.size, sum(len(view) for view in views))
        if (
            complete
            and isinstance(found, Location)
            and found.check
            and checksum(views) == found.check
        ):
            return  # the very bytes the writer hashed to this oid (see pack.py)
        digest = _sha256()
        for view in views:
            digest.update(view)
        self._check(pointer, digest.hexdigest(), pointer.size if complete else got, path)

    def _open_sized(
        self, pointer: Pointer, path: str | None, hint: str | None
    ) -> Location | io.FileIO | None:
        """The object of ``pointer``, opened, once its stored size is found to be the
        pointer's (None for the empty object, which is never stored).

        A size that differs is checked before anything is read (see :meth:`check_size`)."""
        if pointer.oid == EMPTY_OID and pointer.size == 0:
            return None
        try:
            found = self._find(pointer.oid)
        except FileNotFoundError:
            if pointer.oid == EMPTY_OID:
                raise PointerSizeError(pointer.oid, pointer.size, 0, path) from None
            raise ObjectMissingError(pointer.oid, path, hint) from None
        held = found.size if isinstance(found, Location) else os.fstat(found.fileno()).st_size
        if held != pointer.size:
            if isinstance(found, io.FileIO):
                found.close()
            self._refuse_size(pointer, held, path)
        return found

    def check_size(self, pointer: Pointer, path: str | None = None) -> None:
        """Refuse ``pointer`` when the object held under its oid has another size; a
        no-op when the object is absent. Costs a lookup (a hash only on a mismatch).

        Raises :class:`PointerSizeError` when the held object's own bytes hash to the
        oid (it is kept untouched), else quarantines it and raises :class:`ChecksumError`.
        """
        try:
            held = self.size(pointer.oid)
        except FileNotFoundError:
            return
        if held != pointer.size:
            self._refuse_size(pointer, held, path)

    def _refuse_size(self, pointer: Pointer, held: int, path: str | None) -> NoReturn:
        """A pointer and the object under its oid disagree on the size: whose fault it
        is depends on the object's own bytes, so they are hashed (of the size we hold)."""
        digest = EMPTY_OID if pointer.oid == EMPTY_OID else self.digest(pointer.oid)
        if digest != pointer.oid:
            self.quarantine(pointer.oid)
            raise ChecksumError(f"local object {pointer.oid}", pointer.oid, digest, DAMAGED_HINT)
        raise PointerSizeError(pointer.oid, pointer.size, held, path)

    def _stream(self, src: io.RawIOBase, pointer: Pointer) -> Iterator[memoryview]:
        digest = _sha256()
        size = 0
        buf = bytearray(min(CHUNK_SIZE, pointer.size + 1))
        view = memoryview(buf)
        with src:
            while n := src.readinto(buf):
                digest.update(view[:n])
                size += n
                yield view[:n]
        self._check(pointer, digest.hexdigest(), size)

    def copy_to(self, pointer: Pointer, dest: Target | Path, mode: int = 0o644,
                on_bytes: Callable[[int], None] | None = None) -> None:  # fmt: skip
        """Write the object to ``dest`` atomically, verified, never half-written.

        A :class:`~gitmodel.safepath.Target` (a worktree file) is written only through
        real directories under its root, never over a symlink. The kernel copies
        (``copy_file_range``) while this thread hashes the source, so a verified copy
        costs about as much as the copy alone; ``on_bytes`` is told of each block hashed.
        An object this store hashed on its way in, or on an earlier copy, and which is
        untouched since is only copied (see :mod:`gitmodel.store.proven`).
        """
        src_path = self.object_path(pointer.oid)
        if pointer.size <= PACK_MAX_OBJECT and not self.has_loose(pointer.oid):
            self._write_to(pointer, dest, mode)
            return

        def fill(out: BinaryIO) -> None:
            try:
                src = self._open_loose(pointer.oid)
            except FileNotFoundError:
                raise ObjectMissingError(pointer.oid) from None
            with src:
                if self._copy_proven(pointer, src.fileno(), out.fileno(), on_bytes):
                    return
                before = os.fstat(src.fileno())
                from gitmodel.store.sink import Copier

                copier = Copier(src.fileno(), out.fileno(), pointer.size)
                copier.start()
                digest, size = hash_file(src_path, on_bytes)
                copier.join()
                if copier.error is not None:
                    raise copier.error
            self._check(pointer, digest, size)
            after = os.stat(src_path)
            if proven.unchanged(before, after):  # the bytes just hashed are the file's
                proven.record(self.root, pointer.oid, after)

        # On ext4, renaming over an existing file forces the new file's blocks to be
        # allocated and flushed first (auto_da_alloc): 0.9 s for 2 GiB here. Removing
        # the old file first avoids that; if we die in between, the path is missing
        # (Git restores it), never half-written.
        safepath.write(dest, fill, mode & ~_umask(), unlink_first=True)

    def _copy_proven(self, pointer: Pointer, src_fd: int, dst_fd: int,
                     on_bytes: Callable[[int], None] | None) -> bool:  # fmt: skip
        """Copy a loose object without hashing it when its record proves it hashed to
        its oid on the way in and untouched since; False when there is no such proof,
        or the object changed during the copy (the caller then copies and hashes)."""
        before = os.fstat(src_fd)
        if before.st_size != pointer.size or not proven.holds(self.root, pointer.oid, before):
            return False
        from gitmodel.store.sink import copy_fd

        copy_fd(src_fd, dst_fd, pointer.size, on_bytes)
        return proven.holds(self.root, pointer.oid, os.fstat(src_fd))

    def clone_to(self, pointer: Pointer, dest: Target | Path, mode: int = 0o644) -> bool:
        """Write the object to ``dest`` as a reflink of its file (``FICLONE``): both
        share blocks until one is written, so the copy costs no space and no time.
        Atomic and verified as :meth:`copy_to` is (the clone is hashed unless the
        object's record proves it). False, with nothing written, where the file system
        cannot clone or the object has no file of its own; the caller copies instead."""
        try:
            src = self._open_loose(pointer.oid)
        except FileNotFoundError:
            return False
        with src:
            before = os.fstat(src.fileno())
            if before.st_size != pointer.size:
                return False  # copy_to says whose fault it is
            trusted = proven.holds(self.root, pointer.oid, before) or (
                onecopy.lent_state(self.root, pointer.oid, before) is True
            )

            def fill(out: BinaryIO) -> None:
                if not onecopy.reflink(src.fileno(), out.fileno()):
                    raise _NoReflink
                if not trusted:  # the clone holds what the object held: check it
                    digest, size = hash_fd(out.fileno())
                    self._check(pointer, digest, size)

            try:
                safepath.write(dest, fill, mode & ~_umask(), unlink_first=True)
            except _NoReflink:
                return False
        return True

    def lend_to(self, pointer: Pointer, dest: Target | Path, mode: int, mtime_ns: int) -> bool:
        """Make ``dest`` a second name of the object's own file (a hard link), its mode
        ``mode`` and modification time ``mtime_ns``, and record the loan (see
        :mod:`gitmodel.store.onecopy`): the caller makes sure a model remote holds the
        object. Verified first, unless a record proves it. False, with nothing written,
        when it cannot be lent: no file of its own, already lent (linked) elsewhere, or
        on another file system; the caller copies instead."""
        name = self._object_name(pointer.oid)
        try:
            st = os.stat(name)
        except FileNotFoundError:
            return False
        if not S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size != pointer.size:
            return False
        state = onecopy.lent_state(self.root, pointer.oid, st)
        if state is False:
            return self._not_rewritten(pointer.oid, st)  # dropped: False
        if state is None and not proven.holds(self.root, pointer.oid, st):
            digest, size = hash_file(Path(name))
            self._check(pointer, digest, size)
            if not proven.unchanged(st, os.stat(name)):
                return False
        # the file takes its new times before the record names them: killed in between,
        # a record of other times would make the store drop the object as rewritten
        onecopy.forget_lent(self.root, pointer.oid)
        os.chmod(name, mode & ~_umask())
        os.utime(name, ns=(st.st_atime_ns, mtime_ns))
        if not onecopy.record_lent(self.root, pointer.oid, st, mtime_ns):
            return False
        try:
            safepath.link(Path(name), dest)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                return False  # the record still matches the file: it stays true
            raise
        return True

    def share_blocks(self, pointer: Pointer, source: Target) -> bool | None:
        """Make the object's file share ``source``'s blocks where their bytes are the
        same (``FIDEDUPERANGE``: the kernel compares them, under its locks, so a file
        changed meanwhile is simply not shared). True when shared, False when not (a
        small or absent object, another file, bytes that differ), None where the file
        system cannot share blocks at all. The object's bytes never change."""
        if pointer.size <= PACK_MAX_OBJECT:
            return False
        src = safepath.open_file(source)
        if src is None:
            return False
        with src:
            try:
                obj = self._open_loose(pointer.oid)
            except FileNotFoundError:
                return False
            with obj:
                if os.fstat(src.fileno()).st_size != pointer.size:
                    return False
                return onecopy.dedupe(src.fileno(), obj.fileno(), pointer.size)

    def _write_to(self, pointer: Pointer, dest: Target | Path, mode: int) -> None:
        """``copy_to`` for a packed object: small, so simply streamed."""
        write_atomically(dest, self.read(pointer), mode & ~_umask())

    def quarantine(self, oid: str) -> Path | None:
        """Move a corrupt object to ``bad/``; returns where it went."""
        src = self.object_path(oid)
        dest = self.bad_dir / oid
        if src.exists():
            self.bad_dir.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            proven.forget(self.root, oid)
            onecopy.forget_lent(self.root, oid)
            return dest
        location = self.packs.find(oid, refresh=False)
        if location is None:
            return None
        self.bad_dir.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.packs.pread(location, location.size, 0))
        self.packs.rewrite({oid})
        return dest

    def digest(self, oid: str) -> str:
        """The sha256 of the stored bytes of ``oid`` (what it should be named)."""
        digest = _sha256()
        with self.open(oid) as src:
            while chunk := src.read(CHUNK_SIZE * 4):
                digest.update(chunk)
        return digest.hexdigest()

    def size(self, oid: str) -> int:
        """The stored object's size in bytes (0 for the empty object).

        Raises :class:`FileNotFoundError` when the object is absent."""
        if oid == EMPTY_OID:
            return 0
        location = self.packs.find(oid, refresh=False)
        if location is not None:
            return location.size
        try:
            return os.stat(self._object_name(oid)).st_size
        except FileNotFoundError:
            location = self.packs.find(oid)  # packed by another process meanwhile?
            if location is None:
                raise
            return location.size

    def _check(
        self, pointer: Pointer, actual_oid: str, actual_size: int, path: str | None = None
    ) -> None:
        """Judge the bytes read for ``pointer``: the whole stored object, hashing to
        ``actual_oid``. Only bytes that do not hash to the oid quarantine the object;
        the right bytes of another size mean the pointer is wrong."""
        if actual_oid != pointer.oid:
            self.quarantine(pointer.oid)
            raise ChecksumError(f"local object {pointer.oid}", pointer.oid, actual_oid,
                                DAMAGED_HINT)  # fmt: skip
        if actual_size != pointer.size:
            raise PointerSizeError(pointer.oid, pointer.size, actual_size, path)


def hash_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> tuple[str, int]:
    """The sha256 (hex) and size of a file, read in 4 MiB blocks (each told to ``on_bytes``)."""
    with open(path, "rb", buffering=0) as f:
        return hash_fd(f.fileno(), on_bytes)


def hash_fd(fd: int, on_bytes: Callable[[int], None] | None = None) -> tuple[str, int]:
    """The sha256 (hex) and size of an open file, read from its start with ``pread`` in
    4 MiB blocks (each told to ``on_bytes``)."""
    digest = _sha256()
    size = 0
    buf = bytearray(CHUNK_SIZE * 4)
    view = memoryview(buf)
    while n := os.preadv(fd, [buf], size):
        digest.update(view[:n])
        size += n
        if on_bytes is not None:
            on_bytes(n)
    return digest.hexdigest(), size


class _NoReflink(Exception):
    """The file system cannot clone: abandon the temporary file, copy instead."""


def write_atomically(
    dest: Target | Path, chunks: Iterable[bytes | bytearray | memoryview], mode: int = 0o644
) -> None:
    """Write ``dest`` through a temporary file beside it, renamed into place only when
    complete: readers see the old file or the whole new one, never part of it. A
    :class:`~gitmodel.safepath.Target` is written as :func:`gitmodel.safepath.write` says."""

    def fill(out: BinaryIO) -> None:
        for chunk in chunks:
            out.write(chunk)

    safepath.write(dest, fill, mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def import_object(dest: LocalStore, src: LocalStore, pointer: Pointer) -> bool:
    """Copy an object from another local store (e.g. a local clone's origin), verified
    by the writer; False when that store does not have it, or not intact.

    The other store is read-only to us: a bad object there stays put. One of another
    size whose bytes hash to the oid proves the pointer wrong
    (:class:`PointerSizeError`); at most the pointer's size is ever read."""
    if dest.has(pointer.oid):
        return True
    try:
        held = src.size(pointer.oid)
    except FileNotFoundError:
        return False
    if held != pointer.size:
        if src.digest(pointer.oid) == pointer.oid:
            raise PointerSizeError(pointer.oid, pointer.size, held)
        return False
    with dest.writer() as writer, src.open(pointer.oid) as f:
        left = pointer.size
        while left and (chunk := f.read(min(CHUNK_SIZE, left))):
            writer.write(chunk)
            left -= len(chunk)
        writer.commit(pointer)
    return True


class _PackedFile(io.RawIOBase):
    """A read-only, seekable view of one packed object."""

    def __init__(self, packs: Packs, location: Location) -> None:
        self._packs, self._location, self._pos = packs, location, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._location.size:
            return 0
        n = self._packs.preadinto(self._location, memoryview(buffer), self._pos)
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._location.size}
        self._pos = max(0, base[whence] + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's, or no pid at all: not ours to judge
    return True


def _mkstemp(dir: Path, prefix: str, suffix: str = "") -> tuple[int, str]:
    import tempfile  # loaded for large objects only: small ones go to packs

    return tempfile.mkstemp(dir=dir, prefix=prefix, suffix=suffix)
